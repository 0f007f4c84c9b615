package acl

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/privlink/privlink/config"
)

// Lint returns warnings for rules that can never matter: a NACL rule whose
// traffic lower-numbered rules of the same direction already decide, and a
// security group rule that repeats another rule of the same group and
// direction. AWS accepts the former and refuses the latter; privlink accepts
// both and warns. Each warning names the key path and line like config's.
func Lint(cfg *config.Config) config.Errors {
	var out config.Errors
	warn := func(path, format string, args ...any) {
		out = append(out, config.Error{File: cfg.Source, Line: line(cfg, path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for i, n := range cfg.NetworkACLs {
		for _, dir := range []struct {
			key   string
			rules []config.NACLRule
		}{{"ingress", n.Ingress}, {"egress", n.Egress}} {
			for j := range dir.rules {
				if by := shadowedBy(dir.rules, j); by != nil {
					warn(fmt.Sprintf("network_acls[%d].%s[%d]", i, dir.key, j),
						"rule %d can never match: lower-numbered %s all of its traffic", dir.rules[j].Rule, numbers(by))
				}
			}
		}
	}
	for i, g := range cfg.SecurityGroups {
		for _, dir := range []struct {
			key   string
			rules []config.SGRule
		}{{"ingress", g.Ingress}, {"egress", g.Egress}} {
			for j, k := range duplicates(dir.rules) {
				if k >= 0 {
					warn(fmt.Sprintf("security_groups[%d].%s[%d]", i, dir.key, j),
						"duplicates %s[%d] of %s (AWS refuses duplicate rules)", dir.key, k, g.ID)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b config.Error) int { return cmp.Compare(a.Line, b.Line) })
	return out
}

// line is the line of path, or of its nearest parent key that has one.
func line(cfg *config.Config, path string) int {
	for p := path; p != ""; {
		if l := cfg.Line(p); l > 0 {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func numbers(rules []config.NACLRule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = strconv.Itoa(r.Rule)
	}
	if len(s) == 1 {
		return "rule " + s[0] + " already decides"
	}
	return "rules " + strings.Join(s, ", ") + " already decide"
}

// protoCovers reports whether every packet of protocol q is also of p.
func protoCovers(p, q config.Protocol) bool {
	return p == config.ProtocolAll || p == q && q != config.ProtocolAll
}

// shadowedBy returns the lower-numbered rules that together decide every
// packet rule j could match, or nil when some packet reaches rule j.
func shadowedBy(rules []config.NACLRule, j int) []config.NACLRule {
	by := shadowing(rules, j, nil)
	for _, e := range by {
		if one := shadowing(rules, j, &e); one != nil {
			return one // one rule alone suffices: name just that one
		}
	}
	return by
}

// shadowing is shadowedBy over the lower-numbered rules, or over only the
// rule only when it is not nil.
func shadowing(rules []config.NACLRule, j int, only *config.NACLRule) []config.NACLRule {
	r := rules[j]
	var cands []config.NACLRule
	spans := []span{prefixSpan(r.CIDR.Masked())}
	for _, e := range rules {
		if only != nil && e.Rule != only.Rule {
			continue
		}
		if e.Rule < r.Rule && protoCovers(e.Protocol, r.Protocol) && e.CIDR.Addr().Is4() == r.CIDR.Addr().Is4() && e.CIDR.Overlaps(r.CIDR) {
			cands = append(cands, e)
			spans = append(spans, prefixSpan(e.CIDR.Masked()))
		}
	}
	if len(cands) == 0 {
		return nil
	}
	limit := max32
	if r.CIDR.Addr().Is6() {
		limit = max128
	}
	want := ruleSpan(r.Protocol, r.Ports)
	_, cover := segments(limit, spans)
	for _, c := range cover {
		if len(c) == 0 || c[0] != 0 {
			continue // a segment outside rule j's CIDR
		}
		var ports []span
		for _, k := range c[1:] {
			ports = append(ports, ruleSpan(cands[k-1].Protocol, cands[k-1].Ports))
		}
		if !covers(ports, want) {
			return nil
		}
	}
	slices.SortFunc(cands, func(a, b config.NACLRule) int { return a.Rule - b.Rule })
	return cands
}

// covers reports whether the union of spans contains want.
func covers(spans []span, want span) bool {
	slices.SortFunc(spans, func(a, b span) int { return a.lo.cmp(b.lo) })
	next := want.lo
	for _, s := range spans {
		if s.lo.cmp(next) > 0 {
			break
		}
		if s.hi.cmp(next) >= 0 {
			if s.hi.cmp(want.hi) >= 0 {
				return true
			}
			next, _ = s.hi.next()
		}
	}
	return false
}

// duplicates returns, per rule, the index of an earlier identical rule or -1.
func duplicates(rules []config.SGRule) []int {
	type key struct {
		proto config.Protocol
		ports span
		cidr  string
		group string
	}
	seen := map[key]int{}
	out := make([]int, len(rules))
	for i, r := range rules {
		k := key{r.Protocol, ruleSpan(r.Protocol, r.Ports), "", r.Group()}
		if r.CIDR.IsValid() {
			k.cidr = r.CIDR.Masked().String()
		}
		if j, ok := seen[k]; ok {
			out[i] = j
			continue
		}
		seen[k] = i
		out[i] = -1
	}
	return out
}
