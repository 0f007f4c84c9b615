package dns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privlink/privlink/config"
)

// dig-equivalent queries over real UDP and TCP sockets.
func TestAnswers(t *testing.T) {
	s, _ := startServer(t, testConfig(t), Options{})
	ssm := "vpce-0fe5b17a0707d6abc-" + Suffix("vpce-0fe5b17a0707d6abc")
	both := []string{"127.53.201.10", "127.53.202.10"}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		addrs []string
		soa   bool // a negative answer carries the zone's SOA
	}{
		{"regional: every interface", name(regionalName), mdns.TypeA, mdns.RcodeSuccess, both, false},
		{"zonal: its AZ's interface", name(zonalName1b), mdns.TypeA, mdns.RcodeSuccess, []string{"127.53.202.10"}, false},
		{"any case", strings.ToUpper(name(zonalName1a)), mdns.TypeA, mdns.RcodeSuccess, []string{"127.53.201.10"}, false},
		{"private name", "api.partner.example", mdns.TypeA, mdns.RcodeSuccess, both, false},
		{"AWS service endpoint name", ssm + "-us-east-1a.ssm.us-east-1.vpce.amazonaws.com", mdns.TypeA, mdns.RcodeSuccess, []string{"127.53.201.11"}, false},
		{"AWS service private name", "ssm.us-east-1.amazonaws.com", mdns.TypeA, mdns.RcodeSuccess, []string{"127.53.201.11"}, false},
		{"ANY answers A", name(regionalName), mdns.TypeANY, mdns.RcodeSuccess, both, false},
		{"AAAA: NODATA", name(regionalName), mdns.TypeAAAA, mdns.RcodeSuccess, nil, true},
		{"MX: NODATA", "api.partner.example", mdns.TypeMX, mdns.RcodeSuccess, nil, true},
		{"unknown vpce name: NXDOMAIN", "vpce-0nope-abcdefgh.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com", mdns.TypeA, mdns.RcodeNameError, nil, true},
		{"another region's vpce name: NXDOMAIN", "vpce-0c1308d7312217abc-abcdefgh.vpce-svc-1.eu-west-1.vpce.amazonaws.com", mdns.TypeA, mdns.RcodeNameError, nil, true},
		{"under a private name: NXDOMAIN", "www.api.partner.example", mdns.TypeA, mdns.RcodeNameError, nil, true},
		{"outside, upstream off: REFUSED", "example.com", mdns.TypeA, mdns.RcodeRefused, nil, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				r := query(t, s.Addr(), network, tt.qname, tt.qtype)
				if r.Rcode != tt.rcode || !slices.Equal(addrs(r), tt.addrs) || len(r.Answer) != len(tt.addrs) {
					t.Fatalf("rcode %s answer %v; want %s %v\n%v", mdns.RcodeToString[r.Rcode], addrs(r), mdns.RcodeToString[tt.rcode], tt.addrs, r)
				}
				if tt.soa != (len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == mdns.TypeSOA) {
					t.Fatalf("authority %v, want an SOA: %v", r.Ns, tt.soa)
				}
				if len(r.Answer) > 0 {
					if h := r.Answer[0].Header(); h.Ttl != 60 || h.Name != mdns.Fqdn(tt.qname) || !r.Authoritative {
						t.Fatalf("answer header %+v (authoritative %v), want TTL 60 and the name as asked", h, r.Authoritative)
					}
				}
			})
		}
	}
}

// A private name that the endpoint does not answer (private DNS off, a
// VPC DNS attribute off) resolves as it would publicly: forwarded.
func TestPrivateNameWithoutPrivateDNSIsForwarded(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   string
	}{
		{"private DNS enabled", func(*config.Config) {}, "127.53.201.10"},
		{"private_dns_enabled false", func(c *config.Config) { c.Endpoints[0].PrivateDNSEnabled = false }, "192.0.2.1"},
		{"enable_dns_hostnames false", func(c *config.Config) { c.VPC.EnableDNSHostnames = false }, "192.0.2.1"},
		{"enable_dns_support false", func(c *config.Config) { c.VPC.EnableDNSSupport = false }, "192.0.2.1"},
	}
	up := startUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(cfg)
			s, _ := startServer(t, cfg, Options{Upstream: up.addr.String()})
			r := query(t, s.Addr(), "udp", "api.partner.example", mdns.TypeA)
			if got := addrs(r); r.Rcode != mdns.RcodeSuccess || len(got) == 0 || got[0] != tt.want {
				t.Fatalf("%s %v, want %s", mdns.RcodeToString[r.Rcode], got, tt.want)
			}
		})
	}
}

