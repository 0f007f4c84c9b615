package acl

import (
	"net/netip"
	"strings"
	"testing"
)

func nacl(id, ingress, egress string) string {
	return "  - id: " + id + "\n    ingress: [" + ingress + "]\n    egress: [" + egress + "]\n"
}

const (
	allowAll = "{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}"
	denyAll  = "{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: deny}"
)

// TestMatrix checks each documented AWS rule behaviour through Consumer/Provider Check
// and through Explain.
func TestMatrix(t *testing.T) {
	epACL := ", network_acl: acl-ep"
	tACL := ", network_acl: acl-t"
	tests := []struct {
		name      string
		repl      map[string]string
		client    string // ip:port
		consumer  Hop    // denying hop, HopNone = allowed
		rule      string // substring of the deciding rule text
		nodePort  uint16
		provider  Hop
		explain   Hop    // first denying hop Explain reports (HopNone = allowed)
		uncovered string // Explain's uncovered ports at that hop
	}{
		// Stateless NACL: the return path needs the client's ephemeral port.
		{name: "return path needs ephemeral ports: denied", client: "127.60.1.50:40000",
			repl: map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep",
				`{rule: 100, protocol: tcp, ports: "8443", cidr: 127.60.0.0/16, action: allow}`,
				`{rule: 100, protocol: tcp, ports: 1024-2000, cidr: 127.60.0.0/16, action: allow}`)},
			consumer: HopEndpointNACLEgressReturn, rule: "acl-ep implicit deny (*)", explain: HopEndpointNACLEgressReturn},
		{name: "return path needs ephemeral ports: allowed", client: "127.60.1.50:40000",
			repl: map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep",
				`{rule: 100, protocol: tcp, ports: "8443", cidr: 127.60.0.0/16, action: allow}`,
				`{rule: 100, protocol: tcp, ports: 1024-65535, cidr: 127.60.0.0/16, action: allow}`)}},
		{name: "return path: client port outside a partial allow", client: "127.60.1.50:55000",
			repl: map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep", allowAll,
				`{rule: 100, protocol: tcp, ports: 32768-50000, cidr: 127.60.0.0/16, action: allow}`)},
			consumer: HopEndpointNACLEgressReturn, rule: "implicit deny", explain: HopEndpointNACLEgressReturn},
		// First match wins, by number and not by position in the file.
		{name: "first match wins over a later allow", client: "127.60.1.50:40000",
			repl: map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep",
				`{rule: 200, protocol: all, cidr: 0.0.0.0/0, action: allow}, {rule: 90, protocol: tcp, ports: "8443", cidr: 127.60.1.50/32, action: deny}`, allowAll)},
			consumer: HopEndpointNACLIngress, rule: "acl-ep rule 90", explain: HopEndpointNACLIngress},
		{name: "first match wins: allow before a later deny", client: "127.60.1.50:40000",
			repl: map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep",
				`{rule: 200, protocol: all, cidr: 0.0.0.0/0, action: deny}, {rule: 90, protocol: tcp, ports: "8443", cidr: 127.60.1.50/32, action: allow}`, allowAll)}},
		// SG union: a second group that allows is enough.
		{name: "SG union allows", client: "127.60.1.50:40000", repl: map[string]string{"{EP_SGS}": "sg-ep2, sg-ep"}, rule: "sg-ep ingress[0]"},
		{name: "SG without a matching rule", client: "127.60.1.50:40000", repl: map[string]string{"{EP_SGS}": "sg-ep2"},
			consumer: HopEndpointSGIngress, rule: "no matching rule", explain: HopEndpointSGIngress},
		// NACLs are not evaluated inside one subnet.
		{name: "same subnet skips NACLs", client: "127.60.2.77:40000",
			repl: map[string]string{"{EP_NACL}": epACL, "{EP_SGS}": "sg-ep, sg-ep3", "{NACLS}": nacl("acl-ep", denyAll, denyAll) +
				"security_groups_placeholder"}, rule: "sg-ep3"},
		{name: "other subnet meets the NACL", client: "127.60.1.50:40000",
			repl:     map[string]string{"{EP_NACL}": epACL, "{NACLS}": nacl("acl-ep", denyAll, denyAll)},
			consumer: HopEndpointNACLIngress, rule: "acl-ep rule 100", explain: HopEndpointNACLIngress},
		// The NLB SG and enforce_inbound_rules_on_privatelink (source = client IP).
		{name: "NLB SG enforced: member client allowed", client: "127.60.1.50:40000", repl: map[string]string{"{NLB_SGS}": "sg-nlb"}, rule: "sg-nlb ingress[0]"},
		{name: "NLB SG enforced: other client denied", client: "127.60.1.99:40000", repl: map[string]string{"{NLB_SGS}": "sg-nlb"},
			consumer: HopNLBSGIngress, rule: "no matching rule", explain: HopNLBSGIngress},
		{name: "NLB SG not enforced", client: "127.60.1.99:40000", repl: map[string]string{"{NLB_SGS}": "sg-nlb", "{ENFORCE}": "false"},
			rule: "enforce_inbound_rules_on_privatelink off"},
		// Referenced SG: the target admits the NLB's SG; the node IP is its member.
		{name: "target SG references the NLB SG", client: "127.60.1.50:40000", repl: map[string]string{"{NLB_SGS}": "sg-nlb", "{TARGET_SGS}": "sg-app"},
			nodePort: 5000, rule: "sg-app ingress[0]"},
		{name: "target SG without the node", client: "127.60.1.50:40000", repl: map[string]string{"{TARGET_SGS}": "sg-ep"},
			nodePort: 5000, provider: HopTargetSGIngress, rule: "no matching rule", explain: HopTargetSGIngress},
		// The VPC default SG of an endpoint without security groups.
		{name: "default SG admits its member", client: "127.60.1.60:40000", repl: map[string]string{"{EP_SGS}": ""}, rule: "source is a member"},
		{name: "default SG denies others", client: "127.60.1.50:40000", repl: map[string]string{"{EP_SGS}": ""},
			consumer: HopEndpointSGIngress, rule: "admits only its own members", explain: HopEndpointSGIngress},
		// Client SG egress, for known clients only.
		{name: "client SG egress denies", client: "127.60.1.50:40000", repl: map[string]string{"{CLIENT_SG}": `    egress: [{protocol: tcp, ports: "443", cidr: 0.0.0.0/0}]`},
			consumer: HopClientSGEgress, rule: "no matching rule", explain: HopClientSGEgress},
		{name: "client SG explicit empty egress", client: "127.60.1.50:40000", repl: map[string]string{"{CLIENT_SG}": `    egress: []`},
			consumer: HopClientSGEgress, rule: "no matching rule", explain: HopClientSGEgress},
		{name: "client SG egress to the endpoint's group", client: "127.60.1.50:40000",
			repl: map[string]string{"{CLIENT_SG}": `    egress: [{protocol: tcp, ports: "8443", destination_group: sg-ep}]`}, rule: "sg-client egress[0]"},
		{name: "unknown client skips client hops", client: "127.60.1.99:40000",
			repl: map[string]string{"{CLIENT_SG}": `    egress: []`, "{CLIENT_NACL}": ", network_acl: acl-c", "{NACLS}": nacl("acl-c", denyAll, denyAll)}},
		{name: "client subnet NACL ingress return", client: "127.60.1.50:40000",
			repl: map[string]string{"{CLIENT_NACL}": ", network_acl: acl-c", "{NACLS}": nacl("acl-c",
				`{rule: 100, protocol: tcp, ports: 1024-32767, cidr: 127.60.2.10/32, action: allow}`, allowAll)},
			consumer: HopClientNACLIngressReturn, rule: "acl-c implicit deny", explain: HopClientNACLIngressReturn},
		// Provider side: the NLB's port range on the target subnet's return path.
		{name: "target NACL return covers the node port", client: "127.60.1.50:40000", nodePort: 2000,
			repl: map[string]string{"{TARGET_NACL}": tACL, "{NACLS}": nacl("acl-t",
				`{rule: 100, protocol: tcp, ports: "9443", cidr: 127.60.10.5/32, action: allow}`,
				`{rule: 100, protocol: tcp, ports: 1024-30000, cidr: 127.60.10.0/24, action: allow}`)},
			explain: HopTargetNACLEgressReturn, uncovered: "30001-65535"},
		{name: "target NACL return misses the node port", client: "127.60.1.50:40000", nodePort: 40000,
			repl: map[string]string{"{TARGET_NACL}": tACL, "{NACLS}": nacl("acl-t",
				`{rule: 100, protocol: tcp, ports: "9443", cidr: 127.60.10.5/32, action: allow}`,
				`{rule: 100, protocol: tcp, ports: 1024-30000, cidr: 127.60.10.0/24, action: allow}`)},
			provider: HopTargetNACLEgressReturn, rule: "acl-t implicit deny", explain: HopTargetNACLEgressReturn, uncovered: "30001-65535"},
		{name: "node NACL egress", client: "127.60.1.50:40000", nodePort: 2000,
			repl: map[string]string{"{NODE_NACL}": ", network_acl: acl-n", "{NACLS}": nacl("acl-n", allowAll,
				`{rule: 10, protocol: tcp, ports: "9443", cidr: 127.60.11.20/32, action: deny}, `+allowAll)},
			provider: HopNodeNACLEgress, rule: "acl-n rule 10", explain: HopNodeNACLEgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, ok := tt.repl["{NACLS}"]; ok && strings.HasSuffix(s, "security_groups_placeholder") {
				tt.repl["{NACLS}"] = strings.TrimSuffix(s, "security_groups_placeholder")
				tt.repl["{CLIENT_SG}"] = "  - id: sg-ep3\n    ingress: [{protocol: tcp, ports: \"8443\", cidr: 127.60.2.0/24}]"
			}
			e := Compile(topo(t, tt.repl))
			client := netip.MustParseAddrPort(tt.client)
			var v Verdict
			ok := e.Consumer(iface).Check(client, &v)
			if ok != (tt.consumer == HopNone) || v.Denied != tt.consumer {
				t.Fatalf("consumer: ok %v denied at %v, want %v\n%s", ok, v.Denied, tt.consumer, trace(&v))
			}
			if ok {
				pok := e.Provider(svcID, node, target).Check(max(tt.nodePort, 1024), &v)
				if pok != (tt.provider == HopNone) || v.Denied != tt.provider || v.Allowed != pok {
					t.Fatalf("provider: ok %v denied at %v, want %v\n%s", pok, v.Denied, tt.provider, trace(&v))
				}
			}
			if tt.rule != "" && !strings.Contains(trace(&v), tt.rule) {
				t.Errorf("trace lacks %q:\n%s", tt.rule, trace(&v))
			}
			checkExplain(t, e, client, tt.explain, tt.uncovered)
		})
	}
}

