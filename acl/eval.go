package acl

import (
	"net/netip"
	"strings"

	"github.com/privlink/privlink/config"
)

// hopEval decides one hop of one compiled path. Depending on what the flow
// leaves open, the decision is a constant, a function of the peer address
// (fixed port), of the port (fixed peer) or of both.
type hopEval struct {
	kind  evalKind
	res   []HopResult // the possible results; tables map to indexes
	ip    ipTable     // evalIP: → res; evalIPPort: → ports
	ports []portTable // evalPort: ports[0] → res; evalIPPort: ports[i] → res
}

type evalKind uint8

const (
	evalConst evalKind = iota
	evalIP
	evalPort
	evalIPPort
)

// eval decides the hop for peer address a (unmapped) and port.
func (h *hopEval) eval(a netip.Addr, port uint16) *HopResult {
	switch h.kind {
	case evalConst:
		return &h.res[0]
	case evalIP:
		return &h.res[h.ip.lookup(a)]
	case evalPort:
		return &h.res[h.ports[0].lookup(port)]
	}
	return &h.res[h.ports[h.ip.lookup(a)].lookup(port)]
}

// portResult is the decision for the ports From–To.
type portResult struct {
	From, To uint16
	Result   *HopResult
}

// portRange decides the hop for every port in from–to, as maximal runs of
// one result.
func (h *hopEval) portRange(a netip.Addr, from, to uint16) []portResult {
	var t *portTable
	switch h.kind {
	case evalPort:
		t = &h.ports[0]
	case evalIPPort:
		t = &h.ports[h.ip.lookup(a)]
	default:
		return []portResult{{from, to, h.eval(a, from)}}
	}
	var out []portResult
	for i := range t.starts {
		lo, hi := max(t.starts[i], from), min(t.end(i), to)
		if lo > hi {
			continue
		}
		r := &h.res[t.vals[i]]
		if n := len(out); n > 0 && out[n-1].Result == r {
			out[n-1].To = hi
			continue
		}
		out = append(out, portResult{lo, hi, r})
	}
	return out
}

func constEval(r HopResult) *hopEval { return &hopEval{res: []HopResult{r}} }

func skipEval(h Hop, reason Reason, place string) *hopEval {
	return constEval(HopResult{Hop: h, Outcome: Skip, Reason: reason, Rule: -1, Place: place})
}

// builder holds the indexes Compile needs.
type builder struct {
	subnets map[string]*config.Subnet
	nacls   map[string]*config.NetworkACL
	sgs     map[string]*config.SecurityGroup
	members members
}

// nacl returns the subnet's network ACL (nil: the default NACL) and its
// rules in one direction.
func (b *builder) nacl(subnet string, egress bool) (*config.NetworkACL, []config.NACLRule) {
	s := b.subnets[subnet]
	if s == nil || s.NetworkACL == "" {
		return nil, nil
	}
	n := b.nacls[s.NetworkACL]
	if egress {
		return n, n.Egress
	}
	return n, n.Ingress
}

// naclResults returns the possible results of one NACL direction: [0] the
// implicit deny, [1+i] rule i.
func naclResults(h Hop, subnet string, n *config.NetworkACL, rules []config.NACLRule) []HopResult {
	res := make([]HopResult, 1+len(rules))
	res[0] = HopResult{Hop: h, Outcome: Deny, Reason: ReasonImplicitDeny, Rule: -1, Place: subnet, Object: n.ID}
	for i, r := range rules {
		o := Allow
		if r.Action == config.Deny {
			o = Deny
		}
		res[1+i] = HopResult{Hop: h, Outcome: o, Reason: ReasonRule, Rule: int32(r.Rule), Place: subnet, Object: n.ID}
	}
	return res
}

func defaultNACL(h Hop, subnet string) *hopEval {
	return constEval(HopResult{Hop: h, Outcome: Allow, Reason: ReasonDefaultNACL, Rule: -1, Place: subnet})
}

// naclConst decides a NACL hop whose peer and port are both fixed.
func (b *builder) naclConst(h Hop, subnet string, egress bool, peer netip.Addr, port uint16) *hopEval {
	n, rules := b.nacl(subnet, egress)
	if n == nil {
		return defaultNACL(h, subnet)
	}
	return constEval(naclResults(h, subnet, n, rules)[1+naiveNACL(rules, peer, port)])
}

// naclByIP decides a NACL hop by peer address, the port being fixed.
func (b *builder) naclByIP(h Hop, subnet string, egress bool, port uint16) *hopEval {
	n, rules := b.nacl(subnet, egress)
	if n == nil {
		return defaultNACL(h, subnet)
	}
	var items []ipItem
	for i := range rules {
		r := &rules[i]
		if r.Protocol.Matches(config.ProtocolTCP) && portsMatch(r.Protocol, r.Ports, port) {
			items = append(items, ipItem{r.CIDR, r.Rule, int32(1 + i)})
		}
	}
	return &hopEval{kind: evalIP, res: naclResults(h, subnet, n, rules), ip: newIPTable(items, 0)}
}

