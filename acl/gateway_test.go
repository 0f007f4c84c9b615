package acl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

const gatewayYAML = `
s3: {listen: 127.64.200.1:9000}
subnets:
  - {id: subnet-a, az: use1-az1, cidr: 127.64.201.0/24, network_acl: acl-a}
  - {id: subnet-b, az: use1-az2, cidr: 127.64.202.0/24}
  - {id: subnet-c, az: use1-az1, cidr: 127.64.203.0/24}
network_acls:
  - id: acl-a
    egress: [{rule: 100, protocol: tcp, ports: "9000", cidr: 127.64.200.0/24, action: allow}]
    ingress: [{rule: 100, protocol: tcp, ports: 32768-50000, cidr: 127.64.200.0/24, action: allow}]
clients:
  - {cidr: 127.64.201.50/32, subnet: subnet-a, security_groups: [sg-s3]}
  - {cidr: 127.64.201.60/32, subnet: subnet-a, security_groups: [sg-web]}
security_groups:
  - id: sg-s3
    egress: [{protocol: tcp, ports: "9000", destination_prefix_list: pl-63a5400a}]
  - id: sg-web
    egress: [{protocol: tcp, ports: "443", cidr: 0.0.0.0/0}]
route_tables:
  - id: rtb-a
    subnets: [subnet-a]
    routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}]
  - {id: rtb-b, subnets: [subnet-b]}
endpoints:
  - {id: vpce-0a1b2c3d4e5f60718, type: gateway, service: com.amazonaws.us-east-1.s3}
`

func gatewayEvaluator(t testing.TB) *Evaluator {
	t.Helper()
	cfg, err := config.Parse("gateway", []byte(gatewayYAML))
	if err != nil {
		t.Fatal(err)
	}
	return Compile(cfg)
}

func TestGatewayPath(t *testing.T) {
	g := gatewayEvaluator(t).Gateway()
	tests := []struct {
		name, client string
		endpoint     string
		denied       Hop
		rule         string
	}{
		{"routed, prefix list allowed", "127.64.201.50:40000", "vpce-0a1b2c3d4e5f60718", HopNone, ""},
		{"routed, unknown client", "127.64.201.7:40000", "vpce-0a1b2c3d4e5f60718", HopNone, ""},
		{"routed, SG without S3", "127.64.201.60:40000", "vpce-0a1b2c3d4e5f60718", HopClientSGEgress, "no matching rule"},
		{"routed, reply port outside the NACL", "127.64.201.7:55000", "vpce-0a1b2c3d4e5f60718", HopClientNACLIngressReturn, "acl-a implicit deny (*)"},
		{"table without route", "127.64.202.9:40000", "", HopRouteTable, "rtb-b has no route to pl-63a5400a (S3)"},
		{"subnet without table", "127.64.203.9:40000", "", HopRouteTable, "subnet-c has no route table (no route_tables entry lists it and none is main)"},
		{"no subnet", "127.9.9.9:40000", "", HopRouteTable, "the client is in no declared subnet, so no route table leads it to a gateway endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := netip.MustParseAddrPort(tt.client)
			var v Verdict
			ok := g.Check(c, &v)
			if ok != (tt.denied == HopNone) || v.Denied != tt.denied {
				t.Fatalf("Check = %v, denied at %s; want %s\n%+v", ok, v.Denied, tt.denied, v.Trace())
			}
			if by := v.DeniedBy(); by != nil && by.RuleText() != tt.rule {
				t.Fatalf("rule %q, want %q", by.RuleText(), tt.rule)
			}
			if got := g.Route(c.Addr()).Endpoint; got != tt.endpoint {
				t.Fatalf("route to %q, want %q", got, tt.endpoint)
			}
		})
	}
}

func TestGatewayCheckAllocatesNothing(t *testing.T) {
	g := gatewayEvaluator(t).Gateway()
	c := netip.MustParseAddrPort("127.64.201.50:40000")
	var v Verdict
	if n := testing.AllocsPerRun(100, func() { v.Reset(); g.Check(c, &v) }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}

func TestExplainGateway(t *testing.T) {
	e := gatewayEvaluator(t)
	r, err := ExplainGateway(e, netip.MustParseAddr("127.64.202.9"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"from 127.64.202.9 to S3 127.64.200.1:9000 (pl-63a5400a) through no gateway endpoint",
		"rtb-b has no route to pl-63a5400a (S3)  deny",
		"path: DENIED",
		"suggestion: add rtb-b to the route_tables of gateway endpoint vpce-0a1b2c3d4e5f60718",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	r, _ = ExplainGateway(e, netip.MustParseAddr("127.64.201.60"), 0)
	if r.Allowed || !strings.Contains(strings.Join(r.Suggestions, "\n"), "destination_prefix_list: pl-63a5400a") {
		t.Errorf("SG denial suggestions: %v", r.Suggestions)
	}
	r, _ = ExplainGateway(e, netip.MustParseAddr("127.64.201.7"), 0)
	if r.Allowed || r.Hops[3].Uncovered != "50001-60999" {
		t.Errorf("return path: allowed %v, uncovered %q", r.Allowed, r.Hops[3].Uncovered)
	}
	if _, err := Explain(e, Query{From: netip.MustParseAddr("127.64.201.7"), Endpoint: "vpce-0a1b2c3d4e5f60718"}); !errors.Is(err, ErrGatewayEndpoint) {
		t.Errorf("Explain of a gateway endpoint: %v", err)
	}
}
