package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/sfu"
)

const secret = "signaling-test-secret-0123456789abcdef"

type testEnv struct {
	url    string
	tokens *auth.Issuer
	store  rooms.Store
}

func newTestEnv(t *testing.T, mutate func(*Config)) *testEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	media, err := sfu.New(sfu.Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := auth.NewIssuer(secret)
	store := rooms.NewMemoryStore()
	cfg := Config{Store: store, SFU: media, Tokens: tokens, DevMode: true, Node: "n1", Logger: log}
	if mutate != nil {
		mutate(&cfg)
	}
	hub := NewHub(cfg)
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hub.Close(ctx)
		srv.Close()
		media.Close()
		store.Close()
	})
	return &testEnv{url: "ws" + strings.TrimPrefix(srv.URL, "http"), tokens: tokens, store: store}
}

// wsTest is a raw protocol client. A background reader keeps it answering pings, as a browser does.
type wsTest struct {
	t      *testing.T
	c      *websocket.Conn
	id     string
	frames chan []byte
	closed chan websocket.StatusCode
}

func (e *testEnv) dial(t *testing.T) *wsTest {
	w := e.dialSilent(t)
	go func() {
		for {
			_, b, err := w.c.Read(context.Background())
			if err != nil {
				w.closed <- websocket.CloseStatus(err)
				return
			}
			w.frames <- b
		}
	}()
	return w
}

// dialSilent connects but never reads unless told to: it will not answer the server's pings.
func (e *testEnv) dialSilent(t *testing.T) *wsTest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsTest{t: t, c: c, frames: make(chan []byte, 256), closed: make(chan websocket.StatusCode, 1)}
}

// next returns the next server frame, reading directly for a silent client.
func (w *wsTest) next(ctx context.Context) ([]byte, error) {
	select {
	case b := <-w.frames:
		return b, nil
	default:
	}
	select {
	case b := <-w.frames:
		return b, nil
	case st := <-w.closed:
		w.closed <- st
		// The reader queues every frame before the close, but select picks at random when both are
		// ready: a frame that came just before the close is still waiting.
		select {
		case b := <-w.frames:
			return b, nil
		default:
		}
		return nil, errors.New("socket closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *wsTest) raw(frame string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsTest) send(typ string, data any) {
	w.t.Helper()
	b, _ := json.Marshal(data)
	w.raw(`{"v":1,"type":"` + typ + `","data":` + string(b) + `}`)
}

// expect reads until a message of type typ arrives (skipping others) and returns its data.
func (w *wsTest) expect(typ string) json.RawMessage {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		b, err := w.next(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			w.t.Fatalf("bad server frame %s", b)
		}
		if env.V != Version {
			w.t.Fatalf("server frame without version: %s", b)
		}
		if env.Type == typ {
			return env.Data
		}
	}
}

func (w *wsTest) expectError(code string) errorMsg {
	w.t.Helper()
	var e errorMsg
	json.Unmarshal(w.expect("error"), &e)
	if e.Code != code {
		w.t.Fatalf("error code = %q (%s), want %q", e.Code, e.Message, code)
	}
	if e.Message == "" {
		w.t.Fatal("error without a message")
	}
	return e
}

// expectClosed waits for the server to close the socket and returns the close status.
func (w *wsTest) expectClosed() websocket.StatusCode {
	w.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-w.frames:
		case st := <-w.closed:
			return st
		case <-timeout:
			w.t.Fatal("socket still open")
		}
	}
}

func (w *wsTest) join(room, name string) joinedMsg {
	w.t.Helper()
	w.send("join", map[string]string{"room": room, "name": name})
	var j joinedMsg
	json.Unmarshal(w.expect("joined"), &j)
	w.id = j.Participant.ID
	return j
}

