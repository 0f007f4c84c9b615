package acl

import (
	"net/netip"
	"slices"

	"github.com/privlink/privlink/config"
)

// Reference semantics of one rule set, written as plainly as AWS documents
// them. The compiled tables must agree with these (FuzzEvaluator checks it).

// portsMatch reports whether a rule's ports admit port: protocol all opens
// every port, and an omitted range means all ports.
func portsMatch(proto config.Protocol, r config.PortRange, port uint16) bool {
	return proto == config.ProtocolAll || r.IsZero() || r.Contains(port)
}

func ruleSpan(proto config.Protocol, r config.PortRange) span {
	if proto == config.ProtocolAll || r.IsZero() {
		return portSpan(0, 65535)
	}
	return portSpan(r.From, r.To)
}

func naclMatches(r *config.NACLRule, peer netip.Addr, port uint16) bool {
	return r.Protocol.Matches(config.ProtocolTCP) && portsMatch(r.Protocol, r.Ports, port) && r.CIDR.Contains(peer)
}

// naiveNACL returns the index of the rule that decides a TCP packet to or
// from peer on port: the lowest-numbered matching rule, or -1 for the
// implicit deny.
func naiveNACL(rules []config.NACLRule, peer netip.Addr, port uint16) int {
	best := -1
	for i := range rules {
		if naclMatches(&rules[i], peer, port) && (best < 0 || rules[i].Rule < rules[best].Rule) {
			best = i
		}
	}
	return best
}

// byNumber returns the rules' indexes sorted by rule number.
func byNumber(rules []config.NACLRule) []int {
	idx := make([]int, len(rules))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return rules[a].Rule - rules[b].Rule })
	return idx
}

// sgRef names one rule of one security group.
type sgRef struct {
	group string
	index int // -1: the default allow-all egress rule
}

// members maps a security group ID to the prefixes of everything carrying
// it. The key "" is the VPC default SG of the consumer VPC.
type members map[string][]netip.Prefix

func (m members) contains(group string, a netip.Addr) bool {
	for _, p := range m[group] {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func sgRuleMatches(r *config.SGRule, m members, peer netip.Addr, port uint16) bool {
	if !r.Protocol.Matches(config.ProtocolTCP) || !portsMatch(r.Protocol, r.Ports, port) {
		return false
	}
	if r.CIDR.IsValid() {
		return r.CIDR.Contains(peer)
	}
	return m.contains(r.Peer(), peer)
}

// naiveSG returns the first rule (groups in order, rules in order) of the
// groups that allows a TCP flow with peer and port, and whether one did.
func naiveSG(groups []*config.SecurityGroup, egress bool, m members, peer netip.Addr, port uint16) (sgRef, bool) {
	for _, g := range groups {
		rules := g.Ingress
		if egress {
			if g.Egress == nil {
				return sgRef{g.ID, -1}, true
			}
			rules = g.Egress
		}
		for i := range rules {
			if sgRuleMatches(&rules[i], m, peer, port) {
				return sgRef{g.ID, i}, true
			}
		}
	}
	return sgRef{}, false
}
