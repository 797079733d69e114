package main

import (
	"context"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// packetStats sums the packets the web client's current subscribe connection received, by kind.
const packetStats = `(async () => {
  const pc = window.chalk && window.chalk.pcs().subscribe;
  if (!pc) return {video: 0, audio: 0};
  let video = 0, audio = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') video += r.packetsReceived || 0;
    if (r.kind === 'audio') audio += r.packetsReceived || 0;
  });
  return {video, audio};
})()`

// TestBrowserRejoinsAfterItsNodeDies: the web client, whose page came from one node and whose room
// is served by another, loses that node to kill -9. It shows "Reconnecting…", rejoins through the
// node its page came from, is redirected to the room's new node, and media flows both ways again.
func TestBrowserRejoinsAfterItsNodeDies(t *testing.T) {
	_, nodes := startCluster(t)
	const room = "cluster-web"
	pub := startRoamer(t, "pub", 1, nodes[0], client.Options{Room: room})
	deadline := time.Now().Add(20 * time.Second)
	var host *node
	for host == nil {
		if u, _, _ := pub.where(); u != "" {
			host = nodeOf(nodes, u)
		}
		if time.Now().After(deadline) {
			t.Fatal("the Go publisher did not join within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var others []*node
	for _, n := range nodes {
		if n != host {
			others = append(others, n)
		}
	}
	pub.setHome(others[0])
	page := others[1] // the page (and the web client's first socket) comes from a node that survives

	alice := newBrowser(t, 1280, 720)
	if err := alice.do(20*time.Second, chromedp.Navigate(page.base+"/r/"+room+"?autojoin=1&name="+url.QueryEscape("Alice"))); err != nil {
		t.Fatalf("open the join link: %v", err)
	}
	onHost := fmt.Sprintf(`window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2 && window.chalk.state().socket === %q`, client.SocketURL(host.base))
	alice.waitFor("Alice redirected to the room's node, with the publisher", onHost, 30*time.Second)
	receives := `(async () => { const s = await ` + packetStats + `; return s.video > 20 && s.audio > 20; })()`
	alice.waitFor("Alice receives the publisher's audio and video", receives, 30*time.Second)
	waitRaw := func(stage string, within time.Duration) {
		t.Helper()
		from := pub.raw.Load()
		end := time.Now().Add(within)
		for pub.raw.Load() < from+50 {
			if time.Now().After(end) {
				t.Fatalf("%s: the Go publisher receives nothing from Alice", stage)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitRaw("before the failure", 30*time.Second)
	oldID, err := eval[string](alice, `window.chalk.state().participantId`)
	if err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if err := host.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-host.exited
	alice.waitFor("Alice shows that she is reconnecting", `window.chalk.state().banner.includes('econnect') || window.chalk.state().banner.includes('retrying')`, 10*time.Second)
	alice.screenshot("cluster-reconnecting")
	// A fresh session (new participant id, new peer connections) on a live node that is not the
	// dead one, with the publisher back in the room.
	back := fmt.Sprintf(`(async () => { const st = window.chalk.state(); if (!st.connected || st.participantId === %q || st.socket === %q || st.participants.length !== 2) return false;
	  const s = await %s; return s.video > 20 && s.audio > 20; })()`, oldID, client.SocketURL(host.base), packetStats)
	alice.waitFor("Alice back in media on a live node", back, 20*time.Second)
	waitRaw("after the failure", 20*time.Second)
	t.Logf("the web client receives media again %v after kill -9 of %s (target: within 10 s)", time.Since(killed).Round(10*time.Millisecond), host.name)
	alice.screenshot("cluster-after-failover")
}

// TestBrowserBreakoutOnAnotherNode: a student's breakout is served by another node than the main
// room. The web client is redirected there and shows the breakout as on one node (where it is,
// who is in it, its own chat, media), and comes back to the main room's node, with its chat, at
// the close.
func TestBrowserBreakoutOnAnotherNode(t *testing.T) {
	_, nodes := startCluster(t)
	const room = "geo-web"
	issuer, _ := auth.NewIssuer(testSecret)
	tok, err := issuer.Mint(auth.Grant{Room: room, Identity: "prof", Name: "Prof", Role: rooms.RoleInstructor}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	prof := startRoamer(t, "prof", 1, nodes[0], client.Options{Room: room, Token: tok})
	s2 := startRoamer(t, "s2", 2, nodes[0], client.Options{Room: room})
	allHearEachOther(t, "main room", []*roamer{prof, s2}, 30*time.Second)
	mainURL, _, _ := prof.where()

	ann := newBrowser(t, 1280, 720)
	if err := ann.do(20*time.Second, chromedp.Navigate(nodes[0].base+"/r/"+room+"?autojoin=1&name=Ann")); err != nil {
		t.Fatalf("open the join link: %v", err)
	}
	ann.waitFor("Ann in the main room with the others", fmt.Sprintf(`window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 3 && window.chalk.state().socket === %q`, mainURL), 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prof.mu.Lock()
	pc := prof.c
	prof.mu.Unlock()
	if err := pc.Send(ctx, "chat", map[string]string{"text": "Welcome to the main room"}); err != nil {
		t.Fatal(err)
	}
	ann.waitFor("the main room's chat line", `window.chalk.state().chat.some((m) => m.text === 'Welcome to the main room')`, 30*time.Second)
	annIdentity := evalString(ann, `window.chalk.state().participants.find((p) => p.id === window.chalk.state().participantId).identity`)

	if err := pc.OpenBreakouts(ctx, client.BreakoutOptions{Count: 2, Names: []string{"Group Newton"}, Assignments: map[string]int{annIdentity: 1, "guest-s2": 1}}); err != nil {
		t.Fatal(err)
	}
	ann.waitFor("Ann in breakout 1 on another node, with s2 only", fmt.Sprintf(`(() => { const st = window.chalk.state(), bo = window.chalk.breakouts();
		return st.connected && st.socket !== %q && bo.current === 1 && bo.room === %q && st.participants.length === 2 &&
		st.participants.some((p) => p.name === 's2'); })()`, mainURL, room+".b1"), 40*time.Second)
	ann.waitFor("Ann sees where she is", `document.getElementById('bo-where').textContent === 'Breakout 1 · Group Newton'`, 30*time.Second)
	ann.waitFor("the breakout's own chat", `window.chalk.state().chat.length === 0`, 30*time.Second)
	ann.waitFor("Ann receives s2's media in the breakout", `(async () => { const s = await `+packetStats+`; return s.video > 20 && s.audio > 20; })()`, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if u, _, _ := s2.where(); u != "" && u != mainURL {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("s2 did not move to the breakout's node")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s2.mu.Lock()
	sc := s2.c
	s2.mu.Unlock()
	if err := sc.Send(ctx, "chat", map[string]string{"text": "hello from breakout 1"}); err != nil {
		t.Fatal(err)
	}
	ann.waitFor("the breakout's chat line", `window.chalk.state().chat.some((m) => m.text === 'hello from breakout 1')`, 30*time.Second)
	ann.screenshot("cluster-breakout-on-another-node")

	if err := pc.CloseBreakouts(ctx); err != nil {
		t.Fatal(err)
	}
	ann.waitFor("Ann back in the main room on its node, with its chat", fmt.Sprintf(`(() => { const st = window.chalk.state(), bo = window.chalk.breakouts();
		return st.connected && st.socket === %q && !bo.open && bo.room === %q && st.participants.length === 3 &&
		st.chat.some((m) => m.text === 'Welcome to the main room'); })()`, mainURL, room), 40*time.Second)
	ann.waitFor("Ann receives media in the main room again", `(async () => { const s = await `+packetStats+`; return s.video > 20 && s.audio > 20; })()`, 30*time.Second)
}
