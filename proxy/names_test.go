package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/dns"
)

// dnsLab is the lab with its DNS server on P.0.53 (port 0), upstream off.
func dnsLab(t *testing.T, edits ...string) *lab {
	t.Helper()
	return newLab(t, false, config.PlacementFirstData,
		append([]string{`dns: {listen: "off"}`, `dns: {listen: "P.0.53:0", upstream: "off"}`}, edits...)...)
}

func regionalOf(id string) string {
	return id + "-" + dns.Suffix(id) + ".vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
}

func zonalOf(id, az string) string {
	return id + "-" + dns.Suffix(id) + "-" + az + ".vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
}

// GET /v1/endpoints lists dns_entries as DescribeVpcEndpoints does.
func TestEndpointsListDNSEntries(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	resp, err := http.Get(l.admin() + "/v1/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eps []struct {
		DNSEntries []struct {
			DNSName      string `json:"dns_name"`
			HostedZoneID string `json:"hosted_zone_id"`
		} `json:"dns_entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&eps); err != nil || len(eps) != 1 {
		t.Fatalf("decode: %v %v", err, eps)
	}
	want := []string{regionalOf(endpointID), zonalOf(endpointID, "us-east-1a"), zonalOf(endpointID, "us-east-1b")}
	var got []string
	for _, e := range eps[0].DNSEntries {
		got = append(got, e.DNSName)
		if e.HostedZoneID != "Z7HUB22UULQXV" {
			t.Errorf("%s: hosted zone %q", e.DNSName, e.HostedZoneID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dns_entries %v, want %v", got, want)
	}
}

// A Go test dials the endpoint by name through srv.Resolver() and gets
// the echo; the zonal name leads to that AZ's interface.
func TestDialEndpointByName(t *testing.T) {
	l := dnsLab(t)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	if !l.srv.DNSAddr().IsValid() || l.srv.DNSAddr().Addr() != l.addr("0.53") {
		t.Fatalf("DNS address %s", l.srv.DNSAddr())
	}
	d := net.Dialer{Resolver: l.srv.Resolver(), Timeout: 5 * time.Second}
	ctx := t.Context()
	for _, tt := range []struct{ name, iface string }{
		{regionalOf(endpointID), ""},
		{zonalOf(endpointID, "us-east-1b"), "2.10"},
	} {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(tt.name, "8443"))
		if err != nil {
			t.Fatalf("dial %s: %v", tt.name, err)
		}
		t.Cleanup(func() { c.Close() })
		if err := echo(t, c.(*net.TCPConn), "by name"); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := addrPort(c.RemoteAddr()).Addr(); tt.iface != "" && got != l.addr(tt.iface) {
			t.Fatalf("%s connected to %s, want %s", tt.name, got, l.addr(tt.iface))
		}
	}
}

// Names follow the configuration, not the state: a rejected endpoint
// still resolves (DNS does not gate traffic in AWS); a reload adds names.
func TestDNSFollowsReload(t *testing.T) {
	l := dnsLab(t).start()
	r := l.srv.Resolver()
	lookup := func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.LookupHost(ctx, name)
	}
	if err := l.srv.Reject(endpointID); err != nil {
		t.Fatal(err)
	}
	if got, err := lookup(regionalOf(endpointID)); err != nil || len(got) != 2 {
		t.Fatalf("rejected endpoint: %v %v, want both interfaces", got, err)
	}
	if _, err := lookup("api.partner.example"); err == nil {
		t.Fatal("private name answered before it is configured")
	}
	y := strings.Replace(l.yaml, "    load_balancer:", "    private_dns_name: api.partner.example\n    load_balancer:", 1)
	y = strings.Replace(y, "    security_groups: [sg-endpoint]\n", "    security_groups: [sg-endpoint]\n    private_dns_enabled: true\n", 1)
	y += "  - {id: vpce-0333333333333333c, service: vpce-svc-03d5ebb7d9579a2b3, interfaces: [{subnet: subnet-c1, ip: " + l.p + ".1.30}]}\n"
	cfg, err := config.Parse("reload.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"api.partner.example":                {l.p + ".1.10", l.p + ".2.10"},
		regionalOf("vpce-0333333333333333c"): {l.p + ".1.30"},
	}
	for name, addrs := range want {
		if got, err := lookup(name); err != nil || !slices.Equal(got, addrs) {
			t.Fatalf("after reload %s: %v %v, want %v", name, got, err, addrs)
		}
	}
	if got := l.srv.Endpoint(endpointID).DNSEntries; len(got) != 4 || got[3].DNSName != "api.partner.example" {
		t.Fatalf("entries after reload: %+v", got)
	}
}

func TestDNSListenInUse(t *testing.T) {
	p := labNet()
	busy, err := net.ListenPacket("udp", p+".0.53:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l := newLab(t, false, config.PlacementFirstData, `dns: {listen: "off"}`, `dns: {listen: "`+busy.LocalAddr().String()+`"}`)
	_, err = Start(l.cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "dns.listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start with a busy dns.listen: %v", err)
	}
}

func TestResolverWithDNSOff(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	_, err := l.srv.Resolver().LookupHost(t.Context(), regionalOf(endpointID))
	if err == nil || !strings.Contains(err.Error(), "dns.listen") {
		t.Fatalf("lookup with DNS off: %v", err)
	}
	if l.srv.DNSAddr() != (netip.AddrPort{}) {
		t.Fatalf("DNSAddr %s with DNS off", l.srv.DNSAddr())
	}
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"})) // no DNS server: nothing to do, no panic
}

// The metric is on the server's registry (served at /metrics).
func TestDNSMetricServed(t *testing.T) {
	l := dnsLab(t).start()
	l.srv.Resolver().LookupHost(t.Context(), regionalOf(endpointID))
	resp, err := http.Get(l.admin() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `privlink_dns_queries_total{rcode="NOERROR"}`) {
		t.Fatal("privlink_dns_queries_total missing from /metrics")
	}
}

// An endpoint waiting for acceptance resolves like any other: in AWS the
// endpoint's state, not DNS, keeps its traffic out.
func TestPendingEndpointResolves(t *testing.T) {
	l := dnsLab(t, "  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n").start()
	if st := l.srv.Endpoint(endpointID).State; st != "pendingAcceptance" {
		t.Fatalf("endpoint state %q, want pendingAcceptance", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := l.srv.Resolver().LookupHost(ctx, regionalOf(endpointID))
	if err != nil || len(got) != 2 {
		t.Fatalf("pendingAcceptance endpoint: %v %v, want both interfaces", got, err)
	}
	if got, err := l.srv.Resolver().LookupHost(ctx, zonalOf(endpointID, "us-east-1a")); err != nil || len(got) != 1 {
		t.Fatalf("its zonal name: %v %v, want one interface", got, err)
	}
}
