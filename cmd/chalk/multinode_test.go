package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
)

// Two real `chalk serve` processes sharing one real redis-server: participants connected to
// different processes must see the same classroom state — membership, chat, hands, polls and
// breakouts — carried between nodes by Redis only.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// chalkBinary builds cmd/chalk once per test run.
func chalkBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chalk-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "chalk")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one chalk serve child process.
type node struct {
	name string
	base string // http://127.0.0.1:port
}

func startNode(t *testing.T, name, redisURL string) *node {
	t.Helper()
	port := freeTCPPort(t)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(chalkBinary(t), "serve",
		"-listen", "127.0.0.1:"+strconv.Itoa(port), "-media-port", "0", "-media-tcp-port", "-1",
		"-media-bind", "127.0.0.1", "-redis", redisURL, "-token-secret", testSecret,
		"-node-id", name, "-storage", t.TempDir(), "-dev", "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	n := &node{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(n.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited during start-up:\n%s", name, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 20 s: %v", name, err)
		}
	}
}

// wsPeer is a signaling-only participant (no media) reading every server message in order.
type wsPeer struct {
	t      *testing.T
	c      *websocket.Conn
	id     string
	frames chan wsFrame
}

type wsFrame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func dialPeer(t *testing.T, n *node, join map[string]string) (*wsPeer, json.RawMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+n.base[len("http"):]+"/ws", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	p := &wsPeer{t: t, c: c, frames: make(chan wsFrame, 256)}
	go func() {
		defer close(p.frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f wsFrame
			if json.Unmarshal(b, &f) == nil {
				p.frames <- f
			}
		}
	}()
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	p.send("join", join)
	joined := p.expect("joined")
	var j struct {
		Participant rooms.Participant `json:"participant"`
	}
	if err := json.Unmarshal(joined, &j); err != nil {
		t.Fatal(err)
	}
	p.id = j.Participant.ID
	return p, joined
}

func (p *wsPeer) send(typ string, data any) {
	p.t.Helper()
	b, _ := json.Marshal(map[string]any{"v": 1, "type": typ, "data": data})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.c.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("write %s: %v", typ, err)
	}
}

// expect skips other messages until one of type typ arrives; an error message fails the test.
func (p *wsPeer) expect(typ string) json.RawMessage {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				p.t.Fatalf("socket closed while waiting for %s", typ)
			}
			if f.Type == typ {
				return f.Data
			}
			if f.Type == "error" {
				p.t.Fatalf("error while waiting for %s: %s", typ, f.Data)
			}
		case <-timeout:
			p.t.Fatalf("no %s within 10 s", typ)
		}
	}
}

