package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
)

// The attendance export is mounted and checks its token.
func TestAttendanceEndpoint(t *testing.T) {
	srv := startTestServer(t, nil)
	url := srv.URL() + "/api/rooms/physics/attendance.csv"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", resp.StatusCode)
	}
	tok, _ := srv.tokens.Mint(auth.Grant{Room: "physics", Identity: "prof", Role: rooms.RoleInstructor}, time.Hour)
	resp, err = http.Get(url + "?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "identity,name,role,room,joined_at,left_at,duration_seconds\n") {
		t.Fatalf("with an instructor's token: %d %q", resp.StatusCode, b)
	}
}
