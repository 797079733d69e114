package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Strict YAML: every document is decoded into a typed subset of its schema (Kubernetes objects,
// compose, Prometheus) with unknown fields rejected, so a misspelt or misplaced key fails here
// instead of being silently ignored by the cluster. k8s.io/api would bring the real types but also
// ~40 modules (apimachinery, klog, protobuf) for a test; the subset covers exactly what the files
// use, and a field the files start using must be added to it, which is the point.

// documents splits a YAML stream into its documents, re-encoded one by one for strictYAML (a
// yaml.Node cannot be decoded with KnownFields itself).
func documents(t *testing.T, file string) [][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs [][]byte
	for i := 0; i < 100; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: document %d: %v", file, i+1, err)
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	t.Fatalf("%s: more than 100 documents", file)
	return nil
}

func strictYAML(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func strictYAMLFile(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := strictYAML(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

var chalkEnvRE = regexp.MustCompile(`^CHALK_[A-Z0-9_]+$`)

// serverEnv is every CHALK_* variable cmd/chalk reads: the string literals of its non-test sources.
func serverEnv(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../cmd/chalk/*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && chalkEnvRE.MatchString(s) {
					names[s] = true
				}
			}
			return true
		})
	}
	for _, must := range []string{"CHALK_LISTEN", "CHALK_TOKEN_SECRET", "CHALK_TURN_TCP_PORT"} {
		if !names[must] { // the scan itself works
			t.Fatalf("cmd/chalk does not seem to read %s: found %v", must, names)
		}
	}
	return names
}

func checkEnvNames(t *testing.T, where string, names []string) {
	t.Helper()
	known := serverEnv(t)
	for _, n := range names {
		if strings.HasPrefix(n, "CHALK_") && !known[n] {
			t.Errorf("%s sets %s, which cmd/chalk does not read", where, n)
		}
	}
}

// dockerfile is the parsed deploy/Dockerfile: instructions in order, continuation lines joined.
type instruction struct{ cmd, args string }

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

var goBuildRE = regexp.MustCompile(`go build .*-o (\S+) (\./\S+)`)

// The Dockerfile builds cmd/chalk in a build stage and runs it in a second, non-root stage that
// has ffmpeg and a health check through `chalk health`.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t)
	var stages []string
	var built, pkg, user string
	var copied, ffmpeg, health, entry bool
	exposed := map[string]bool{}
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			f := strings.Fields(in.args)
			name := f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			stages = append(stages, name)
		case "RUN":
			if m := goBuildRE.FindStringSubmatch(in.args); m != nil && len(stages) == 1 {
				built, pkg = m[1], m[2]
			}
			if len(stages) == 2 && strings.Contains(in.args, "apt-get install") && strings.Contains(in.args, " ffmpeg") {
				ffmpeg = true
			}
		case "COPY":
			if strings.HasPrefix(in.args, "--from="+stages[0]+" "+built+" ") && len(stages) == 2 {
				copied = true
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				exposed[p] = true
			}
		case "HEALTHCHECK":
			health = strings.Contains(in.args, `CMD ["chalk", "health"]`)
		case "ENTRYPOINT":
			entry = in.args == `["chalk"]`
		}
	}
	if len(stages) != 2 || stages[0] != "build" {
		t.Fatalf("stages %v: want a build stage and a runtime stage", stages)
	}
	if pkg != "./cmd/chalk" {
		t.Fatalf("the build stage builds %q, want ./cmd/chalk", pkg)
	}
	af, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", pkg, "main.go"), nil, parser.PackageClauseOnly)
	if err != nil || af.Name.Name != "main" {
		t.Fatalf("%s is not a main package: %v", pkg, err)
	}
	if !copied {
		t.Errorf("the runtime stage does not copy %s from the build stage", built)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: the image must not run as root", user)
	}
	if !ffmpeg || !health || !entry {
		t.Errorf("runtime stage: ffmpeg installed %v, HEALTHCHECK via chalk health %v, ENTRYPOINT chalk %v", ffmpeg, health, entry)
	}
	for _, p := range []string{"8080/tcp", "7882/udp", "7881/tcp", "3478/udp", "3478/tcp"} {
		if !exposed[p] {
			t.Errorf("EXPOSE lacks %s", p)
		}
	}
}

// .dockerignore keeps out the repository's weight but nothing `go build ./cmd/chalk` reads.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	needed := []string{"go.mod", "go.sum", "cmd/chalk/main.go", "web/static/app.js", "web/templates", "turnserver/server.go", "recorder/mediatest/mediatest.go"}
	for _, n := range needed {
		for _, p := range patterns {
			if ignores(p, n) {
				t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, n)
			}
		}
	}
	for _, n := range []string{".git", "cmd/chalk/main_test.go", "docs", "chalk"} {
		if !slices.ContainsFunc(patterns, func(p string) bool { return ignores(p, n) }) {
			t.Errorf(".dockerignore lets %s into the build context", n)
		}
	}
}

// ignores is Docker's matching for the patterns used: path.Match on the path or any of its parent
// directories, with a leading "**/" matching in any directory.
func ignores(pattern, name string) bool {
	any := strings.HasPrefix(pattern, "**/")
	pattern = strings.TrimPrefix(pattern, "**/")
	parts := strings.Split(name, "/")
	for i := range parts {
		for j := i + 1; j <= len(parts); j++ {
			if !any && i > 0 {
				continue
			}
			if ok, _ := path.Match(pattern, strings.Join(parts[i:j], "/")); ok {
				return true
			}
		}
	}
	return false
}