func TestTwoNodesShareClassroomState(t *testing.T) {
	redisURL := redistest.Start(t)
	a := startNode(t, "node-a", redisURL)
	b := startNode(t, "node-b", redisURL)

	issuer, err := auth.NewIssuer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := issuer.Mint(auth.Grant{Room: "bio", Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof, _ := dialPeer(t, a, map[string]string{"room": "bio", "token": tok})
	ada, joined := dialPeer(t, b, map[string]string{"room": "bio", "name": "Ada"})
	var j struct {
		Participant  rooms.Participant   `json:"participant"`
		Participants []rooms.Participant `json:"participants"`
	}
	json.Unmarshal(joined, &j)
	adaIdentity := j.Participant.Identity
	if len(j.Participants) != 2 {
		t.Fatalf("Ada on node B sees %d participants, want 2 (Prof is on node A)", len(j.Participants))
	}
	prof.expect("participant_joined")

	// Chat crosses nodes both ways, in one order, with the same ids.
	ada.send("chat", map[string]string{"text": "hello from node B"})
	prof.send("chat", map[string]string{"text": "welcome, from node A"})
	read := func(p *wsPeer) []string {
		var texts []string
		for range 2 {
			var m struct {
				Message rooms.ChatMessage `json:"message"`
			}
			json.Unmarshal(p.expect("chat"), &m)
			texts = append(texts, m.Message.ID+" "+m.Message.Text)
		}
		return texts
	}
	atProf, atAda := read(prof), read(ada)
	if fmt.Sprint(atProf) != fmt.Sprint(atAda) {
		t.Fatalf("nodes disagree on chat order: A %v, B %v", atProf, atAda)
	}

	// A raised hand on node B shows at the instructor on node A; lowering on A reaches B.
	ada.send("raise_hand", nil)
	var h struct {
		ParticipantID string `json:"participantId"`
		By            string `json:"by"`
	}
	json.Unmarshal(prof.expect("hand_raised"), &h)
	if h.ParticipantID != ada.id {
		t.Fatalf("hand_raised for %q, want Ada %q", h.ParticipantID, ada.id)
	}
	prof.send("lower_hand", map[string]string{"participantId": ada.id})
	json.Unmarshal(ada.expect("hand_lowered"), &h)
	if h.ParticipantID != ada.id || h.By != prof.id {
		t.Fatalf("hand_lowered = %+v", h)
	}

	// A late joiner on node A gets the history written through node B.
	_, late := dialPeer(t, a, map[string]string{"room": "bio", "name": "Late"})
	var lj struct {
		Chat []rooms.ChatMessage `json:"chat"`
	}
	json.Unmarshal(late, &lj)
	if len(lj.Chat) != 2 {
		t.Fatalf("late joiner's history has %d messages, want 2", len(lj.Chat))
	}

	// A poll created on node A is voted on through node B; the count is exact on both.
	prof.send("poll_create", map[string]any{"question": "Ready for the quiz?", "options": []string{"Yes", "No"}})
	var created struct {
		Poll struct {
			ID string `json:"id"`
		} `json:"poll"`
	}
	json.Unmarshal(ada.expect("poll_created"), &created)
	ada.send("poll_vote", map[string]any{"pollId": created.Poll.ID, "choices": []int{0}})
	ada.expect("poll_voted")
	var results struct {
		PollID  string `json:"pollId"`
		Results struct {
			Counts []int `json:"counts"`
		} `json:"results"`
	}
	json.Unmarshal(prof.expect("poll_results"), &results)
	if results.PollID != created.Poll.ID || fmt.Sprint(results.Results.Counts) != "[1 0]" {
		t.Fatalf("poll_results on node A = %+v, want [1 0] for %s", results, created.Poll.ID)
	}
	prof.send("poll_close", map[string]string{"pollId": created.Poll.ID})
	var closed struct {
		Poll struct {
			Closed  bool `json:"closed"`
			Results struct {
				Counts []int `json:"counts"`
			} `json:"results"`
		} `json:"poll"`
	}
	json.Unmarshal(ada.expect("poll_closed"), &closed)
	if !closed.Poll.Closed || fmt.Sprint(closed.Poll.Results.Counts) != "[1 0]" {
		t.Fatalf("poll_closed on node B = %+v", closed.Poll)
	}

	// Breakouts opened on node A move Ada on node B into hers, and closing brings her back.
	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{adaIdentity: 2}})
	var moved struct {
		Room string `json:"room"`
	}
	json.Unmarshal(ada.expect("moved"), &moved)
	if moved.Room != "bio.b2" {
		t.Fatalf("Ada moved to %q, want bio.b2", moved.Room)
	}
	prof.send("breakouts_close", map[string]any{})
	json.Unmarshal(ada.expect("moved"), &moved)
	if moved.Room != "bio" {
		t.Fatalf("after close Ada is in %q, want the main room", moved.Room)
	}

	// Leaving through node B is seen on node A.
	ada.send("leave", nil)
	var left struct {
		ParticipantID string `json:"participantId"`
	}
	json.Unmarshal(prof.expect("participant_left"), &left)
	if left.ParticipantID != ada.id {
		t.Fatalf("participant_left for %q, want Ada", left.ParticipantID)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}
