package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// publisherLayers lists the camera's simulcast layers a page has sent, low to high (q, h, f): rid,
// frames encoded so far, and the width now (0 while Chromium has the layer off: under CPU load it
// turns the top layers off and on, so a test counts frames sent, not layers on at one instant).
const publisherLayers = `(async () => {
  const pc = window.chalk && window.chalk.pcs().publish;
  if (!pc) return [];
  const order = {q: 0, h: 1, f: 2};
  const out = [];
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid) {
      out.push({rid: r.rid, width: r.frameWidth || 0, frames: r.framesEncoded || 0});
    }
  });
  return out.sort((a, b) => order[a.rid] - order[b.rid]);
})()`

// A Chromium publishes its camera as three simulcast layers, and the server receives all three.
func TestBrowsersSimulcast(t *testing.T) {
	srv := startTestServer(t, nil)
	room := srv.URL() + "/r/simulcast-class"
	laptop := newBrowser(t, 1280, 720)
	phone := newBrowser(t, 240, 480)
	for _, p := range []struct {
		b    *browser
		name string
	}{{laptop, "Laptop"}, {phone, "Phone"}} {
		if err := p.b.do(20*time.Second, chromedp.Navigate(room+"?autojoin=1&name="+url.QueryEscape(p.name))); err != nil {
			t.Fatalf("%s: open the join link: %v", p.name, err)
		}
	}
	for _, b := range []*browser{laptop, phone} {
		b.waitFor("both participants in the grid", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
	}

	// The publisher sends three layers (Chromium enables them as its bandwidth estimate grows).
	laptop.waitFor("three simulcast layers sent", `(async () => { const ls = await `+publisherLayers+`; return ls.length === 3 && ls.every((l) => l.frames > 0) && ls[0].width > 0; })()`, 40*time.Second)
	layers, err := eval[[]map[string]any](laptop, publisherLayers)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("laptop sends %v", layers)
	if low := layers[0]["width"].(float64); low <= 0 { // the low layer is never turned off
		t.Fatalf("the low layer is off: %v", layers)
	}

	// The server sees the three layers of the laptop's camera.
	laptopID, err := eval[string](laptop, `window.chalk.state().participantId`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the server measures three layers", func() bool {
		up := srv.sfu.UpTrack("simulcast-class", laptopID, "camera")
		if up == nil {
			return false
		}
		n, _ := up.Layers()
		return n == 3
	})

	// Which layer a small tile receives is checked with Pion clients (TestSimulcastLayerPerSubscriber).
	// In Chromium it is not yet dependable: in about two runs of three the phone below (220 px tiles)
	// decoded the 480 or 960 px layer for 40 s, so the server does not always apply the tile size a
	// browser asks for (see the issue note); asserting it here would fail CI at random.
	phone.screenshot("simulcast-phone")
}
