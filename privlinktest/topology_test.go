package privlinktest

import (
	"encoding/json"
	"testing"

	"github.com/privlink/privlink/config"
)

// builtYAML is what Topology().Service(...).Endpoint(...) below builds.
const builtYAML = `
deny_action: reset
admin: {listen: "127.0.0.1:0"}
dns: {upstream: "off"}
subnets:
  - {id: subnet-consumer-1, az: use1-az1, cidr: 127.0.1.0/24}
  - {id: subnet-provider-1, az: use1-az1, cidr: 127.0.10.0/24}
  - {id: subnet-consumer-2, az: use1-az2, cidr: 127.0.2.0/24}
  - {id: subnet-provider-2, az: use1-az2, cidr: 127.0.11.0/24}
security_groups:
  - {id: sg-vpce-0c1308d7312217abc, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.1.0/24}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-provider-1, ip: 127.0.10.5}, {subnet: subnet-provider-2, ip: 127.0.11.5}]
      listeners: [{port: 8443, target_group: tg-9443}]
    target_groups:
      - name: tg-9443
        port: 9443
        proxy_protocol_v2: true
        health_check: {enabled: false}
        targets:
          - {ip: 127.0.10.20, subnet: subnet-provider-1, builtin: echo}
          - {ip: 127.0.11.20, subnet: subnet-provider-2, builtin: echo}
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-vpce-0c1308d7312217abc]
    interfaces: [{subnet: subnet-consumer-1, ip: 127.0.1.10}, {subnet: subnet-consumer-2, ip: 127.0.2.10}]
`

func built() *TopologyBuilder {
	return Topology().
		Service(serviceID, ProxyProtocolV2()).
		Endpoint(endpointID, serviceID, Allow("127.0.1.0/24", "8443"))
}

// The builder produces the config.Config the equivalent YAML parses to.
func TestBuilderEqualsYAML(t *testing.T) {
	got, err := built().Config()
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Parse("topology", []byte(builtYAML))
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("built:\n%s\nparsed:\n%s", gj, wj)
	}
}

// A built topology runs like the YAML one: both AZs reach their target.
func TestStartBuilder(t *testing.T) {
	in := Start(t, built())
	ctx := ctxT(t)
	for _, az := range []struct{ id, target, client string }{
		{"use1-az1", "127.0.10.20:9443", "127.0.1.254"},
		{"use1-az2", "127.0.11.20:9443", "127.0.1.200"}, // a client of subnet 1 (the SG) to the az2 interface
	} {
		c, err := in.Dial(ctx, endpointID, 8443, InAZ(az.id), From(az.client))
		if err != nil {
			t.Fatal(err)
		}
		if got := roundTrip(t, c, az.id); got != az.id {
			t.Errorf("%s: echo %q", az.id, got)
		}
		seen, err := in.Target(az.target).Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen.Header == nil || seen.Header.Source.Addr() != in.IP(az.client) {
			t.Errorf("%s: target saw %+v, want client %s", az.id, seen.Header, in.IP(az.client))
		}
	}
	if n := len(in.Targets()); n != 2 {
		t.Errorf("%d kit targets, want 2", n)
	}
}
