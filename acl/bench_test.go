package acl

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// realistic builds the benchmark topology: every interface carries 5
// security groups of 60 rules each, every subnet a NACL of 30 rules per
// direction, the allowing rules last.
func realistic(tb testing.TB) *config.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString("subnets:\n")
	for i, s := range []string{"client", "ep", "node", "target"} {
		fmt.Fprintf(&b, "  - {id: subnet-%s, az: use1-az1, cidr: 127.63.%d.0/24, network_acl: acl-%s}\n", s, i+1, s)
	}
	b.WriteString("clients:\n  - {cidr: 127.63.1.50/32, subnet: subnet-client, security_groups: [sg-c0, sg-c1, sg-c2, sg-c3, sg-c4]}\n")
	b.WriteString("security_groups:\n")
	for _, kind := range []string{"c", "e", "n", "t"} {
		for g := range 5 {
			fmt.Fprintf(&b, "  - id: sg-%s%d\n    ingress:\n", kind, g)
			for r := range 60 {
				port, cidr := 10000+g*100+r, fmt.Sprintf("10.%d.%d.0/24", g, r)
				if g == 4 && r == 59 {
					port, cidr = 0, "127.63.0.0/16"
				}
				fmt.Fprintf(&b, "      - {protocol: tcp, ports: \"%s\", cidr: %s}\n", portOrAll(port), cidr)
			}
			fmt.Fprintf(&b, "    egress:\n")
			for r := range 60 {
				fmt.Fprintf(&b, "      - {protocol: tcp, ports: \"%d\", cidr: 10.%d.%d.0/24}\n", 20000+r, g, r)
			}
			if g == 4 {
				b.WriteString("      - {protocol: tcp, ports: \"8443\", destination_group: sg-e0}\n")
			}
		}
	}
	b.WriteString("network_acls:\n")
	for _, s := range []string{"client", "ep", "node", "target"} {
		fmt.Fprintf(&b, "  - id: acl-%s\n", s)
		for _, dir := range []string{"ingress", "egress"} {
			fmt.Fprintf(&b, "    %s:\n", dir)
			for r := range 30 {
				fmt.Fprintf(&b, "      - {rule: %d, protocol: tcp, ports: \"%d-%d\", cidr: 10.%d.0.0/16, action: deny}\n", 10+r*10, 1000+r, 2000+r, r)
			}
			b.WriteString("      - {rule: 1000, protocol: tcp, ports: 1024-65535, cidr: 127.63.0.0/16, action: allow}\n")
		}
	}
	b.WriteString(`services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      security_groups: [sg-n0, sg-n1, sg-n2, sg-n3, sg-n4]
      nodes: [{subnet: subnet-node, ip: 127.63.3.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, targets: [{ip: 127.63.4.20, subnet: subnet-target, security_groups: [sg-t0, sg-t1, sg-t2, sg-t3, sg-t4]}]}
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [sg-e0, sg-e1, sg-e2, sg-e3, sg-e4]
    interfaces: [{subnet: subnet-ep, ip: 127.63.2.10}]
`)
	cfg, err := config.Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func portOrAll(p int) string {
	if p == 0 {
		return "1-65535"
	}
	return fmt.Sprint(p)
}

var (
	benchIface  = netip.MustParseAddrPort("127.63.2.10:8443")
	benchClient = netip.MustParseAddrPort("127.63.1.50:40000")
	benchNode   = netip.MustParseAddr("127.63.3.5")
	benchTarget = netip.MustParseAddrPort("127.63.4.20:9443")
)

// fullPath is one decision as the data path makes it: both lookups and both checks.
func fullPath(e *Evaluator, v *Verdict) bool {
	v.Reset()
	c := e.Consumer(benchIface)
	if c == nil || !c.Check(benchClient, v) {
		return false
	}
	p := e.Provider("vpce-svc-0123456789abcdef0", benchNode, benchTarget)
	return p != nil && p.Check(40000, v)
}

func TestRealisticFullPath(t *testing.T) {
	e := Compile(realistic(t))
	var v Verdict
	if !fullPath(e, &v) || int(v.N) != MaxHops {
		t.Fatalf("denied or short trace:\n%s", trace(&v))
	}
	for _, h := range v.Trace() {
		if h.Outcome != Allow {
			t.Fatalf("hop %s did not evaluate rules:\n%s", h.Hop, trace(&v))
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { fullPath(e, &v) }); allocs != 0 {
		t.Fatalf("%v allocations per decision", allocs)
	}
}

func BenchmarkFullPath(b *testing.B) {
	e := Compile(realistic(b))
	var v Verdict
	b.ReportAllocs()
	for b.Loop() {
		if !fullPath(e, &v) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkFullPathNoTrace(b *testing.B) {
	e := Compile(realistic(b))
	b.ReportAllocs()
	for b.Loop() {
		c := e.Consumer(benchIface)
		if !c.Check(benchClient, nil) || !e.Provider("vpce-svc-0123456789abcdef0", benchNode, benchTarget).Check(40000, nil) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	cfg := realistic(b)
	b.ReportAllocs()
	for b.Loop() {
		Compile(cfg)
	}
}
