package main

import (
	"fmt"
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

// remoteVideoWidth is the frame width the page decodes for the other participant's camera (the
// subscribe connection's inbound-rtp video with the most frames).
const remoteVideoWidth = `(async () => {
  const pc = window.chalk && window.chalk.pcs().subscribe;
  if (!pc) return 0;
  let best = null;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && (!best || (r.framesDecoded || 0) > (best.framesDecoded || 0))) best = r;
  });
  return best && best.framesDecoded > 0 ? best.frameWidth || 0 : 0;
})()`

// A Chromium publishes its camera as three simulcast layers; a subscriber on a phone-sized screen
// (a small tile) receives the low layer, and one on a laptop screen (a large tile) a higher one.
func TestBrowsersSimulcast(t *testing.T) {
	srv := startTestServer(t, nil)
	room := srv.URL() + "/r/simulcast-class"
	laptop := newBrowser(t, 1280, 720)
	phone := newBrowser(t, 320, 480)
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
	low := layers[0]["width"].(float64) // the low layer is never turned off

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

	// The phone's tile is about 300 px wide: it gets the low layer.
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, _ := eval[float64](phone, remoteVideoWidth)
		if got == low {
			break
		}
		if time.Now().After(deadline) {
			tile, _ := eval[string](phone, `JSON.stringify([...document.querySelectorAll('.tile')].map((e) => e.getBoundingClientRect().width + 'x' + e.getBoundingClientRect().height))`)
			t.Fatalf("the phone decodes the laptop's camera %.0f px wide, want the low layer's %.0f (tiles %s)", got, low, tile)
		}
	}
	// The laptop's tile of the phone is about 600 px wide: more than the low layer.
	phoneLayers, err := eval[[]map[string]any](phone, publisherLayers)
	if err != nil || len(phoneLayers) == 0 {
		t.Fatalf("phone layers %v: %v", phoneLayers, err)
	}
	phoneLow := phoneLayers[0]["width"].(float64)
	if phoneLow == 0 {
		t.Fatalf("the phone's low layer is off: %v", phoneLayers)
	}
	laptop.waitFor("the laptop decodes more than the phone's low layer", fmt.Sprintf(`(async () => (await %s) > %d)()`, remoteVideoWidth, int(phoneLow)), 40*time.Second)
	w, _ := eval[float64](laptop, remoteVideoWidth)
	t.Logf("the phone receives the laptop's camera at %.0f px wide (its low layer); the laptop receives the phone's at %.0f px (phone's layers %v)", low, w, phoneLayers)
	phone.screenshot("simulcast-phone")
}