func TestBadInputKeepsTheSession(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.dial(t)
	a.join("math", "Ada")
	b := env.dial(t)
	b.join("math", "Bob")

	steps := []struct{ frame, code string }{
		{`not json at all`, CodeBadMessage},
		{`{"v":1,"type":"teleport"}`, CodeUnknownType},
		{`{"v":7,"type":"ping"}`, CodeUnsupportedVersion},
		{`{"v":1,"type":"join","data":{"room":"math","name":"Again"}}`, CodeOutOfOrder},
		{`{"v":1,"type":"answer","data":{"sdp":"v=0\r\n"}}`, CodeOutOfOrder},
		{`{"v":1,"type":"offer","data":{"sdp":"this is not sdp","tracks":[{"mid":"0","source":"camera"}]}}`, CodeBadSDP},
		{`{"v":1,"type":"mute","data":{"source":"camera","muted":"maybe"}}`, CodeBadMessage},
	}
	for _, s := range steps {
		a.raw(s.frame)
		a.expectError(s.code)
	}
	if err := a.c.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	a.expectError(CodeBadMessage)

	// Still connected, still in the room, and nobody was told otherwise.
	a.send("ping", nil)
	a.expect("pong")
	snap, _ := env.store.Snapshot(context.Background(), "math")
	if len(snap.Participants) != 2 {
		t.Fatalf("room has %d participants after bad input, want 2", len(snap.Participants))
	}
}

func TestFirstMessageMustBeJoin(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.dial(t)
	a.send("offer", map[string]any{"sdp": "v=0", "tracks": []map[string]string{{"mid": "0", "source": "camera"}}})
	a.expectError(CodeOutOfOrder)
	a.join("math", "Ada") // the connection survived
}

func TestInvalidJoinClosesTheSocket(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.dial(t)
	a.send("join", map[string]string{"room": "no spaces allowed", "name": "Ada"})
	a.expectError(CodeBadMessage)
	if st := a.expectClosed(); st != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v", st)
	}
}

func TestOversizeFrame(t *testing.T) {
	env := newTestEnv(t, nil)
	a := env.dial(t)
	a.join("math", "Ada")
	a.raw(`{"v":1,"type":"ping","data":{"pad":"` + strings.Repeat("x", MaxFrameBytes) + `"}}`)
	a.expectError(CodeTooLarge)
	if st := a.expectClosed(); st != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v, want 1009", st)
	}
}

func TestTokens(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.DevMode = false })
	mint := func(room, id, name string, role rooms.Role, ttl time.Duration) string {
		tok, err := env.tokens.Mint(auth.Grant{Room: room, Identity: id, Name: name, Role: role}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := auth.NewIssuer(strings.Repeat("z", 40))
	forged, _ := other.Mint(auth.Grant{Room: "math", Identity: "eve", Role: rooms.RoleInstructor}, time.Hour)

	refused := []struct{ name, token, want string }{
		{"no token outside dev mode", "", "required"},
		{"expired", mint("math", "u1", "Ada", rooms.RoleStudent, -time.Hour), "expired"},
		{"other room", mint("art", "u1", "Ada", rooms.RoleStudent, time.Hour), "another room"},
		{"forged", forged, "not valid"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a := env.dial(t)
			a.send("join", map[string]string{"room": "math", "name": "Ada", "token": tt.token})
			e := a.expectError(CodeUnauthorized)
			if !strings.Contains(e.Message, tt.want) {
				t.Fatalf("message %q does not say %q", e.Message, tt.want)
			}
			a.expectClosed()
		})
	}
	t.Run("instructor token", func(t *testing.T) {
		a := env.dial(t)
		a.send("join", map[string]string{"room": "math", "name": "ignored", "token": mint("math", "prof", "Prof. Curie", rooms.RoleInstructor, time.Hour)})
		var j joinedMsg
		json.Unmarshal(a.expect("joined"), &j)
		if j.Participant.Role != rooms.RoleInstructor || j.Participant.Name != "Prof. Curie" || j.Participant.Identity != "prof" {
			t.Fatalf("joined as %+v", j.Participant)
		}
	})
	snap, _ := env.store.Snapshot(context.Background(), "math")
	if len(snap.Participants) != 1 {
		t.Fatalf("refused joins left %d participants", len(snap.Participants)-1)
	}
}

