package privlinktest

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy"
)

// A bad topology fails the test cleanly: every error as FILE:LINE: key:
// message, nothing started, nothing left running (goleak checks), the
// block given back.
func TestStartBadTopology(t *testing.T) {
	tests := []struct {
		name string
		topo any
		want []string
	}{
		{"invalid YAML keys", strings.Replace(twoAZ, "ip: 127.0.10.5}", "ip: 127.0.1.5}", 1) + "bogus: 1\n",
			[]string{"privlinktest: invalid topology:\nTestFake.yaml:13: services[0].load_balancer.nodes[0].ip: ", "\nTestFake.yaml:28: bogus: unknown key"}},
		{"address outside the topology's net", strings.ReplaceAll(twoAZ, "127.0.11.", "127.0.99."),
			[]string{"TestFake.yaml:7: subnets[3].cidr: 127.0.99.0/24 is outside 127.0.0.0/18, the topology's /18", "TestFake.yaml:13: services[0].load_balancer.nodes[1].ip: 127.0.99.5 is outside"}},
		{"not a topology", 42, []string{"privlinktest: a topology is YAML (string or []byte), a *TopologyBuilder or a *config.Config, not int"}},
		{"bad builder argument", Topology().Service("vpce-svc-1").Endpoint("vpce-1", "vpce-svc-1", Allow("127.0.1.0/33", "8443")),
			[]string{`privlinktest: endpoint vpce-1: Allow("127.0.1.0/33", "8443"): netip.ParsePrefix("127.0.1.0/33"): prefix length out of range`}},
		{"builder dangling service", Topology().Service("vpce-svc-1").Endpoint("vpce-1", "vpce-svc-2"),
			[]string{`topology: endpoints[0].service: service "vpce-svc-2" is not defined under services`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{}
			var in *Instance
			out := f.run(func(tb testing.TB) { in = Start(tb, tt.topo) })
			if in != nil || !f.failed {
				t.Fatalf("Start returned an instance (%v) or did not fail the test (%v)", in != nil, f.failed)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
		})
	}
	blocks.mu.Lock()
	defer blocks.mu.Unlock()
	if len(blocks.inUse) != 0 {
		t.Errorf("blocks still in use after the failed starts: %v", blocks.inUse)
	}
}

// WaitHealthy returns once the health checks pass, and otherwise names the
// target that is not healthy. The admin API listens on a free port.
func TestWaitHealthy(t *testing.T) {
	topo := strings.Replace(twoAZ, "health_check: {enabled: false}", "health_check: {interval: 1s, timeout: 1s, healthy_threshold: 2}", 1)
	topo = strings.Replace(topo, "subnet: subnet-provider-1b, builtin: echo}", "subnet: subnet-provider-1b}", 1)
	in := Start(t, topo)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	err := in.WaitHealthy(ctx)
	want := "tg-app " + in.IP("127.0.11.20").String() + ":9443 use1-az2 ("
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), in.IP("127.0.10.20").String()+":") {
		t.Fatalf("WaitHealthy without the az2 target's server: %v, want it named (%s...) and only it", err, want)
	}
	NewTarget(t, netip4(in.IP("127.0.11.20"), 9443), Sink) // the test serves it
	if err := in.WaitHealthy(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if in.Target("127.0.10.20:9443").HealthChecks() < 2 {
		t.Errorf("the az1 target saw %d LOCAL health checks, want ≥ 2", in.Target("127.0.10.20:9443").HealthChecks())
	}
	resp, err := http.Get(in.AdminURL() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin /readyz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Resolver answers the endpoint's DNS names with the moved addresses.
func TestResolver(t *testing.T) {
	in := Start(t, twoAZ)
	if !in.Block().Contains(in.DNSAddr().Addr()) {
		t.Fatalf("DNS on %s, want in block %s", in.DNSAddr(), in.Block())
	}
	name := in.Server().Endpoint(endpointID).DNSEntries[0].DNSName
	ips, err := in.Resolver().LookupNetIP(ctxT(t), "ip4", name)
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 2 || !in.Block().Contains(ips[0]) {
		t.Errorf("%s = %v, want the two interfaces in %s", name, ips, in.Block())
	}
	d := net.Dialer{Resolver: in.Resolver(), LocalAddr: &net.TCPAddr{IP: in.IP("127.0.1.60").AsSlice()}}
	c, err := d.DialContext(ctxT(t), "tcp", name+":8443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if in.DNSAddr().Port() == 8053 {
		t.Errorf("DNS on the default port 8053, want a free one")
	}
	off := Start(t, "dns: {listen: \"off\"}\n"+twoAZ)
	if _, err := off.Resolver().LookupNetIP(ctxT(t), "ip4", name); err == nil {
		t.Error("a resolver of DNS off answered")
	}
}

// Reload swaps the topology on the same block: a new listener port works,
// and a bad topology is refused with its errors while the old one stays.
func TestReload(t *testing.T) {
	in := Start(t, twoAZ)
	next := strings.Replace(twoAZ, "listeners: [{port: 8443, target_group: tg-app}]", "listeners: [{port: 8443, target_group: tg-app}, {port: 8444, target_group: tg-app}]", 1)
	next = strings.Replace(next, `ports: "8443"`, `ports: "8443-8444"`, 1)
	next = strings.Replace(next, "          - {ip: 127.0.11.20,", "          - {ip: 127.0.11.21, subnet: subnet-provider-1b, builtin: sink}\n          - {ip: 127.0.11.20,", 1)
	if err := in.Reload(next); err != nil {
		t.Fatal(err)
	}
	if m := in.Target("127.0.11.21:9443").Mode(); m != Sink || len(in.Targets()) != 3 {
		t.Errorf("after reload: new target in mode %s, %d targets; want sink, 3", m, len(in.Targets()))
	}
	c, err := in.Dial(ctxT(t), endpointID, 8444) // az1: its node sends to 127.0.10.20 (echo) only
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "reloaded"); got != "reloaded" {
		t.Errorf("echo on 8444 = %q", got)
	}
	err = in.Reload(strings.Replace(next, "port: 9443", "port: 0", 1))
	if err == nil || !strings.Contains(err.Error(), "TestReload.yaml:") || !strings.Contains(err.Error(), "services[0].target_groups[0].port") {
		t.Errorf("bad reload: %v, want FILE:LINE errors", err)
	}
	if _, err := in.Addr(endpointID, "", 8444); err != nil {
		t.Errorf("after a refused reload: %v", err)
	}
	// Back to the first topology: 127.0.11.21 drains, and WaitHealthy does
	// not wait for a target that is leaving.
	if err := in.Reload(twoAZ); err != nil {
		t.Fatal(err)
	}
	draining := false
	for _, ti := range in.Server().Targets() {
		draining = draining || (ti.Target.Addr() == in.IP("127.0.11.21") && ti.State == proxy.StateDraining)
	}
	if !draining {
		t.Errorf("127.0.11.21 is not draining: %+v", in.Server().Targets())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := in.WaitHealthy(ctx); err != nil {
		t.Error(err)
	}
}

func netip4(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
