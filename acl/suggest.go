package acl

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/config"
)

// suggest returns the concrete fix for a denying hop: the YAML rule to add
// and where, or the rule number that blocks.
func (e *Evaluator) suggest(r *HopResult, f flow, svc *config.Service) string {
	ports := portsText(f.from, f.to)
	cidr := netip.PrefixFrom(f.peer, f.peer.BitLen()).String()
	dir := "ingress"
	if r.Hop.egress() {
		dir = "egress"
	}
	if r.Hop.isNACL() {
		return e.suggestNACL(r, dir, ports, cidr)
	}
	peer := "cidr: " + cidr
	switch {
	case r.Hop == HopTargetSGIngress && len(svc.LoadBalancer.SecurityGroups) > 0:
		peer = "source_group: " + svc.LoadBalancer.SecurityGroups[0]
	case r.Hop.egress():
		peer = "cidr: " + cidr
	}
	rule := fmt.Sprintf(`{protocol: tcp, ports: "%s", %s}`, ports, peer)
	if r.Reason == ReasonDefaultSG {
		return fmt.Sprintf("%s has no security_groups, so the VPC default SG admits only its own members; "+
			"attach a security group with ingress: [%s]", strings.Split(r.Place, "/")[0], rule)
	}
	group, _, _ := strings.Cut(r.Object, ",")
	s := fmt.Sprintf("no rule of %s allows %s %s on port %s; add to security group %s %s: %s",
		r.Object, peerWord(dir), cidr, ports, group, dir, rule)
	if r.Hop == HopNLBSGIngress {
		s += fmt.Sprintf(" (or set enforce_inbound_rules_on_privatelink: false on %s)", svc.LoadBalancer.Name)
	}
	return s
}

func peerWord(dir string) string {
	if dir == "egress" {
		return "traffic to"
	}
	return "traffic from"
}

func (e *Evaluator) suggestNACL(r *HopResult, dir, ports, cidr string) string {
	n := e.b.nacls[r.Object]
	rules := n.Ingress
	if dir == "egress" {
		rules = n.Egress
	}
	used := map[int]bool{}
	highest := 0
	for _, x := range rules {
		used[x.Rule] = true
		highest = max(highest, x.Rule)
	}
	what := fmt.Sprintf("%s %s %s port %s", dir, peerPrep(dir), cidr, ports)
	if r.Hop == HopEndpointNACLEgressReturn || r.Hop == HopClientNACLIngressReturn ||
		r.Hop == HopTargetNACLEgressReturn || r.Hop == HopNodeNACLIngressReturn {
		what += " (return traffic of a stateless NACL)"
	}
	allow := func(num int) string {
		return fmt.Sprintf(`{rule: %d, protocol: tcp, ports: "%s", cidr: %s, action: allow}`, num, ports, cidr)
	}
	if r.Reason == ReasonRule {
		for m := int(r.Rule) - 1; m >= 1; m-- {
			if !used[m] {
				return fmt.Sprintf("NACL %s rule %d denies %s; add to network ACL %s %s, numbered below %d: %s",
					n.ID, r.Rule, what, n.ID, dir, r.Rule, allow(m))
			}
		}
		return fmt.Sprintf("NACL %s rule %d denies %s; renumber it and add an allow rule before it", n.ID, r.Rule, what)
	}
	num := min((highest/10+1)*10, 32766)
	for used[num] && num > 1 {
		num--
	}
	return fmt.Sprintf("NACL %s denies %s by its implicit deny (*): no rule matches; add to network ACL %s %s: %s",
		n.ID, what, n.ID, dir, allow(num))
}

func peerPrep(dir string) string {
	if dir == "egress" {
		return "to"
	}
	return "from"
}
