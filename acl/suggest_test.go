package acl

import (
	"net/netip"
	"regexp"
	"testing"

	"github.com/privlink/privlink/config"
)

// numbersYAML shares one NACL between the client and the endpoint subnet,
// with no ingress rule and an egress deny at 100, and has two listeners:
// the explanation needs eight NACL rules, four per direction of one NACL.
const numbersYAML = `
subnets:
  - {id: subnet-client, az: use1-az1, cidr: 127.60.1.0/24, network_acl: acl-shared}
  - {id: subnet-ep, az: use1-az1, cidr: 127.60.2.0/24, network_acl: acl-shared}
  - {id: subnet-node, az: use1-az1, cidr: 127.60.10.0/24}
clients:
  - {cidr: 127.60.1.50/32, subnet: subnet-client}
security_groups:
  - id: sg-ep
    ingress: [{protocol: tcp, ports: 8443-8444, cidr: 127.60.1.0/24}]
network_acls:
  - id: acl-shared
    ingress: []
    egress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: deny}]
services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      nodes: [{subnet: subnet-node, ip: 127.60.10.5}]
      listeners: [{port: 8443, target_group: tg}, {port: 8444, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, targets: [{ip: 127.60.10.20, subnet: subnet-node}]}
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [sg-ep]
    interfaces: [{subnet: subnet-ep, ip: 127.60.2.10}]
`

var suggestedRule = regexp.MustCompile(`add to network ACL (\S+) (ingress|egress)[^{]*\{rule: (\d+),`)

// Suggested NACL rules can be pasted together: no two use one number in
// one NACL direction, each stays where it must (an allow below the deny at
// 100, the others after the last rule), and one rule needed by two paths
// is suggested once.
func TestSuggestedNACLRuleNumbersAreFree(t *testing.T) {
	cfg, err := config.Parse("numbers.yaml", []byte(numbersYAML))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Explain(Compile(cfg), Query{From: netip.MustParseAddr("127.60.1.50"), FromPort: 40000, Endpoint: "vpce-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ingress 10": `from 127.60.1.50/32 port 8443`, "ingress 20": `from 127.60.2.10/32 port 40000`,
		"ingress 30": `from 127.60.1.50/32 port 8444`,
		"egress 99":  `to 127.60.2.10/32 port 8443`, "egress 98": `to 127.60.1.50/32 port 40000`,
		"egress 97": `to 127.60.2.10/32 port 8444`,
	}
	seen := map[string]string{}
	for _, s := range r.Suggestions {
		m := suggestedRule.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		key := m[2] + " " + m[3]
		if other, ok := seen[key]; ok {
			t.Errorf("rule %s of %s suggested twice:\n  %s\n  %s", m[3], m[1], other, s)
		}
		seen[key] = s
	}
	for key, what := range want {
		if s, ok := seen[key]; !ok || !regexp.MustCompile(regexp.QuoteMeta(what)).MatchString(s) {
			t.Errorf("no suggestion of rule %s for %s; got:\n%v", key, what, r.Suggestions)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d NACL suggestions, want %d:\n%v", len(seen), len(want), r.Suggestions)
	}
}
