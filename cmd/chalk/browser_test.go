package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's Chromium; scripts/install-test-deps.sh installs it.
func chromiumPath(t testing.TB) string {
	for _, p := range []string{os.Getenv("CHALK_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: run scripts/install-test-deps.sh (browser tests never skip)")
	return ""
}

// browser is one headless Chromium with fake camera and microphone.
type browser struct {
	t   testing.TB
	ctx context.Context
}

func newBrowser(t testing.TB, width, height int) *browser {
	t.Helper()
	b, err := launchBrowser(t, chromiumPath(t), width, height)
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// launchBrowser starts a Chromium; unlike newBrowser it may run on another goroutine than the test's
// (several browsers start at once while something else goes on).
func launchBrowser(t testing.TB, chromium string, width, height int) (*browser, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first Run starts the browser; it must not carry a timeout or the browser dies with it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		cancelAlloc()
		return nil, err
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}, nil
}

func (b *browser) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// waitFor polls js (which may return a promise) until it is true, or fails with what last came back.
func (b *browser) waitFor(what, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last any
	for time.Now().Before(deadline) {
		v, err := eval[any](b, js)
		if ok, _ := v.(bool); ok && err == nil {
			return
		}
		last = v
		if err != nil {
			last = err
		}
		time.Sleep(250 * time.Millisecond)
	}
	state, _ := eval[any](b, `JSON.stringify(window.chalk ? window.chalk.state() : null)`)
	b.t.Fatalf("timed out after %v waiting for %s (last: %v; state: %v)", timeout, what, last, state)
}

func (b *browser) screenshot(name string) {
	dir := os.Getenv("CHALK_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	// The viewport only: the pages are one screen high, and capturing beyond the viewport lays the
	// page out again for a moment, which can move what the next click aims at.
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// mediaStats sums what the subscribe connection decoded and received.
const mediaStats = `(async () => {
  const pc = window.chalk && window.chalk.pcs().subscribe;
  if (!pc) return {video: 0, audio: 0};
  let video = 0, audio = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') video += r.framesDecoded || 0;
    if (r.kind === 'audio') audio += r.packetsReceived || 0;
  });
  return {video, audio};
})()`

func TestBrowsersSeeAndHearEachOther(t *testing.T) {
	srv := startTestServer(t, nil)
	room := srv.URL() + "/r/e2e-class"
	alice := newBrowser(t, 1280, 720)
	bob := newBrowser(t, 1280, 720)

	for _, p := range []struct {
		b    *browser
		name string
	}{{alice, "Alice"}, {bob, "Bob"}} {
		if err := p.b.do(20*time.Second, chromedp.Navigate(room+"?autojoin=1&name="+url.QueryEscape(p.name))); err != nil {
			t.Fatalf("%s: open the join link: %v", p.name, err)
		}
	}
	for _, b := range []*browser{alice, bob} {
		b.waitFor("both participants in the grid", `window.chalk && window.chalk.state().connected && window.chalk.state().participants.length === 2`, 20*time.Second)
	}
	for name, b := range map[string]*browser{"Alice": alice, "Bob": bob} {
		b.waitFor(name+" decodes video and receives audio", `(async () => { const s = await `+mediaStats+`; return s.video > 0 && s.audio > 0; })()`, 30*time.Second)
	}
	s, err := eval[map[string]float64](alice, mediaStats)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Alice decoded %.0f video frames and received %.0f audio packets", s["video"], s["audio"])
	// Every remote tile shows live video, not an avatar: the grid itself decoded frames.
	alice.waitFor("Bob's tile plays video", `[...document.querySelectorAll('[data-participant-id] video')].some((v) => v.videoWidth > 0 && !v.paused && v.closest('[data-participant-id]').dataset.participantId !== window.chalk.state().participantId)`, 15*time.Second)
	alice.screenshot("call-1280x720")
	// What Chromium decoded was encrypted by Chalk's own SRTP path (sfu/fastpath.go), not Pion's.
	if fast, pion := metricAt(srv.URL(), "chalk_sfu_rtp_fast_path_packets_total"), metricAt(srv.URL(), "chalk_sfu_rtp_pion_path_packets_total"); fast <= 0 || fast < pion {
		t.Errorf("RTP to subscribers: %v packets through the fast path, %v through Pion's: want most through the fast path", fast, pion)
	} else {
		t.Logf("RTP to subscribers: %v packets through the fast path, %v through Pion's", fast, pion)
	}
	// Chromium and Pion agree on AES-GCM, so Chalk's own GCM sender (sfu/srtpgcm.go) encrypted it.
	conns := func(profile string) float64 { // absent: -1
		return max(0, metricAt(srv.URL(), `chalk_sfu_fast_path_connections_total{srtp="`+profile+`"}`))
	}
	gcm256, gcm128, cm := conns("SRTP_AEAD_AES_256_GCM"), conns("SRTP_AEAD_AES_128_GCM"), conns("SRTP_AES128_CM_HMAC_SHA1_80")
	t.Logf("fast-path connections by SRTP profile: AEAD_AES_256_GCM %v, AEAD_AES_128_GCM %v, AES128_CM_HMAC_SHA1_80 %v", gcm256, gcm128, cm)
	if gcm256+gcm128 == 0 || cm > 0 {
		t.Errorf("fast-path connections: %v with AES-GCM, %v with AES_CM: want Chromium on AES-GCM (Chalk's own sender)", gcm256+gcm128, cm)
	}

	bobID, err := eval[string](bob, `window.chalk.state().participantId`)
	if err != nil || bobID == "" {
		t.Fatalf("Bob's id: %q %v", bobID, err)
	}
	if err := bob.do(10*time.Second, chromedp.Click(chromedp.ID("btn-leave"))); err != nil {
		t.Fatalf("Bob clicks leave: %v", err)
	}
	alice.waitFor("Bob gone from Alice's grid", fmt.Sprintf(`window.chalk.state().participants.length === 1 && !document.querySelector('[data-participant-id=%q]')`, bobID), 10*time.Second)
	alice.screenshot("after-leave")
}