func trace(v *Verdict) string {
	var b strings.Builder
	for _, h := range v.Trace() {
		b.WriteString(h.Hop.String() + " " + h.Outcome.String() + " " + h.Place + " " + h.RuleText() + "\n")
	}
	return b.String()
}

// checkExplain checks that Explain reports the first denial at want (or an
// allowed path) with a suggestion.
func checkExplain(t *testing.T, e *Evaluator, client netip.AddrPort, want Hop, uncovered string) {
	t.Helper()
	r, err := Explain(e, Query{From: client.Addr(), FromPort: client.Port(), Endpoint: "vpce-0123456789abcdef0", Port: 8443})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	r.WriteText(&text)
	hops := append([]HopReport{}, r.Paths[0].Consumer...)
	for _, tr := range r.Paths[0].Targets {
		hops = append(hops, tr.Hops...)
	}
	got := HopNone
	for _, h := range hops {
		if h.Verdict == Deny {
			got = h.Hop
			if h.Suggestion == "" {
				t.Errorf("denial at %s without a suggestion", h.Hop)
			}
			if h.Uncovered != uncovered {
				t.Errorf("uncovered %q, want %q", h.Uncovered, uncovered)
			}
			break
		}
	}
	if got != want || r.Allowed != (want == HopNone) {
		t.Fatalf("explain: denied at %v (allowed %v), want %v\n%s", got, r.Allowed, want, text.String())
	}
}
