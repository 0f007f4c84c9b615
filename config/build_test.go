package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const builtYAML = `
admin: {listen: "off"}
dns: {listen: "off"}
subnets:
  - {id: subnet-c, az: use1-az1, cidr: 127.0.1.0/24}
  - {id: subnet-p, az: use1-az1, cidr: 127.0.10.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.1.0/24}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-p, ip: 127.0.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        proxy_protocol_v2: true
        targets: [{ip: 127.0.10.20, subnet: subnet-p}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c, ip: 127.0.1.10}]
`

// built is builtYAML written in Go.
func built() *Config {
	c := New("built")
	c.Admin.Listen, c.DNS.Listen = "off", "off"
	c.Subnets = []Subnet{
		{ID: "subnet-c", AZ: "use1-az1", CIDR: netip.MustParsePrefix("127.0.1.0/24")},
		{ID: "subnet-p", AZ: "use1-az1", CIDR: netip.MustParsePrefix("127.0.10.0/24")},
	}
	c.SecurityGroups = []SecurityGroup{{ID: "sg-endpoint", Ingress: []SGRule{
		{Protocol: ProtocolTCP, Ports: PortRange{8443, 8443}, CIDR: netip.MustParsePrefix("127.0.1.0/24")}}}}
	svc := NewService("vpce-svc-03d5ebb7d9579a2b3")
	svc.LoadBalancer.Nodes = []Node{{Subnet: "subnet-p", IP: netip.MustParseAddr("127.0.10.5")}}
	svc.LoadBalancer.Listeners = []Listener{NewListener(8443, "tg")}
	tg := NewTargetGroup("tg", 9443)
	tg.ProxyProtocolV2 = true
	tg.Targets = []Target{{IP: netip.MustParseAddr("127.0.10.20"), Subnet: "subnet-p"}}
	svc.TargetGroups = []TargetGroup{tg}
	c.Services = []Service{svc}
	c.Endpoints = []Endpoint{{ID: "vpce-0c1308d7312217abc", Service: svc.ID, SecurityGroups: []string{"sg-endpoint"},
		Interfaces: []Interface{{Subnet: "subnet-c", IP: netip.MustParseAddr("127.0.1.10")}}}}
	return c
}

// TestValidateBuiltEqualsParsed: a configuration built in Go from the
// constructors and validated is the configuration the same YAML parses to.
func TestValidateBuiltEqualsParsed(t *testing.T) {
	parsed, err := Parse("built", []byte(builtYAML))
	if err != nil {
		t.Fatal(err)
	}
	c := built()
	if err := Validate(c); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	parsed.lines = nil
	if !reflect.DeepEqual(c, parsed) {
		t.Errorf("built:\n%+v\nparsed:\n%+v", c, parsed)
	}
}

// TestValidateAgain: validating a parsed configuration again finds nothing
// new and keeps its values (tools edit a parsed Config, then re-validate).
func TestValidateAgain(t *testing.T) {
	parsed, err := Parse("again.yaml", []byte(builtYAML))
	if err != nil {
		t.Fatal(err)
	}
	before := *parsed
	if err := Validate(parsed); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !reflect.DeepEqual(&before, parsed) {
		t.Errorf("Validate changed a valid parsed configuration")
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"dangling subnet", func(c *Config) { c.Endpoints[0].Interfaces[0].Subnet = "subnet-x" },
			[]string{`built: endpoints[0].interfaces[0].subnet: `}},
		{"node outside its subnet", func(c *Config) { c.Services[0].LoadBalancer.Nodes[0].IP = netip.MustParseAddr("127.0.1.5") },
			[]string{`built: services[0].load_balancer.nodes[0].ip: `}},
		{"edited parse keeps lines", nil, []string{`edited.yaml:23: endpoints[0].interfaces[0].subnet: `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := built()
			if tt.edit != nil {
				tt.edit(c)
			} else {
				var err error
				if c, err = Parse("edited.yaml", []byte(builtYAML)); err != nil {
					t.Fatal(err)
				}
				c.Endpoints[0].Interfaces[0].Subnet = "subnet-x"
			}
			err := Validate(c)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Validate = %v, want Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNearestLine(t *testing.T) {
	c, err := Parse("lines.yaml", []byte(builtYAML))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"services[0].load_balancer.nodes[0].ip": 12,
		"services[0].load_balancer.nodes[0].az": 12, // omitted: its node's line
		"endpoints[0]":                          20,
		"vpc.enable_dns_support":                0,
	} {
		if got := c.NearestLine(path); got != want {
			t.Errorf("NearestLine(%s) = %d, want %d", path, got, want)
		}
	}
	if got := built().NearestLine("services[0].id"); got != 0 {
		t.Errorf("NearestLine of a built config = %d", got)
	}
}