func TestForwarding(t *testing.T) {
	up := startUpstream(t)
	tests := []struct {
		name     string
		upstream string
		network  string
		rcode    int
		via      string // "udp", "tcp" or "" (not forwarded)
	}{
		{"IP:PORT over UDP", up.addr.String(), "udp", mdns.RcodeSuccess, "udp"},
		{"IP:PORT over TCP", up.addr.String(), "tcp", mdns.RcodeSuccess, "tcp"},
		{"off: REFUSED", config.UpstreamOff, "udp", mdns.RcodeRefused, ""},
		{"unreachable: SERVFAIL", testNet() + ".3:53", "udp", mdns.RcodeServerFailure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startServer(t, testConfig(t), Options{Upstream: tt.upstream, ForwardTimeout: 300 * time.Millisecond})
			before, beforeTCP := up.queries.Load(), up.tcp.Load()
			r := query(t, s.Addr(), tt.network, "www.example.com", mdns.TypeA)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
			}
			forwarded, overTCP := up.queries.Load()-before, up.tcp.Load()-beforeTCP
			if (tt.via != "") != (forwarded == 1) || (tt.via == "tcp") != (overTCP == 1) {
				t.Fatalf("upstream got %d queries (%d over TCP), want via %q", forwarded, overTCP, tt.via)
			}
			if tt.via != "" && !slices.Equal(addrs(r), []string{"192.0.2.1"}) {
				t.Fatalf("answer %v, want the upstream's", addrs(r))
			}
		})
	}
}

