package privlinktest

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// One call starts the topology; the client's connection through the
// endpoint reaches the kit's target, which saw the client and the
// endpoint in the PROXY header and the node as its TCP peer.
func TestStartDialTarget(t *testing.T) {
	in := Start(t, twoAZ)
	ctx := ctxT(t)
	c, err := in.Dial(ctx, endpointID, 8443)
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "hello"); got != "hello" {
		t.Errorf("echo = %q", got)
	}
	seen, err := in.Target("127.0.10.20:9443").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	iface, _ := in.Addr(endpointID, "use1-az1", 8443)
	client := addrOf(c.LocalAddr())
	if h := seen.Header; h == nil || h.Source != client || h.Destination != iface || h.EndpointID != endpointID || h.Local {
		t.Errorf("header = %+v, want PROXY %s -> %s with %s", h, client, iface, endpointID)
	}
	if seen.Peer.Addr() != in.IP("127.0.10.5") {
		t.Errorf("TCP peer %s, want the node %s", seen.Peer, in.IP("127.0.10.5"))
	}
	if client.Addr() != in.IP("127.0.1.254") || !in.Block().Contains(client.Addr()) {
		t.Errorf("client %s, want the subnet's last host in block %s", client, in.Block())
	}
	if n := in.Metric("privlink_new_flows_total", map[string]string{"service": serviceID, "az": "use1-az1"}); n != 1 {
		t.Errorf("privlink_new_flows_total = %v, want 1", n)
	}
	// Bytes are counted as the relay reports them: poll, bounded.
	eventually(t, "privlink_processed_bytes_total ≥ 10 (5 each way)", func() bool {
		return in.Metric("privlink_processed_bytes_total", nil) >= 10
	})
}

// Conns lists a live connection with its client and the target it reached.
func TestConns(t *testing.T) {
	in := Start(t, twoAZ)
	ctx := ctxT(t)
	c, err := in.Dial(ctx, endpointID, 8443)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	if _, err := in.Target("127.0.10.20:9443").Next(ctx); err != nil {
		t.Fatal(err)
	}
	conns := in.Conns()
	if len(conns) != 1 || conns[0].Client != addrOf(c.LocalAddr()) || conns[0].Target != netip.AddrPortFrom(in.IP("127.0.10.20"), 9443) || conns[0].State != conntrack.StateEstablished {
		t.Errorf("Conns = %+v", conns)
	}
}

// Tests running in parallel on the same topology never collide: each has
// its own block, and each target sees its own test's client only.
func TestParallelNeverCollide(t *testing.T) {
	var mu sync.Mutex
	blocksSeen := map[netip.Prefix]string{}
	for _, name := range []string{"a", "b", "c"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := Start(t, twoAZ)
			mu.Lock()
			if other, ok := blocksSeen[in.Block()]; ok {
				t.Errorf("block %s shared with %s", in.Block(), other)
			}
			blocksSeen[in.Block()] = name
			mu.Unlock()
			ctx := ctxT(t)
			for range 3 {
				c, err := in.Dial(ctx, endpointID, 8443)
				if err != nil {
					t.Fatal(err)
				}
				if got := roundTrip(t, c, name); got != name {
					t.Errorf("echo = %q, want %q", got, name)
				}
				seen, err := in.Target("127.0.10.20:9443").Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if seen.Header == nil || seen.Header.Source != addrOf(c.LocalAddr()) {
					t.Errorf("target saw %+v, want this test's client %s", seen.Header, c.LocalAddr())
				}
			}
		})
	}
}

