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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/rooms/redistest"
	"github.com/chalk-edu/chalk/signaling"
)

// Real `chalk serve` processes sharing one real redis-server. Participants may connect through any
// node; the one that does not serve their room redirects them (cluster_test.go has the placement,
// failure and drain tests). The classroom state — membership, chat, hands, polls and breakouts —
// is carried between nodes by Redis only.

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
	name   string
	base   string // http://127.0.0.1:port
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
}

func startNode(t *testing.T, name, redisURL string, extra ...string) *node {
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
	cmd.Args = append(cmd.Args, extra...)
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
	n := &node{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, exited: exited}
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

// wsPeer is a signaling-only participant (no media) reading every server message in order. It
// follows redirects to the node that serves its room, joining there with the same name, token
// and identity, as the web client does.
type wsPeer struct {
	t         *testing.T
	c         *websocket.Conn
	id        string
	frames    chan wsFrame
	join      map[string]any
	base      string // the node it is connected to
	redirects []string
}

type wsFrame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func dialPeer(t *testing.T, n *node, join map[string]string) (*wsPeer, json.RawMessage) {
	t.Helper()
	p := &wsPeer{t: t, join: map[string]any{}}
	for k, v := range join {
		p.join[k] = v
	}
	p.connect(n.base)
	return p, p.expect("joined")
}

// connect opens a socket to the node at base and sends the join.
func (p *wsPeer) connect(base string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+base[len("http"):]+"/ws", nil)
	if err != nil {
		p.t.Fatalf("dial %s: %v", base, err)
	}
	frames := make(chan wsFrame, 256)
	go func() {
		defer close(frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f wsFrame
			if json.Unmarshal(b, &f) == nil {
				frames <- f
			}
		}
	}()
	p.t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	p.c, p.frames, p.base = c, frames, base
	p.send("join", p.join)
}

// joined notes who we are from a joined message; a dev-mode guest keeps its identity on rejoins.
func (p *wsPeer) joined(data json.RawMessage) {
	var j struct {
		Participant rooms.Participant `json:"participant"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		p.t.Fatal(err)
	}
	p.id = j.Participant.ID
	if tok, _ := p.join["token"].(string); tok == "" {
		p.join["identity"] = strings.TrimPrefix(j.Participant.Identity, "guest-")
	}
}

// follow joins again at the node a redirect names.
func (p *wsPeer) follow(data json.RawMessage) {
	p.t.Helper()
	var r struct {
		URL, Room, Reason string
		Visit             int
	}
	json.Unmarshal(data, &r)
	if len(p.redirects) > 10 {
		p.t.Fatalf("redirected more than 10 times: %v", p.redirects)
	}
	p.redirects = append(p.redirects, r.Reason+" "+r.URL)
	p.join["room"] = r.Room
	if r.Visit > 0 {
		p.join["visit"] = r.Visit
	} else {
		delete(p.join, "visit")
	}
	p.c.CloseNow()
	p.connect(r.URL)
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
	return p.expectAny(typ)
}

// expectAny skips other messages until one of the given types arrives, following redirects.
func (p *wsPeer) expectAny(types ...string) json.RawMessage {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				p.t.Fatalf("socket closed while waiting for %v", types)
			}
			if f.Type == "joined" {
				p.joined(f.Data)
			}
			if slices.Contains(types, f.Type) {
				return f.Data
			}
			if f.Type == "redirect" {
				p.follow(f.Data)
				continue
			}
			if f.Type == "error" {
				p.t.Fatalf("error while waiting for %v: %s", types, f.Data)
			}
		case <-timeout:
			p.t.Fatalf("no %v within 10 s", types)
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

	// Breakouts opened by Prof move Ada into hers, and closing brings her back. The breakout is
	// placed like any room: on node B, the less loaded, so Ada is redirected there and back.
	prof.send("breakouts_open", map[string]any{"count": 2, "assignments": map[string]int{adaIdentity: 2}})
	ada.expectRoom("bio.b2")
	if ada.base != b.base {
		t.Errorf("breakout bio.b2 is served by %s, want the idle node B %s", ada.base, b.base)
	}
	// Prof visits Ada's breakout: redirected to node B with the visit, and lands in bio.b2; going
	// back to the main room redirects him to node A again.
	prof.send("breakout_visit", map[string]any{"breakout": 2})
	prof.expectRoom("bio.b2")
	if prof.base != b.base {
		t.Errorf("visiting bio.b2, Prof is on %s, want node B %s", prof.base, b.base)
	}
	prof.send("breakout_visit", map[string]any{"breakout": 0})
	prof.expectRoom("bio")
	if prof.base != a.base {
		t.Errorf("back from the visit, Prof is on %s, want node A %s", prof.base, a.base)
	}

	prof.send("breakouts_close", map[string]any{})
	ada.expectRoom("bio")
	if ada.base != a.base {
		t.Errorf("back in the main room Ada is on %s, want node A %s", ada.base, a.base)
	}
	if !slices.ContainsFunc(ada.redirects, func(r string) bool { return strings.HasPrefix(r, signaling.RedirectBreakout+" ") }) {
		t.Errorf("Ada's redirects %v include no breakout move", ada.redirects)
	}

	// Leaving is seen by Prof.
	ada.send("leave", nil)
	prof.expectWhere("participant_left", func(d json.RawMessage) bool {
		var left struct {
			ParticipantID string `json:"participantId"`
			Reason        string `json:"reason"`
		}
		json.Unmarshal(d, &left)
		return left.ParticipantID == ada.id && left.Reason == rooms.ReasonLeft
	})
}

// expectRoom waits until the peer is in room: a joined or moved message for it (redirects followed).
func (p *wsPeer) expectRoom(room string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d := p.expectAny("joined", "moved")
		var m struct {
			Room string `json:"room"`
		}
		json.Unmarshal(d, &m)
		if m.Room == room {
			return
		}
	}
	p.t.Fatalf("not in %s within 20 s", room)
}

// expectWhere waits for a message of type typ that ok accepts.
func (p *wsPeer) expectWhere(typ string, ok func(json.RawMessage) bool) json.RawMessage {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d := p.expect(typ); ok(d) {
			return d
		}
	}
	p.t.Fatalf("no matching %s within 20 s", typ)
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}
