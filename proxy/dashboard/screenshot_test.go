package dashboard_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// screenshotEnv names the file TestScreenshot writes; unset, it is skipped.
const screenshotEnv = "PRIVLINK_DASHBOARD_SCREENSHOT"

// TestScreenshot saves the dashboard of the embedded default topology, with
// a little traffic, as a PNG at 1280 px wide (docs/dashboard.png):
//
//	PRIVLINK_DASHBOARD_SCREENSHOT=$PWD/docs/dashboard.png isolated go test -run TestScreenshot ./proxy/dashboard
func TestScreenshot(t *testing.T) {
	path := os.Getenv(screenshotEnv)
	if path == "" {
		t.Skip(screenshotEnv + " is not set: no screenshot taken")
	}
	ctx := browser(t, 1280, 800)
	cfg := config.Default()
	cfg.Admin.Listen, cfg.DNS.Listen = "127.0.0.1:0", "off" // the default's ports may be taken
	srv, url := startLab(t, cfg)
	waitHealthy(t, srv)
	run(t, ctx, 30*time.Second, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#feed[data-state="live"]`)))
	waitJS(t, ctx, 10*time.Second, "the live counts", `document.querySelectorAll('#panel-traffic tr[data-zone]').length === 2`)
	traffic(t, srv)
	waitJS(t, ctx, 5*time.Second, "the rates of the traffic", // shown for the second after it
		`[...document.querySelectorAll('#panel-traffic td')].some(td => /[1-9].* B$/.test(td.textContent))`)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// waitHealthy waits (bounded) until every target passed its health checks.
func waitHealthy(t *testing.T, srv *proxy.Server) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		healthy := 0
		ts := srv.Targets()
		for _, ti := range ts {
			if ti.State == proxy.StateHealthy {
				healthy++
			}
		}
		if healthy == len(ts) {
			return
		}
	}
	t.Fatalf("targets not healthy within 30s: %+v", srv.Targets())
}

// traffic opens a few connections through both AZs and leaves some open.
func traffic(t *testing.T, srv *proxy.Server) {
	t.Helper()
	ep := srv.Endpoints()[0]
	for i, az := range []string{"use1-az1", "use1-az1", "use1-az1", "use1-az2", "use1-az2"} {
		c, err := net.DialTimeout("tcp", ep.Addr(az, 0).String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := echo(c); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			t.Cleanup(func() { c.Close() })
			continue
		}
		c.Close()
	}
}
