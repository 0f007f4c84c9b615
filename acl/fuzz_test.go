package acl

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/privlink/privlink/config"
)

// bytesource turns fuzz input into bounded choices.
type bytesource struct{ b []byte }

func (s *bytesource) n(limit int) int {
	if len(s.b) == 0 || limit <= 0 {
		return 0
	}
	v := int(s.b[0])
	if len(s.b) > 1 {
		v = v<<8 | int(s.b[1])
		s.b = s.b[2:]
	} else {
		s.b = s.b[1:]
	}
	return v % limit
}

// addr picks an address near the topology: 127.60.x.y, or an IPv6 one.
func (s *bytesource) addr() netip.Addr {
	if s.n(8) == 0 {
		return netip.AddrFrom16([16]byte{0xfd, 0, 15: byte(s.n(4))})
	}
	return netip.AddrFrom4([4]byte{127, 60, byte(s.n(4)), byte(s.n(256))})
}

func (s *bytesource) prefix() netip.Prefix {
	a := s.addr()
	bits := 16 + s.n(17)
	if a.Is6() {
		bits = 112 + s.n(17)
	}
	return netip.PrefixFrom(a, bits).Masked()
}

func (s *bytesource) ports() (config.Protocol, config.PortRange) {
	protos := []config.Protocol{config.ProtocolTCP, config.ProtocolTCP, config.ProtocolAll, config.ProtocolUDP}
	p := protos[s.n(len(protos))]
	switch s.n(4) {
	case 0:
		return p, config.PortRange{}
	case 1:
		return p, config.PortRange{From: 8443, To: 8443}
	}
	a, b := uint16(1+s.n(65535)), uint16(1+s.n(65535))
	return p, config.PortRange{From: min(a, b), To: max(a, b)}
}

func (s *bytesource) naclRules() []config.NACLRule {
	var rules []config.NACLRule
	used := map[int]bool{}
	for range s.n(12) {
		num := 1 + s.n(400)
		if used[num] {
			continue
		}
		used[num] = true
		proto, ports := s.ports()
		action := config.Allow
		if s.n(2) == 0 {
			action = config.Deny
		}
		rules = append(rules, config.NACLRule{Rule: num, Protocol: proto, Ports: ports, CIDR: s.prefix(), Action: action})
	}
	return rules
}

func (s *bytesource) sgRules() []config.SGRule {
	var rules []config.SGRule
	for range s.n(8) {
		proto, ports := s.ports()
		r := config.SGRule{Protocol: proto, Ports: ports}
		if s.n(4) == 0 {
			r.SourceGroup = []string{"sg-client", "sg-ep", "sg-app"}[s.n(3)]
		} else {
			r.CIDR = s.prefix()
		}
		rules = append(rules, r)
	}
	return rules
}

// FuzzEvaluator compiles random NACLs and SGs onto the endpoint's subnet
// and interface and checks random flows against the reference semantics of
// rules.go: the compiled tables must pick the same deciding rule, whatever
// the order of the rules in the file.
func FuzzEvaluator(f *testing.F) {
	f.Add([]byte("\x00\x05\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"))
	f.Add([]byte("seed with a few more bytes to make rules out of, and flows too"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &bytesource{b: data}
		cfg := topo(t, map[string]string{"{EP_NACL}": ", network_acl: acl-ep", "{NACLS}": nacl("acl-ep", "", "")})
		n := &cfg.NetworkACLs[0]
		n.Ingress, n.Egress = s.naclRules(), s.naclRules()
		sgEp := &cfg.SecurityGroups[1]
		sgEp.Ingress = s.sgRules()
		e := Compile(cfg)
		shuffled := *cfg
		shuffled.NetworkACLs = []config.NetworkACL{{ID: "acl-ep", Ingress: slices.Clone(n.Ingress), Egress: slices.Clone(n.Egress)}}
		slices.Reverse(shuffled.NetworkACLs[0].Ingress)
		slices.Reverse(shuffled.NetworkACLs[0].Egress)
		e2 := Compile(&shuffled)
		m := membership(cfg)
		for range 1 + s.n(16) {
			client := netip.AddrPortFrom(s.addr(), uint16(s.n(65536)))
			a := client.Addr()
			if netip.MustParsePrefix("127.60.1.48/28").Contains(a) || netip.MustParsePrefix("127.60.2.0/24").Contains(a) {
				continue // known clients and same-subnet flows have their own tests
			}
			var v, v2 Verdict
			e.Consumer(iface).Check(client, &v)
			e2.Consumer(iface).Check(client, &v2)
			if v != v2 {
				t.Fatalf("rule order changed the verdict for %v:\n%s\nvs\n%s", client, trace(&v), trace(&v2))
			}
			want := []HopResult{
				{Hop: HopEndpointNACLIngress, Rule: naclRef(n.Ingress, a, 8443)},
				{Hop: HopEndpointSGIngress},
				{Hop: HopEndpointNACLEgressReturn, Rule: naclRef(n.Egress, a, client.Port())},
			}
			ref, ok := naiveSG([]*config.SecurityGroup{sgEp}, false, m, a, 8443)
			want[1].Rule, want[1].Outcome = -1, Deny
			if ok {
				want[1].Rule, want[1].Outcome = int32(ref.index), Allow
			}
			for _, w := range want {
				got := findHop(&v, w.Hop)
				if got == nil {
					break // an earlier hop denied
				}
				if got.Rule != w.Rule || (w.Hop == HopEndpointSGIngress && got.Outcome != w.Outcome) {
					t.Fatalf("%v %v: compiled %s (rule %d), reference rule %d\n%s", client, w.Hop, got.RuleText(), got.Rule, w.Rule, trace(&v))
				}
			}
		}
	})
}

func naclRef(rules []config.NACLRule, a netip.Addr, port uint16) int32 {
	if i := naiveNACL(rules, a, port); i >= 0 {
		return int32(rules[i].Rule)
	}
	return -1
}

func findHop(v *Verdict, h Hop) *HopResult {
	for i := range v.Trace() {
		if v.Hops[i].Hop == h {
			return &v.Hops[i]
		}
	}
	return nil
}

// FuzzRuleParsing feeds random strings to the rule scalars and to a whole
// configuration: nothing panics, and what parses round-trips.
func FuzzRuleParsing(f *testing.F) {
	for _, s := range []string{"443", "1024-65535", "all", "-1", "0-80", "80-", "-", "65536", "tcp", "6", "256", "127.0.0.0/8", "::/0", "1.2.3.4/33", " 1 - 2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r config.PortRange
		if err := r.UnmarshalText([]byte(s)); err == nil {
			if r.From > r.To || (r != config.AllPorts && r.From == 0) {
				t.Fatalf("%q parsed to %+v", s, r)
			}
			var back config.PortRange
			if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
				t.Fatalf("%q: %+v does not round-trip via %q: %+v %v", s, r, r.String(), back, err)
			}
		}
		var p config.Protocol
		if err := p.UnmarshalText([]byte(s)); err == nil {
			var back config.Protocol
			if err := back.UnmarshalText([]byte(p.String())); err != nil || back != p {
				t.Fatalf("%q: protocol %v does not round-trip", s, p)
			}
		}
		var pre netip.Prefix
		_ = pre.UnmarshalText([]byte(s))
		quoted := "'" + stringsReplaceQuote(s) + "'"
		y := "security_groups:\n  - id: sg-a\n    ingress: [{protocol: " + quoted + ", ports: " + quoted + ", cidr: " + quoted + "}]\n"
		_, _ = config.Parse("fuzz.yaml", []byte(y))
	})
}

func stringsReplaceQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}
