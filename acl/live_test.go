package acl

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// liveYAML has two targets in one AZ: one whose SG admits the node, one
// whose SG does not.
const liveYAML = `
subnets:
  - {id: subnet-ep, az: use1-az1, cidr: 127.60.2.0/24}
  - {id: subnet-node, az: use1-az1, cidr: 127.60.10.0/24}
security_groups:
  - {id: sg-ep, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]}
  - {id: sg-none, ingress: []}
services:
  - id: vpce-svc-0123456789abcdef0
    allowed_principals: [PRINCIPALS]
    load_balancer:
      nodes: [{subnet: subnet-node, ip: 127.60.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        targets: [{ip: 127.60.10.20, subnet: subnet-node}, {ip: 127.60.10.21, subnet: subnet-node, security_groups: [sg-none]}]
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [sg-ep]
    interfaces: [{subnet: subnet-ep, ip: 127.60.2.10}]
`

func liveConfig(t *testing.T, principals string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("live.yaml", []byte(strings.Replace(liveYAML, "PRINCIPALS", principals, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Which targets decide a live verdict: the picked one when the client port
// is known, else those that take new flows; draining targets and exhausted
// pools show in the report either way.
func TestLiveTargetsDecide(t *testing.T) {
	e := Compile(liveConfig(t, `"*"`))
	good := config.Target{IP: netip.MustParseAddr("127.60.10.20"), Port: 9443, AZ: "use1-az1", Subnet: "subnet-node"}
	bad := config.Target{IP: netip.MustParseAddr("127.60.10.21"), Port: 9443, AZ: "use1-az1", Subnet: "subnet-node", SecurityGroups: []string{"sg-none"}}
	tests := []struct {
		name    string
		targets []LiveTarget
		allowed bool
		note    string
	}{
		{"denying target draining", []LiveTarget{{Target: good, State: "healthy", NewFlows: true}, {Target: bad, State: "draining"}}, true, ""},
		{"denying target takes flows", []LiveTarget{{Target: good, State: "healthy", NewFlows: true}, {Target: bad, State: "healthy", NewFlows: true}}, false, ""},
		{"the picked one allows", []LiveTarget{{Target: good, State: "healthy", NewFlows: true, Picked: true}, {Target: bad, State: "healthy", NewFlows: true}}, true, ""},
		{"the picked one denies", []LiveTarget{{Target: good, State: "healthy", NewFlows: true}, {Target: bad, State: "healthy", NewFlows: true, Picked: true}}, false, ""},
		{"all draining", []LiveTarget{{Target: good, State: "draining"}}, false, "all draining"},
		{"none registered", []LiveTarget{}, false, "has no registered target"},
		{"fail open", []LiveTarget{{Target: good, State: "unhealthy", NewFlows: true, FailOpen: true}}, true, "fails open"},
		{"exhausted pool", []LiveTarget{{Target: good, State: "healthy", NewFlows: true, PortsInUse: 5, PortBudget: 5}}, false, "raise port_budget of tg"},
		{"pool with room", []LiveTarget{{Target: good, State: "healthy", NewFlows: true, PortsInUse: 4, PortBudget: 5}}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := &Live{EndpointState: "available", Targets: func(LivePath) []LiveTarget { return tc.targets }}
			r, err := Explain(e, Query{From: netip.MustParseAddr("127.60.2.50"), FromPort: 40000, Endpoint: "vpce-0123456789abcdef0", Live: live})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			r.WriteText(&text)
			if r.Allowed != tc.allowed || len(r.Paths[0].Targets) != len(tc.targets) || !strings.Contains(strings.Join(r.Paths[0].Notes, "\n"), tc.note) {
				t.Fatalf("allowed %v, want %v (note %q):\n%s", r.Allowed, tc.allowed, tc.note, text.String())
			}
		})
	}
}

// Offline, explain assumes the state the endpoint starts in: a principal
// outside allowed_principals is rejected, an account's user is not.
func TestExplainInitialEndpointState(t *testing.T) {
	for _, tc := range []struct {
		principals string
		want       Outcome
	}{{`"*"`, Allow}, {`"arn:aws:iam::111122223333:root"`, Allow}, {`"arn:aws:iam::444455556666:root"`, Deny}} {
		r, err := Explain(Compile(liveConfig(t, tc.principals)), Query{From: netip.MustParseAddr("127.60.2.50"), Endpoint: "vpce-0123456789abcdef0"})
		if err != nil {
			t.Fatal(err)
		}
		if r.EndpointState.Verdict != tc.want || (tc.want == Deny && r.Allowed) {
			t.Errorf("allowed_principals [%s]: endpoint_state %v (%s), allowed %v", tc.principals, r.EndpointState.Verdict, r.EndpointState.Rule, r.Allowed)
		}
		if tc.want == Deny && !strings.Contains(r.Suggestions[0], "add arn:aws:iam::111122223333:root (or its account's root) to the allowed_principals") {
			t.Errorf("suggestion %q", r.Suggestions[0])
		}
	}
}
