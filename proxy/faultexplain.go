package proxy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

// ExplainFaults weighs faults in an explain report: an
// az_outage of a path's AZ blocks the path, a target_blackhole or
// target_reset blocks its target (the path when it blocks every target),
// a port_budget is a note on the paths towards the targets it covers, and
// every other fault in scope is a note on the path. A fault with a
// toxicity below 1 blocks only some flows: it is a note. The verdict is
// recomputed. Live explains pass the active faults; offline explains the
// configuration's (those with start_after start later, as their note says).
func ExplainFaults(r *acl.Report, faults []config.Fault) {
	if len(faults) == 0 {
		return
	}
	r.Allowed = true
	anyAllowed := false
	for i := range r.Paths {
		p := &r.Paths[i]
		for j := range faults {
			explainFault(r, p, &faults[j])
		}
		r.Allowed = r.Allowed && p.Allowed
		anyAllowed = anyAllowed || p.Allowed
	}
	switch {
	case !anyAllowed:
		r.Verdict = "denied"
	case !r.Allowed:
		r.Verdict = "partial"
	default:
		r.Verdict = "allowed"
	}
}

// explainFault applies one fault to a path of the report.
func explainFault(r *acl.Report, p *acl.PathReport, f *config.Fault) {
	if !pathInScope(r, p, f) {
		return
	}
	name := fmt.Sprintf("fault %s (%s)", f.ID, f.Kind)
	when := ""
	if f.StartAfter > 0 {
		when = fmt.Sprintf(" once it starts (start_after %s)", f.StartAfter)
	}
	blocks := f.Toxicity >= 1 && f.StartAfter == 0
	switch f.Kind {
	case config.FaultAZOutage:
		p.Notes = append(p.Notes, name+": the AZ's interface answers no new connection"+when+" (its SYNs are dropped, or reset with deny_action reset)")
		p.Allowed = p.Allowed && !blocks
	case config.FaultTargetBlackhole, config.FaultTargetReset:
		explainTargetFault(p, f, name, when, blocks)
	case config.FaultPortBudget:
		explainBudgetFault(p, f, name, when)
	default:
		p.Notes = append(p.Notes, fmt.Sprintf("%s applies to %s of the flows on this path%s", name, share(f), when))
	}
}

// explainTargetFault marks the targets a target fault takes out.
func explainTargetFault(p *acl.PathReport, f *config.Fault, name, when string, blocks bool) {
	what := "does not answer SYNs (the dial times out)"
	if f.Kind == config.FaultTargetReset {
		what = "refuses connections (RST)"
	}
	left := false
	for i := range p.Targets {
		t := &p.Targets[i]
		if !targetInScope(t, f) {
			left = left || t.Allowed
			continue
		}
		note := fmt.Sprintf("%s: the target %s%s", name, what, when)
		if t.Note != "" {
			note = t.Note + "; " + note
		}
		t.Note = note
		t.Allowed = t.Allowed && !blocks
		left = left || t.Allowed
	}
	if len(p.Targets) > 0 && !left {
		p.Allowed = false
	}
}

// explainBudgetFault notes a port_budget fault on a path towards targets
// it covers: the node's pools towards them hold its budget.
func explainBudgetFault(p *acl.PathReport, f *config.Fault, name, when string) {
	var in []string
	for _, t := range p.Targets {
		if t.Check == "traffic" && targetInScope(&t, f) {
			in = append(in, t.Target)
		}
	}
	switch {
	case len(in) > 0:
		p.Notes = append(p.Notes, fmt.Sprintf("%s: the node's port pool towards %s holds %d ports%s (connections beyond: port allocation errors)",
			name, strings.Join(in, ", "), f.Budget, when))
	case len(p.Targets) == 0: // targets not known: the scope says the path
		p.Notes = append(p.Notes, fmt.Sprintf("%s: the node's port pools towards the targets in scope hold %d ports%s", name, f.Budget, when))
	}
}

func share(f *config.Fault) string {
	if f.Toxicity >= 1 {
		return "all"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(f.Toxicity))
}

// pathInScope reports whether the scope keys of the path match.
func pathInScope(r *acl.Report, p *acl.PathReport, f *config.Fault) bool {
	s := &f.Scope
	iface, _ := netip.ParseAddrPort(p.Interface)
	node, _ := netip.ParseAddr(p.Node)
	return (s.Endpoint == "" || s.Endpoint == r.Endpoint) &&
		(s.Service == "" || s.Service == r.Service) &&
		(s.AZ == "" || s.AZ == p.AZ || isTargetKind(f.Kind)) && // a target fault's AZ is its targets'

		(!s.Node.IsValid() || s.Node == node) &&
		(s.Listener == 0 || s.Listener == iface.Port())
}

func isTargetKind(k config.FaultKind) bool {
	return k == config.FaultTargetBlackhole || k == config.FaultTargetReset || k == config.FaultPortBudget
}

// targetInScope reports whether a target fault's scope names the target.
// The report does not name target groups: a fault scoped by target group
// applies to every target of the path (the path has one group).
func targetInScope(t *acl.TargetReport, f *config.Fault) bool {
	s := &f.Scope
	ap, _ := netip.ParseAddrPort(t.Target)
	return (!s.Target.IsValid() || s.Target == ap) && (s.AZ == "" || s.AZ == t.AZ)
}

// activeFaults lists the faults active now, for a live explain.
func (s *Server) activeFaults() []config.Fault {
	fs := s.faults.active.Load()
	if fs == nil {
		return nil
	}
	out := make([]config.Fault, len(*fs))
	for i, ft := range *fs {
		out[i] = ft.spec
	}
	return out
}
