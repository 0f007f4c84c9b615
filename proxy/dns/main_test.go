package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/privlink/privlink/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// net53 hands every test its own 127.53.N.0/24 (no other package's tests
// use 127.53), so servers never share an address.
var net53 atomic.Int32

func testNet() string { return fmt.Sprintf("127.53.%d", 1+(net53.Add(1)-1)%250) }

// zoneYAML has an endpoint service with a private name (two AZs), an AWS
// service (ssm) and a second endpoint of the first service without private
// DNS. Edits are old→new replacements.
const zoneYAML = `
region: us-east-1
admin: {listen: "off"}
dns: {listen: "off"}
subnets:
  - {id: subnet-c1, az: use1-az1, cidr: 127.53.201.0/24}
  - {id: subnet-c2, az: use1-az2, cidr: 127.53.202.0/24}
  - {id: subnet-p1, az: use1-az1, cidr: 127.53.210.0/24}
  - {id: subnet-p2, az: use1-az2, cidr: 127.53.211.0/24}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    private_dns_name: api.partner.example
    load_balancer:
      nodes: [{subnet: subnet-p1, ip: 127.53.210.5}, {subnet: subnet-p2, ip: 127.53.211.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups: [{name: tg, port: 9443, targets: [{ip: 127.53.210.20, subnet: subnet-p1}]}]
  - id: vpce-svc-0ssm0000000000000
    aws_service: ssm
    load_balancer:
      nodes: [{subnet: subnet-p1, ip: 127.53.210.6}]
      listeners: [{port: 443, target_group: tg}]
    target_groups: [{name: tg, port: 9443, targets: [{ip: 127.53.210.21, subnet: subnet-p1}]}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    private_dns_enabled: true
    interfaces: [{subnet: subnet-c1, ip: 127.53.201.10}, {subnet: subnet-c2, ip: 127.53.202.10}]
  - id: vpce-0fe5b17a0707d6abc
    service: vpce-svc-0ssm0000000000000
    private_dns_enabled: true
    interfaces: [{subnet: subnet-c1, ip: 127.53.201.11}]
  - id: vpce-0222222222222222b
    service: vpce-svc-03d5ebb7d9579a2b3
    interfaces: [{subnet: subnet-c2, ip: 127.53.202.12}]
`

// Names of zoneYAML's endpoints (the suffixes are pinned: they must never change).
const (
	regionalName = "vpce-0c1308d7312217abc-SUFFIX.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
	zonalName1a  = "vpce-0c1308d7312217abc-SUFFIX-us-east-1a.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
	zonalName1b  = "vpce-0c1308d7312217abc-SUFFIX-us-east-1b.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
)

func testConfig(t testing.TB, edits ...string) *config.Config {
	t.Helper()
	y := zoneYAML
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(y, edits[i]) {
			t.Fatalf("edit %q: not in the test topology", edits[i])
		}
		y = strings.Replace(y, edits[i], edits[i+1], 1)
	}
	cfg, err := config.Parse(t.Name()+".yaml", []byte(y))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

func name(n string) string { return strings.ReplaceAll(n, "SUFFIX", Suffix("vpce-0c1308d7312217abc")) }

// startServer runs a DNS server for cfg on a fresh 127.53.N.1, port 0.
func startServer(t *testing.T, cfg *config.Config, opts Options) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Listen = testNet() + ".1:0"
	opts.Registerer = reg
	if opts.Upstream == "" {
		opts.Upstream = config.UpstreamOff
	}
	s, err := Start(Compile(cfg), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

// query asks addr over network ("udp" or "tcp"), as dig would.
func query(t *testing.T, addr netip.AddrPort, network, qname string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(qname), qtype)
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", qname, mdns.TypeToString[qtype], network, err)
	}
	return r
}

// addrs are the A records of an answer, as strings.
func addrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// fakeUpstream is a resolver on 127.53.N.2 answering every A query with
// 192.0.2.1 (a documentation address: data only, never dialled), over UDP
// and TCP; it counts the queries it got.
type fakeUpstream struct {
	addr    netip.AddrPort
	queries atomic.Int32
	tcp     atomic.Int32
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	pc, ln, err := bind(testNet() + ".2:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = netip.MustParseAddrPort(pc.LocalAddr().String())
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		u.queries.Add(1)
		if w.RemoteAddr().Network() == "tcp" {
			u.tcp.Add(1)
		}
		m := new(mdns.Msg).SetReply(req)
		q := req.Question[0]
		if q.Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
				A: netip.MustParseAddr("192.0.2.1").AsSlice()}}
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() { defer close(done); srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { srv.Shutdown(); <-done })
	}
	return u
}