// naclByPort decides a NACL hop by port, the peer being fixed.
func (b *builder) naclByPort(h Hop, subnet string, egress bool, peer netip.Addr) *hopEval {
	n, rules := b.nacl(subnet, egress)
	if n == nil {
		return defaultNACL(h, subnet)
	}
	var items []item
	for i := range rules {
		r := &rules[i]
		if r.Protocol.Matches(config.ProtocolTCP) && r.CIDR.Contains(peer) {
			items = append(items, item{ruleSpan(r.Protocol, r.Ports), r.Rule, int32(1 + i)})
		}
	}
	return &hopEval{kind: evalPort, res: naclResults(h, subnet, n, rules), ports: []portTable{newPortTable(items, 0)}}
}

// naclByIPPort decides a NACL hop by peer address and port: one port table
// per address range with a distinct set of covering rules.
func (b *builder) naclByIPPort(h Hop, subnet string, egress bool) *hopEval {
	n, rules := b.nacl(subnet, egress)
	if n == nil {
		return defaultNACL(h, subnet)
	}
	ev := &hopEval{kind: evalIPPort, res: naclResults(h, subnet, n, rules)}
	family := func(v4 bool, limit u128) (starts []u128, vals []int32) {
		var spans []span
		var which []int
		for i := range rules {
			r := &rules[i]
			if r.Protocol.Matches(config.ProtocolTCP) && r.CIDR.Addr().Is4() == v4 {
				spans, which = append(spans, prefixSpan(r.CIDR.Masked())), append(which, i)
			}
		}
		starts, cover := segments(limit, spans)
		for _, c := range cover {
			var items []item
			for _, k := range c {
				r := &rules[which[k]]
				items = append(items, item{ruleSpan(r.Protocol, r.Ports), r.Rule, int32(1 + which[k])})
			}
			vals = append(vals, int32(len(ev.ports)))
			ev.ports = append(ev.ports, newPortTable(items, 0))
		}
		return starts, vals
	}
	st4, vals4 := family(true, max32)
	ev.ip.v4, ev.ip.v4vals = make([]uint32, len(st4)), vals4
	for i, s := range st4 {
		ev.ip.v4[i] = uint32(s.lo)
	}
	ev.ip.v6, ev.ip.v6vals = family(false, max128)
	return ev
}

// groups returns the security groups with the given IDs.
func (b *builder) groups(ids []string) []*config.SecurityGroup {
	gs := make([]*config.SecurityGroup, len(ids))
	for i, id := range ids {
		gs[i] = b.sgs[id]
	}
	return gs
}

func sgResult(h Hop, place string, ref sgRef, ok bool, ids []string) HopResult {
	if !ok {
		return HopResult{Hop: h, Outcome: Deny, Reason: ReasonNoMatch, Rule: -1, Place: place, Object: strings.Join(ids, ",")}
	}
	if ref.index < 0 {
		return HopResult{Hop: h, Outcome: Allow, Reason: ReasonDefaultEgress, Rule: -1, Place: place, Object: ref.group}
	}
	return HopResult{Hop: h, Outcome: Allow, Reason: ReasonRule, Rule: int32(ref.index), Place: place, Object: ref.group}
}

// sgConst decides an SG hop whose peer and port are both fixed.
func (b *builder) sgConst(h Hop, place string, ids []string, egress bool, peer netip.Addr, port uint16) *hopEval {
	ref, ok := naiveSG(b.groups(ids), egress, b.members, peer, port)
	return constEval(sgResult(h, place, ref, ok, ids))
}

// sgByIP decides an SG ingress hop by source address, the port being fixed:
// the union of the groups' rules, each CIDR or referenced group's members
// mapped to the first rule (groups in order, rules in order) that admits it.
func (b *builder) sgByIP(h Hop, place string, ids []string, port uint16) *hopEval {
	ev := &hopEval{kind: evalIP, res: []HopResult{sgResult(h, place, sgRef{}, false, ids)}}
	var items []ipItem
	for _, g := range b.groups(ids) {
		for i := range g.Ingress {
			r := &g.Ingress[i]
			if !r.Protocol.Matches(config.ProtocolTCP) || !portsMatch(r.Protocol, r.Ports, port) {
				continue
			}
			val := int32(len(ev.res))
			ev.res = append(ev.res, sgResult(h, place, sgRef{g.ID, i}, true, ids))
			prefixes := b.members[r.Peer()]
			if r.CIDR.IsValid() {
				prefixes = []netip.Prefix{r.CIDR}
			}
			for _, p := range prefixes {
				items = append(items, ipItem{p, len(items), val})
			}
		}
	}
	ev.ip = newIPTable(items, 0)
	return ev
}

// defaultSGByIP is the VPC default SG on an interface without security
// groups: inbound only from the default group's own members.
func (b *builder) defaultSGByIP(h Hop, place string) *hopEval {
	ev := &hopEval{kind: evalIP, res: []HopResult{
		{Hop: h, Outcome: Deny, Reason: ReasonDefaultSG, Rule: -1, Place: place, Object: DefaultSG},
		{Hop: h, Outcome: Allow, Reason: ReasonDefaultSG, Rule: -1, Place: place, Object: DefaultSG},
	}}
	var items []ipItem
	for _, p := range b.members[""] {
		items = append(items, ipItem{p, len(items), 1})
	}
	ev.ip = newIPTable(items, 0)
	return ev
}

// DefaultSG is the Object of hops decided by the VPC default security group.
const DefaultSG = "default"
