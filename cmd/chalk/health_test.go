package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestHealthCommand(t *testing.T) {
	srv := startTestServer(t, nil)
	var out, errb bytes.Buffer
	if code := run([]string{"health", "-listen", srv.ln.Addr().String()}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"status":"ok"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"health", "-listen", fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "/healthz") {
		t.Fatalf("a node that is down: exit %d, stderr %q", code, errb.String())
	}
}
