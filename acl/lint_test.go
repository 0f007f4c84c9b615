package acl

import (
	"testing"

	"github.com/privlink/privlink/config"
)

func TestLint(t *testing.T) {
	y := `subnets:
  - {id: subnet-a, az: use1-az1, cidr: 127.64.1.0/24}
security_groups:
  - id: sg-a
    ingress:
      - {protocol: tcp, ports: "443", cidr: 127.64.0.0/16}
      - {protocol: tcp, ports: "80", cidr: 127.64.0.0/16}
      - {protocol: tcp, ports: "443", cidr: 127.64.0.0/16}
      - {protocol: all, ports: "443", cidr: 127.64.0.0/16}
      - {protocol: all, cidr: 127.64.0.0/16}
network_acls:
  - id: acl-a
    ingress:
      - {rule: 300, protocol: tcp, ports: "443", cidr: 127.64.1.0/24, action: allow}
      - {rule: 100, protocol: tcp, ports: 1-1000, cidr: 127.64.0.0/17, action: deny}
      - {rule: 200, protocol: tcp, ports: 1001-65535, cidr: 127.64.0.0/16, action: allow}
      - {rule: 400, protocol: all, cidr: 127.64.0.0/16, action: allow}
      - {rule: 500, protocol: tcp, cidr: 127.64.0.0/16, action: allow}
      - {rule: 600, protocol: udp, cidr: 127.64.0.0/16, action: allow}
      - {rule: 700, protocol: tcp, cidr: 10.0.0.0/8, action: allow}
    egress:
      - {rule: 100, protocol: tcp, ports: 1-1000, cidr: 127.64.0.0/24, action: allow}
      - {rule: 110, protocol: tcp, ports: 1-1000, cidr: 127.64.1.0/24, action: allow}
      - {rule: 120, protocol: tcp, ports: 500-600, cidr: 127.64.0.0/23, action: deny}
      - {rule: 130, protocol: tcp, ports: 500-1001, cidr: 127.64.0.0/23, action: deny}
`
	cfg, err := config.Parse("lint.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"lint.yaml:8: security_groups[0].ingress[2]: duplicates ingress[0] of sg-a (AWS refuses duplicate rules)",
		"lint.yaml:10: security_groups[0].ingress[4]: duplicates ingress[3] of sg-a (AWS refuses duplicate rules)",
		"lint.yaml:14: network_acls[0].ingress[0]: rule 300 can never match: lower-numbered rule 100 already decides all of its traffic",
		"lint.yaml:18: network_acls[0].ingress[4]: rule 500 can never match: lower-numbered rule 400 already decides all of its traffic",
		"lint.yaml:19: network_acls[0].ingress[5]: rule 600 can never match: lower-numbered rule 400 already decides all of its traffic",
		"lint.yaml:24: network_acls[0].egress[2]: rule 120 can never match: lower-numbered rules 100, 110 already decide all of its traffic",
	}
	got := Lint(cfg)
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i].Error()
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("warning %d:\n got %s\nwant %s", i, g, w)
		}
	}
}
