package acl

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// base is a topology on 127.60.x.x: a consumer subnet with a known client,
// an endpoint subnet, a provider subnet with the node and the target.
// Placeholders {…} are replaced per test case.
const base = `
subnets:
  - {id: subnet-client, az: use1-az1, cidr: 127.60.1.0/24{CLIENT_NACL}}
  - {id: subnet-ep, az: use1-az1, cidr: 127.60.2.0/24{EP_NACL}}
  - {id: subnet-node, az: use1-az1, cidr: 127.60.10.0/24{NODE_NACL}}
  - {id: subnet-target, az: use1-az1, cidr: 127.60.11.0/24{TARGET_NACL}}
clients:
  - {cidr: 127.60.1.50/32, subnet: subnet-client, security_groups: [sg-client]}
  - {cidr: 127.60.1.60/32, subnet: subnet-client}
security_groups:
  - id: sg-client
{CLIENT_SG}
  - id: sg-ep
    ingress: [{protocol: tcp, ports: "8443", cidr: 127.60.1.0/24}]
  - id: sg-ep2
    ingress: [{protocol: tcp, ports: "8443", cidr: 127.60.3.0/24}]
  - id: sg-nlb
    ingress: [{protocol: tcp, ports: "8443", source_group: sg-client}]
  - id: sg-app
    ingress: [{protocol: tcp, ports: "9443", source_group: sg-nlb}, {protocol: tcp, ports: "9443", cidr: 127.60.10.5/32}]
network_acls:
{NACLS}
services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      security_groups: [{NLB_SGS}]
      enforce_inbound_rules_on_privatelink: {ENFORCE}
      nodes: [{subnet: subnet-node, ip: 127.60.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        targets: [{ip: 127.60.11.20, subnet: subnet-target, security_groups: [{TARGET_SGS}]}]
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [{EP_SGS}]
    interfaces: [{subnet: subnet-ep, ip: 127.60.2.10}]
`

var baseDefaults = map[string]string{
	"{CLIENT_NACL}": "", "{EP_NACL}": "", "{NODE_NACL}": "", "{TARGET_NACL}": "",
	"{CLIENT_SG}": "", "{NACLS}": "  []", "{NLB_SGS}": "", "{ENFORCE}": "true",
	"{TARGET_SGS}": "sg-app", "{EP_SGS}": "sg-ep",
}

// topo builds a configuration from base with the given replacements.
func topo(t testing.TB, repl map[string]string) *config.Config {
	t.Helper()
	y := base
	for k, def := range baseDefaults {
		v, ok := repl[k]
		if !ok {
			v = def
		}
		y = strings.ReplaceAll(y, k, v)
	}
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

var (
	iface  = netip.MustParseAddrPort("127.60.2.10:8443")
	node   = netip.MustParseAddr("127.60.10.5")
	target = netip.MustParseAddrPort("127.60.11.20:9443")
	svcID  = "vpce-svc-0123456789abcdef0"
)

func TestSmoke(t *testing.T) {
	e := Compile(topo(t, nil))
	p := e.Consumer(iface)
	if p == nil {
		t.Fatal("no consumer path")
	}
	var v Verdict
	if !p.Check(netip.MustParseAddrPort("127.60.1.50:40000"), &v) || !v.Allowed {
		t.Fatalf("denied: %+v", v.Trace())
	}
	pp := e.Provider(svcID, node, target)
	if pp == nil || !pp.Check(2000, &v) || !v.Allowed {
		t.Fatalf("provider denied: %+v", v.Trace())
	}
	if v.N != uint8(MaxHops) {
		t.Fatalf("recorded %d hops", v.N)
	}
	for _, h := range v.Trace() {
		t.Logf("%-28s %-8s %-30s %s", h.Hop, h.Outcome, h.Place, h.RuleText())
	}
}

func TestExplainSmoke(t *testing.T) {
	e := Compile(topo(t, map[string]string{"{EP_NACL}": ", network_acl: acl-ep", "{NACLS}": `  - id: acl-ep
    ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.60.0.0/16, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: 32768-40000, cidr: 127.60.0.0/16, action: allow}]`}))
	r, err := Explain(e, Query{From: netip.MustParseAddr("127.60.1.50"), Endpoint: "vpce-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	t.Log(b.String())
}
