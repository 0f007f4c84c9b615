package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/privlink/privlink/config"
)

// suggest returns the concrete fix for a denying hop: the YAML rule to add
// and where, or the rule number that blocks.
func (e *Evaluator) suggest(r *HopResult, f flow, svc *config.Service, nums *ruleNumbers) string {
	ports := portsText(f.from, f.to)
	cidr := netip.PrefixFrom(f.peer, f.peer.BitLen()).String()
	dir := "ingress"
	if r.Hop.egress() {
		dir = "egress"
	}
	if r.Hop.isNACL() {
		return e.suggestNACL(r, dir, ports, cidr, nums)
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

func (e *Evaluator) suggestNACL(r *HopResult, dir, ports, cidr string, nums *ruleNumbers) string {
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
	free := func(m int) bool { return !used[m] && !nums.taken[numKey(n.ID, dir, m)] }
	key := numKey(n.ID, dir, 0) + " " + ports + " " + cidr
	if r.Reason == ReasonRule {
		m := nums.pick(key, n.ID, dir, func() int {
			for m := int(r.Rule) - 1; m >= 1; m-- {
				if free(m) {
					return m
				}
			}
			return 0
		})
		if m > 0 {
			return fmt.Sprintf("NACL %s rule %d denies %s; add to network ACL %s %s, numbered below %d: %s",
				n.ID, r.Rule, what, n.ID, dir, r.Rule, allow(m))
		}
		return fmt.Sprintf("NACL %s rule %d denies %s; renumber it and add an allow rule before it", n.ID, r.Rule, what)
	}
	num := nums.pick(key, n.ID, dir, func() int { return afterRules(highest, free) })
	if num == 0 {
		return fmt.Sprintf("NACL %s denies %s by its implicit deny (*) and has no free rule number; renumber its rules", n.ID, what)
	}
	return fmt.Sprintf("NACL %s denies %s by its implicit deny (*): no rule matches; add to network ACL %s %s: %s",
		n.ID, what, n.ID, dir, allow(num))
}

// afterRules picks a free rule number after the highest one: the next
// multiple of 10 that is free, else any free number above it (0: none).
func afterRules(highest int, free func(int) bool) int {
	for m := (highest/10 + 1) * 10; m <= 32766; m += 10 {
		if free(m) {
			return m
		}
	}
	for m := 32766; m > highest; m-- {
		if free(m) {
			return m
		}
	}
	return 0
}

// ruleNumbers hands out the numbers of the NACL rules one explanation
// suggests, so that its suggestions can be pasted together: no two take
// one number of a NACL direction, and a rule two paths need keeps one
// number (and its suggestion is listed once).
type ruleNumbers struct {
	taken map[string]bool // numKey of every number handed out
	given map[string]int  // rule (NACL, direction, ports, CIDR) → number
}

func newRuleNumbers() *ruleNumbers {
	return &ruleNumbers{taken: map[string]bool{}, given: map[string]int{}}
}

func numKey(nacl, dir string, num int) string { return nacl + "/" + dir + "/" + strconv.Itoa(num) }

// pick returns the number of the rule key, choosing a new one with choose.
func (nums *ruleNumbers) pick(key, nacl, dir string, choose func() int) int {
	if m, ok := nums.given[key]; ok {
		return m
	}
	m := choose()
	nums.given[key] = m
	if m > 0 {
		nums.taken[numKey(nacl, dir, m)] = true
	}
	return m
}

func peerPrep(dir string) string {
	if dir == "egress" {
		return "to"
	}
	return "from"
}