// A client outside the endpoint's SG is reset (deny_action reset), and
// Explain names the hop and the rule.
func TestDeniedAndExplain(t *testing.T) {
	in := Start(t, twoAZ)
	ctx := ctxT(t)
	c, err := in.Dial(ctx, endpointID, 8443, InAZ("use1-az2"))
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client in 127.0.2.0/24: %v, want connection reset", err)
	}
	if n := in.Metric("privlink_rejected_flows_total", map[string]string{"hop": "endpoint_sg_ingress"}); n != 1 {
		t.Errorf("rejected flows at endpoint_sg_ingress = %v, want 1", n)
	}
	rep, err := in.Explain("127.0.2.254", endpointID, 8443)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Allowed || !rep.Live || len(rep.Suggestions) == 0 {
		t.Errorf("explain: allowed %v live %v suggestions %q", rep.Allowed, rep.Live, rep.Suggestions)
	}
	denied := false
	for _, p := range rep.Paths {
		for _, h := range p.Consumer {
			denied = denied || (h.Hop == acl.HopEndpointSGIngress && h.Verdict == acl.Deny)
		}
	}
	if !denied {
		t.Errorf("explain does not deny at endpoint_sg_ingress:\n%+v", rep.Paths)
	}
	if rep, err := in.Explain("127.0.1.50:40000", endpointID, 8443); err != nil || !rep.Allowed {
		t.Errorf("explain from 127.0.1.50:40000: %v %+v", err, rep)
	}
	if _, err := in.Explain("127.0.1.50", "vpce-nope", 8443); err == nil || !strings.Contains(err.Error(), "endpoints: "+endpointID) {
		t.Errorf("explain of an unknown endpoint: %v", err)
	}
}

// Addr names what does not exist.
func TestAddr(t *testing.T) {
	in := Start(t, twoAZ)
	if ap, err := in.Addr(endpointID, "use1-az2", 0); err != nil || ap != netip.AddrPortFrom(in.IP("127.0.2.10"), 8443) {
		t.Errorf("Addr az2 = %v, %v", ap, err)
	}
	for _, tt := range []struct{ ep, az, want string }{
		{endpointID, "use1-az3", `no interface in AZ "use1-az3" (have: use1-az1, use1-az2`},
		{"vpce-x", "", `no endpoint "vpce-x"`},
	} {
		if _, err := in.Addr(tt.ep, tt.az, 8443); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Addr(%s, %s) error %v, want %q", tt.ep, tt.az, err, tt.want)
		}
	}
}

// Metric sums the matching series, and names the labels of a metric
// asked for a label it does not have.
func TestMetricLabels(t *testing.T) {
	f := &fakeTB{}
	var v, missing float64
	out := f.run(func(tb testing.TB) {
		in := Start(tb, twoAZ)
		v = in.Metric("privlink_config_last_reload_successful", nil)
		missing = in.Metric("privlink_no_such_metric", nil)
		in.Metric("privlink_config_last_reload_successful", map[string]string{"service": serviceID})
	})
	if v != 1 || missing != 0 {
		t.Errorf("reload gauge %v, unknown metric %v; want 1 and 0", v, missing)
	}
	if want := `privlinktest: metric privlink_config_last_reload_successful has no label "service" (its labels: [])`; out != want {
		t.Errorf("report %q, want %q", out, want)
	}
}

// A *config.Config runs too, and the caller's stays as it was: Start
// moves a copy.
func TestStartConfig(t *testing.T) {
	cfg, err := config.Parse("mine.yaml", []byte(twoAZ))
	if err != nil {
		t.Fatal(err)
	}
	in := Start(t, cfg)
	if got := cfg.Endpoints[0].Interfaces[0].IP; got != netip.MustParseAddr("127.0.1.10") {
		t.Errorf("the caller's config was moved: interface %s", got)
	}
	if got := in.Config().Endpoints[0].Interfaces[0].IP; got != in.IP("127.0.1.10") || !in.Block().Contains(got) {
		t.Errorf("running interface %s, want %s", got, in.IP("127.0.1.10"))
	}
	if cfg.Services[0].TargetGroups[0].Targets[0].Builtin != config.BuiltinEcho {
		t.Error("the caller's built-in target was changed")
	}
	c, err := in.Dial(ctxT(t), endpointID, 8443)
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "copy"); got != "copy" {
		t.Errorf("echo = %q", got)
	}
}
