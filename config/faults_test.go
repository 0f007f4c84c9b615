package config

import (
	"encoding/json"
	"strings"
	"testing"
)

const faultsBase = `
dns: {listen: "off"}
subnets:
  - {id: subnet-c, az: use1-az1, cidr: 127.0.1.0/24}
  - {id: subnet-p, az: use1-az1, cidr: 127.0.10.0/24}
services:
  - id: vpce-svc-0000000000000000a
    load_balancer: {nodes: [{subnet: subnet-p, ip: 127.0.10.5}], listeners: [{port: 8443, target_group: tg}]}
    target_groups: [{name: tg, port: 9443}]
endpoints:
  - id: vpce-0000000000000000a
    service: vpce-svc-0000000000000000a
    interfaces: [{subnet: subnet-c, ip: 127.0.1.10}]
`

func TestFaultsDecodeWithDefaults(t *testing.T) {
	c, err := Parse("f.yaml", []byte(faultsBase+`faults:
  - {kind: az_outage, scope: {az: use1-az1}, duration: 30s}
  - {id: slow, kind: latency, latency: 200ms, jitter: 20ms, direction: to_client, toxicity: 0.5, scope: {service: vpce-svc-0000000000000000a}}
  - {kind: port_budget, budget: 3, scope: {target: 127.0.10.20:9443}}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Faults
	if f[0].ID != "az_outage-1" || f[0].Toxicity != 1 || f[0].Duration.D().String() != "30s" {
		t.Errorf("faults[0] = %+v, want ID az_outage-1, toxicity 1, duration 30s", f[0])
	}
	if f[1].ID != "slow" || f[1].Toxicity != 0.5 || f[1].Direction != ToClient || f[1].Jitter.D().String() != "20ms" {
		t.Errorf("faults[1] = %+v", f[1])
	}
	if f[2].Scope.Target.String() != "127.0.10.20:9443" || f[2].Budget != 3 {
		t.Errorf("faults[2] = %+v", f[2])
	}
}

// The JSON body of POST /v1/faults has the YAML entry's shape.
func TestFaultJSONShape(t *testing.T) {
	c, err := Parse("f.yaml", []byte(faultsBase))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, want string
	}{
		{"latency", `{"id":"slow","kind":"latency","scope":{"service":"vpce-svc-0000000000000000a"},"direction":"to_client","latency":"200ms","jitter":"20ms","toxicity":1}`, ""},
		{"az", `{"kind":"az_outage","scope":{"az":"use1-az1"},"duration":"30s"}`, ""},
		{"toxicity", `{"kind":"latency","latency":"1s","toxicity":2}`, "toxicity: 2 is outside 0-1"},
		{"param", `{"kind":"az_outage","scope":{"az":"use1-az1"},"budget":4}`, "budget: is not a parameter of az_outage (it takes no parameters)"},
		{"scope", `{"kind":"target_reset","scope":{"target_group":"nope"}}`, `scope.target_group: target group "nope" is not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFault("")
			dec := json.NewDecoder(strings.NewReader(tt.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&f); err != nil {
				t.Fatal(err)
			}
			errs := CheckFault(c, &f)
			got := ""
			if len(errs) > 0 {
				got = errs[0].Error()
			}
			if got != tt.want {
				t.Errorf("CheckFault = %q, want %q", got, tt.want)
			}
		})
	}
}
