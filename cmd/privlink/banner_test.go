package main

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// bannerYAML is the embedded default moved to 127.80.x, with edits.
func bannerYAML(edits ...string) string {
	y := strings.ReplaceAll(string(config.DefaultYAML()), "127.0.", "127.80.")
	y = strings.ReplaceAll(y, "127.80.0.0/8", "127.0.0.0/8")
	y = strings.Replace(y, "127.80.0.1:9480", "127.0.0.1:0", 1)
	for i := 0; i+1 < len(edits); i += 2 {
		y = strings.Replace(y, edits[i], edits[i+1], 1)
	}
	return y
}

// The banner's Try line works with the topology it prints: a plain nc
// when the rules admit 127.0.0.1, nc -s with an admitted address when
// they do not (the test connects as the line says and gets its echo),
// how to accept a pending endpoint, or privlink explain when no client
// address is admitted.
func TestBannerTryLine(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  string
		dial  bool
	}{
		{"default", nil, "Try: nc 127.80.1.10 8443   (Ctrl-C to stop)", true},
		{"endpoint SG admits only the consumer subnet",
			[]string{`ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]`, `ingress: [{protocol: tcp, ports: "8443", cidr: 127.80.1.0/24}]`},
			"Try: nc -s 127.80.1.50 127.80.1.10 8443   (a client address the rules admit; Ctrl-C to stop)", true},
		{"acceptance required", []string{"acceptance_required: false", "acceptance_required: true"},
			"Try: endpoint vpce-0c1308d7312217abc is pendingAcceptance: accept it with curl -XPOST http://127.0.0.1:", false},
		{"SG admits only its members",
			[]string{`ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]`, `ingress: [{protocol: tcp, ports: "8443", source_group: sg-endpoint}]`},
			"Try: privlink explain -c banner.yaml --from 127.0.0.1 --endpoint vpce-0c1308d7312217abc   (the rules admit no local client address", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("banner.yaml", []byte(bannerYAML(tt.edits...)))
			if err != nil {
				t.Fatal(err)
			}
			srv, err := proxy.Start(cfg, proxy.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var b strings.Builder
			printBanner(&b, cfg, srv)
			if !strings.Contains(b.String(), tt.want) {
				t.Fatalf("banner:\n%s\nwant a line %q", b.String(), tt.want)
			}
			if tt.dial {
				tryNC(t, b.String())
			}
		})
	}
}

// tryNC connects as the banner's "Try: nc [-s SRC] HOST PORT" says and
// checks the built-in echo answers.
func tryNC(t *testing.T, banner string) {
	t.Helper()
	f := strings.Fields(banner[strings.Index(banner, "Try: nc ")+len("Try: nc "):])
	d := net.Dialer{Timeout: 2 * time.Second}
	if f[0] == "-s" {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(f[1]), 0))
		f = f[2:]
	}
	c, err := d.Dial("tcp", net.JoinHostPort(f[0], f[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("try"))
	c.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(c); string(got) != "try" {
		t.Fatalf("echo %q, %v: the Try line does not work", got, err)
	}
}
