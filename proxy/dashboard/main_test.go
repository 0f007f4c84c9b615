package dashboard_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tests of this package use 127.87.0.0/16 (no other package does):
//
//	clients    127.87.1.0/24 (az1, allowed by sg-endpoint)  127.87.2.0/24 (az2, denied)
//	endpoints  vpce-…a1 (accepted at start): 127.87.1.10, 127.87.2.10 :8443
//	           vpce-…b2 (pendingAcceptance): 127.87.1.11, 127.87.2.11 :8443
//	nodes      127.87.10.5 (az1)  127.87.11.5 (az2)
//	targets    127.87.10.20:9443 (az1)  127.87.11.20:9443 (az2), built-in echo
const labYAML = `
admin: {listen: "127.87.0.1:0"}
dns: {listen: "off"}
deny_action: reset
subnets:
  - {id: subnet-c1, az: use1-az1, cidr: 127.87.1.0/24}
  - {id: subnet-c2, az: use1-az2, cidr: 127.87.2.0/24}
  - {id: subnet-p1, az: use1-az1, cidr: 127.87.10.0/24}
  - {id: subnet-p2, az: use1-az2, cidr: 127.87.11.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: "8443", cidr: 127.87.1.0/24}]}
  - {id: sg-app, ingress: [{protocol: tcp, ports: "9443", cidr: 127.87.10.0/23}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    acceptance_required: true
    load_balancer:
      name: nlb-lab
      nodes: [{subnet: subnet-p1, ip: 127.87.10.5}, {subnet: subnet-p2, ip: 127.87.11.5}]
      listeners: [{port: 8443, target_group: tg-echo}]
    target_groups:
      - name: tg-echo
        port: 9443
        health_check: {enabled: false}
        targets:
          - {ip: 127.87.10.20, subnet: subnet-p1, security_groups: [sg-app], builtin: echo}
          - {ip: 127.87.11.20, subnet: subnet-p2, security_groups: [sg-app], builtin: echo}
endpoints:
  - id: vpce-0c1308d7312217aa1
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: 127.87.1.10}, {subnet: subnet-c2, ip: 127.87.2.10}]
  - id: vpce-0c1308d7312217bb2
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: 127.87.1.11}, {subnet: subnet-c2, ip: 127.87.2.11}]
`

const (
	service   = "vpce-svc-03d5ebb7d9579a2b3"
	epOpen    = "vpce-0c1308d7312217aa1"
	epPending = "vpce-0c1308d7312217bb2"
)

// startLab starts privlink on cfg (the lab topology when nil) and returns
// it with the dashboard's URL.
func startLab(t *testing.T, cfg *config.Config) (*proxy.Server, string) {
	t.Helper()
	if cfg == nil {
		var err error
		if cfg, err = config.Parse("lab.yaml", []byte(labYAML)); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := proxy.Start(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if cfg.Source == "lab.yaml" {
		if err := srv.Accept(epOpen); err != nil { // the lab's service requires acceptance
			t.Fatal(err)
		}
	}
	return srv, "http://" + srv.AdminAddr() + "/"
}

// chromiumPath finds a headless-capable Chromium, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it): the real-browser tests of the dashboard are skipped")
	return ""
}

// browser starts a headless Chromium with a window of w×h and returns its
// tab's context; everything it started ends with the test.
func browser(t *testing.T, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // as root, Chromium refuses to start with its sandbox
		chromedp.DisableGPU,
		chromedp.WindowSize(w, h),
		chromedp.Flag("no-proxy-server", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser: no timeout on this first call
		t.Fatal(err)
	}
	return ctx
}

// run runs steps with a timeout, failing the test on error.
func run(t *testing.T, ctx context.Context, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression in the page until it is truthy.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("%s: not seen within %v (%s): %v", what, timeout, expr, err)
	}
}

// dialFrom connects from the client address to the endpoint interface.
func dialFrom(from string, to netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// echo sends a line through c and reads it back.
func echo(c net.Conn) error {
	msg := []byte("ping through the endpoint\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, len(msg)))
	return err
}
