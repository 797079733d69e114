package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// relayOnly makes every RTCPeerConnection the page creates use iceTransportPolicy 'relay', as a
// browser behind a firewall that lets nothing but the TURN server through would end up doing.
const relayOnly = `(() => {
  const Native = window.RTCPeerConnection;
  function RelayOnly(cfg, ...rest) {
    return new Native(Object.assign({}, cfg, { iceTransportPolicy: 'relay' }), ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  RelayOnly.generateCertificate = Native.generateCertificate.bind(Native);
  window.RTCPeerConnection = RelayOnly;
})();`

// selectedPath says, for both connections, what the selected candidate pair's local side is.
const selectedPath = `(async () => {
  const out = {};
  for (const [name, pc] of Object.entries(window.chalk.pcs())) {
    if (!pc) continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
    const local = pair && stats.get(pair.localCandidateId);
    out[name] = local ? local.candidateType + '/' + (local.relayProtocol || local.protocol) : 'none';
  }
  return JSON.stringify(out);
})()`

// A student's Chromium that may use only a relay, given only a TCP TURN URL, sees and hears the
// instructor and is seen: all its media goes over one TCP connection per peer connection to the
// embedded TURN server.
func TestBrowserRelayOnlyOverTCP(t *testing.T) {
	turnPort := freeTCPPort(t)
	srv := startTestServer(t, func(c *serveConfig) {
		c.TURN = turnConfig{TCPPort: turnPort, TTL: time.Hour, Realm: "chalk"}
	})
	room := srv.URL() + "/r/firewalled"
	teacher := newBrowser(t, 960, 540)
	student := newBrowser(t, 960, 540)
	inject := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: relayOnly})
		return err
	})
	if err := student.do(10*time.Second, inject); err != nil {
		t.Fatalf("inject the relay-only policy: %v", err)
	}
	for name, b := range map[string]*browser{"Teacher": teacher, "Student": student} {
		if err := b.do(20*time.Second, chromedp.Navigate(room+"?autojoin=1&name="+url.QueryEscape(name))); err != nil {
			t.Fatalf("%s: open the join link: %v", name, err)
		}
	}
	for name, b := range map[string]*browser{"Teacher": teacher, "Student": student} {
		b.waitFor(name+" decodes video and receives audio", `(async () => { const s = await `+mediaStats+`; return s.video > 0 && s.audio > 0; })()`, 45*time.Second)
	}
	path, err := eval[string](student, selectedPath)
	if err != nil {
		t.Fatal(err)
	}
	if path != `{"publish":"relay/tcp","subscribe":"relay/tcp"}` {
		t.Fatalf("student's selected paths %s, want relay over TCP on both connections", path)
	}
	if n := srv.turn.Allocations(); n < 2 {
		t.Errorf("%d TURN allocations, want at least 2", n)
	}
	t.Logf("student's media paths: %s", path)
}