func TestSilentParticipantIsRemoved(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.SilenceTimeout = 2 * time.Second
		c.PingInterval = 300 * time.Millisecond
	})
	watcher := env.dial(t)
	watcher.join("math", "Watcher")
	silent := env.dialSilent(t)
	silent.send("join", map[string]string{"room": "math", "name": "Silent"})
	_, b, err := silent.c.Read(context.Background()) // the joined message; after it, silence
	if err != nil || !strings.Contains(string(b), `"joined"`) {
		t.Fatalf("join: %s %v", b, err)
	}
	var j struct{ Data joinedMsg }
	json.Unmarshal(b, &j)
	silent.id = j.Data.Participant.ID

	start := time.Now()
	var left participantLeftMsg
	json.Unmarshal(watcher.expect("participant_left"), &left)
	if left.ParticipantID != silent.id || left.Reason != rooms.ReasonTimeout {
		t.Fatalf("left = %+v, want %s by timeout", left, silent.id)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("removed after %v, want about 2 s", d)
	}
}

func TestResumeAfterBlip(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.SilenceTimeout = 3 * time.Second })
	watcher := env.dial(t)
	watcher.join("math", "Watcher")
	a := env.dial(t)
	j := a.join("math", "Ada")
	a.c.CloseNow() // a blip: no close frame

	b := env.dial(t)
	b.send("join", map[string]string{"resume": j.ResumeToken})
	var r joinedMsg
	json.Unmarshal(b.expect("joined"), &r)
	if !r.Resumed || r.Participant.ID != j.Participant.ID || len(r.Participants) != 2 {
		t.Fatalf("resume gave %+v", r)
	}
	b.send("ping", nil)
	b.expect("pong")

	// The resumed session stays past the silence window because it now answers pings.
	time.Sleep(4 * time.Second)
	snap, _ := env.store.Snapshot(context.Background(), "math")
	if len(snap.Participants) != 2 {
		t.Fatalf("after resume the room has %d participants", len(snap.Participants))
	}

	// Once the session is gone a resume fails cleanly.
	b.send("leave", nil)
	b.expectClosed()
	c := env.dial(t)
	c.send("join", map[string]string{"resume": j.ResumeToken})
	c.expectError(CodeResumeFailed)
	c.expectClosed()
}

func TestCloseFrameLeavesAtOnce(t *testing.T) {
	env := newTestEnv(t, nil)
	watcher := env.dial(t)
	watcher.join("math", "Watcher")
	a := env.dial(t)
	a.join("math", "Ada")
	a.c.Close(websocket.StatusGoingAway, "tab closed")
	var left participantLeftMsg
	json.Unmarshal(watcher.expect("participant_left"), &left)
	if left.ParticipantID != a.id || left.Reason != rooms.ReasonLeft {
		t.Fatalf("left = %+v", left)
	}
}

func TestSameIdentityReplacesTheOldSession(t *testing.T) {
	env := newTestEnv(t, nil)
	first := env.dial(t)
	first.send("join", map[string]string{"room": "math", "name": "Ada", "identity": "tab1"})
	first.expect("joined")
	second := env.dial(t)
	second.send("join", map[string]string{"room": "math", "name": "Ada", "identity": "tab1"})
	var j joinedMsg
	json.Unmarshal(second.expect("joined"), &j)
	var bye byeMsg
	json.Unmarshal(first.expect("bye"), &bye)
	if bye.Reason != rooms.ReasonReplaced {
		t.Fatalf("bye reason %q", bye.Reason)
	}
	first.expectClosed()
	snap, _ := env.store.Snapshot(context.Background(), "math")
	if len(snap.Participants) != 1 || snap.Participants[0].ID != j.Participant.ID {
		t.Fatalf("room = %+v", snap.Participants)
	}
}

func TestShutdownSaysBye(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	media, _ := sfu.New(sfu.Config{BindIP: "127.0.0.1", TCPPort: -1, Logger: log})
	defer media.Close()
	tokens, _ := auth.NewIssuer(secret)
	hub := NewHub(Config{Store: rooms.NewMemoryStore(), SFU: media, Tokens: tokens, DevMode: true, Logger: log})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	env := &testEnv{url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	a := env.dial(t)
	a.join("math", "Ada")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var bye byeMsg
	json.Unmarshal(a.expect("bye"), &bye)
	if bye.Reason != "shutdown" {
		t.Fatalf("bye = %+v", bye)
	}
	b := env.dial(t)
	b.send("join", map[string]string{"room": "math", "name": "Late"})
	b.expectError(CodeInternal)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("shutdown took too long")
	}
}