// upstream: system reads the nameservers of resolv.conf; without any,
// other names get SERVFAIL.
func TestSystemUpstream(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, fmt.Appendf(nil, "nameserver %s\n", up.addr.Addr()), 0o644)
	s, err := New(Compile(testConfig(t)), Options{Upstream: config.UpstreamSystem, ResolvConf: good})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.up.Load().servers; !slices.Equal(got, []string{up.addr.Addr().String() + ":53"}) {
		t.Fatalf("servers from resolv.conf %v", got)
	}
	missing := filepath.Join(dir, "missing.conf")
	s, err = New(Compile(testConfig(t)), Options{Upstream: config.UpstreamSystem, ResolvConf: missing})
	if err != nil || len(s.up.Load().servers) != 0 || !strings.Contains(s.up.Load().problem, "cannot read") {
		t.Fatalf("missing resolv.conf: %v %+v", err, s.up.Load())
	}
	r := s.Answer(context.Background(), new(mdns.Msg).SetQuestion("example.com.", mdns.TypeA), false)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("without a system resolver: %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}

// privlink never forwards to itself (a resolv.conf naming it would loop).
func TestWithoutSelf(t *testing.T) {
	tests := []struct {
		self string
		in   []string
		want []string
	}{
		{"127.0.0.1:53", []string{"127.0.0.1:53", "10.0.0.2:53"}, []string{"10.0.0.2:53"}},
		{"0.0.0.0:53", []string{"127.0.0.53:53", "10.0.0.2:53"}, []string{"10.0.0.2:53"}},
		{"127.0.0.1:8053", []string{"127.0.0.1:53"}, []string{"127.0.0.1:53"}},
	}
	for _, tt := range tests {
		s := &Server{addr: netip.MustParseAddrPort(tt.self)}
		if got := s.withoutSelf(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("self %s: withoutSelf(%v) = %v, want %v", tt.self, tt.in, got, tt.want)
		}
	}
}

// Update swaps the zone: a name added by a reload resolves at once (the
// negative answer's SOA minimum is the zone TTL, not hours).
func TestUpdateAddsName(t *testing.T) {
	cfg := testConfig(t)
	s, _ := startServer(t, cfg, Options{})
	newName := "vpce-0333333333333333c-" + Suffix("vpce-0333333333333333c") + ".vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
	r := query(t, s.Addr(), "udp", newName, mdns.TypeA)
	if r.Rcode != mdns.RcodeNameError || r.Ns[0].(*mdns.SOA).Minttl != 60 {
		t.Fatalf("before: %v", r)
	}
	cfg = testConfig(t, "endpoints:\n", "endpoints:\n  - {id: vpce-0333333333333333c, service: vpce-svc-03d5ebb7d9579a2b3, interfaces: [{subnet: subnet-c1, ip: 127.53.201.30}]}\n")
	s.Update(Compile(cfg))
	r = query(t, s.Addr(), "udp", newName, mdns.TypeA)
	if !slices.Equal(addrs(r), []string{"127.53.201.30"}) {
		t.Fatalf("after the update: %v", r)
	}
}

// manyAZs is one endpoint with an interface in each of 40 AZs: its
// regional answer (40 A records) does not fit a 512-byte UDP reply.
func manyAZs(t *testing.T) *config.Config {
	var b strings.Builder
	b.WriteString("region: us-east-1\nadmin: {listen: \"off\"}\ndns: {listen: \"off\"}\nsubnets:\n")
	var nodes, ifaces []string
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "  - {id: c%d, az: az%d, az_name: us-east-1-z%d, cidr: 127.53.%d.0/28}\n", i, i, i, i)
		fmt.Fprintf(&b, "  - {id: p%d, az: az%d, cidr: 127.53.%d.16/28}\n", i, i, i)
		nodes = append(nodes, fmt.Sprintf("{subnet: p%d, ip: 127.53.%d.20}", i, i))
		ifaces = append(ifaces, fmt.Sprintf("{subnet: c%d, ip: 127.53.%d.10}", i, i))
	}
	fmt.Fprintf(&b, "services:\n  - id: vpce-svc-big\n    load_balancer:\n      nodes: [%s]\n      listeners: [{port: 80, target_group: tg}]\n", strings.Join(nodes, ", "))
	b.WriteString("    target_groups: [{name: tg, port: 80, targets: [{ip: 127.53.1.21, subnet: p1}]}]\n")
	fmt.Fprintf(&b, "endpoints:\n  - id: vpce-0big\n    service: vpce-svc-big\n    interfaces: [%s]\n", strings.Join(ifaces, ", "))
	cfg, err := config.Parse("many.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A large answer: over UDP it is truncated with the TC bit; over TCP it
// is whole; Go's resolver falls back to TCP by itself.
func TestTCPFallbackOnLargeAnswer(t *testing.T) {
	s, _ := startServer(t, manyAZs(t), Options{})
	big := "vpce-0big-" + Suffix("vpce-0big") + ".vpce-svc-big.us-east-1.vpce.amazonaws.com"
	udp := query(t, s.Addr(), "udp", big, mdns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 40 {
		t.Fatalf("UDP: TC %v with %d answers, want truncated", udp.Truncated, len(udp.Answer))
	}
	if tcp := query(t, s.Addr(), "tcp", big, mdns.TypeA); tcp.Truncated || len(tcp.Answer) != 40 {
		t.Fatalf("TCP: TC %v with %d answers, want all 40", tcp.Truncated, len(tcp.Answer))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := s.Resolver().LookupNetIP(ctx, "ip4", big)
	if err != nil || len(ips) != 40 {
		t.Fatalf("Go resolver: %d addresses, %v; want 40", len(ips), err)
	}
}

// The AZ-outage hook: an endpoint's interfaces in an AZ that is out leave
// its regional and private answers; its zonal name still answers; with
// every AZ out the answer fails open; another endpoint's outage, or the
// same AZ for another endpoint, changes nothing.
func TestSetOutages(t *testing.T) {
	s, _ := startServer(t, testConfig(t), Options{})
	ask := func(n string) []string { return addrs(query(t, s.Addr(), "udp", n, mdns.TypeA)) }
	const ep, other = "vpce-0c1308d7312217abc", "vpce-0222222222222222b"
	s.SetOutages([]Outage{{other, "use1-az1"}, {other, "use1-az2"}})
	if got := ask(name(regionalName)); len(got) != 2 {
		t.Fatalf("regional with another endpoint's outages: %v, want both", got)
	}
	s.SetOutages([]Outage{{ep, "use1-az1"}})
	if got := ask(name(regionalName)); !slices.Equal(got, []string{"127.53.202.10"}) {
		t.Fatalf("regional with az1 out: %v", got)
	}
	if got := ask("api.partner.example"); !slices.Equal(got, []string{"127.53.202.10"}) {
		t.Fatalf("private with az1 out: %v", got)
	}
	if got := ask(name(zonalName1a)); !slices.Equal(got, []string{"127.53.201.10"}) {
		t.Fatalf("zonal of az1 while out: %v", got)
	}
	s.SetOutages([]Outage{{ep, "use1-az1"}, {ep, "use1-az2"}})
	if got := ask(name(regionalName)); len(got) != 2 {
		t.Fatalf("every AZ out: %v, want both (fail open)", got)
	}
	s.SetOutages(nil)
	if got := ask(name(regionalName)); len(got) != 2 {
		t.Fatalf("back: %v", got)
	}
}

func TestQueriesMetric(t *testing.T) {
	s, reg := startServer(t, testConfig(t), Options{})
	query(t, s.Addr(), "udp", name(regionalName), mdns.TypeA)
	query(t, s.Addr(), "tcp", name(regionalName), mdns.TypeAAAA)
	query(t, s.Addr(), "udp", "nope.vpce.amazonaws.com", mdns.TypeA)
	query(t, s.Addr(), "udp", "example.com", mdns.TypeA)
	want := `
# HELP privlink_dns_queries_total DNS queries answered, by response code (NOERROR, NXDOMAIN, REFUSED, SERVFAIL, FORMERR, NOTIMP).
# TYPE privlink_dns_queries_total counter
privlink_dns_queries_total{rcode="NOERROR"} 2
privlink_dns_queries_total{rcode="NXDOMAIN"} 1
privlink_dns_queries_total{rcode="REFUSED"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "privlink_dns_queries_total"); err != nil {
		t.Fatal(err)
	}
}

// miekg's header checks (two questions) answer FORMERR, counted too.
func TestMalformedQueryOverSocket(t *testing.T) {
	s, _ := startServer(t, testConfig(t), Options{})
	m := new(mdns.Msg).SetQuestion("a.example.", mdns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, s.Addr().String())
	if err != nil || r.Rcode != mdns.RcodeFormatError {
		t.Fatalf("two questions: %v %v", r, err)
	}
	if n := testutil.ToFloat64(s.m.queries.WithLabelValues("FORMERR")); n != 1 {
		t.Fatalf("FORMERR counted %v times", n)
	}
}

// A flood of forwarded queries is bounded: past MaxForwards, SERVFAIL at once.
func TestForwardLimit(t *testing.T) {
	s, err := New(Compile(testConfig(t)), Options{Upstream: "127.53.254.254:53", MaxForwards: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.fwd <- struct{}{} // one forward in flight
	start := time.Now()
	r := s.Answer(context.Background(), new(mdns.Msg).SetQuestion("example.com.", mdns.TypeA), false)
	if r.Rcode != mdns.RcodeServerFailure || time.Since(start) > time.Second {
		t.Fatalf("over the limit: %s after %s", mdns.RcodeToString[r.Rcode], time.Since(start))
	}
	s.Close()
}

func TestListenErrors(t *testing.T) {
	s, _ := startServer(t, testConfig(t), Options{})
	_, err := Start(Compile(testConfig(t)), Options{Listen: s.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second server on %s: %v", s.Addr(), err)
	}
	if _, err := Start(Compile(testConfig(t)), Options{Listen: "nonsense"}); err == nil {
		t.Fatal("listen nonsense: no error")
	}
}

// A subnet's explicit az_name names its zonal DNS name (us-east-1-z7 here,
// not a name derived from the AZ ID), and that name answers with the one
// interface of that AZ.
func TestZonalNameOfExplicitAZName(t *testing.T) {
	s, _ := startServer(t, manyAZs(t), Options{})
	zonal := "vpce-0big-" + Suffix("vpce-0big") + "-us-east-1-z7.vpce-svc-big.us-east-1.vpce.amazonaws.com"
	if got := addrs(query(t, s.Addr(), "udp", zonal, mdns.TypeA)); !slices.Equal(got, []string{"127.53.7.10"}) {
		t.Fatalf("zonal name of az_name us-east-1-z7: %v, want [127.53.7.10]", got)
	}
	derived := "vpce-0big-" + Suffix("vpce-0big") + "-us-east-1a.vpce-svc-big.us-east-1.vpce.amazonaws.com"
	if r := query(t, s.Addr(), "udp", derived, mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("a derived zonal name where az_name is set: rcode %s, want NXDOMAIN", mdns.RcodeToString[r.Rcode])
	}
}
