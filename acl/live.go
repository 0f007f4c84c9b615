package acl

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/privlink/privlink/config"
)

// Live is what a running instance knows beyond its configuration; a Query
// carrying it explains the running state (GET /v1/explain). Without it,
// Explain assumes the endpoint's initial state and that every configured
// target takes new flows.
type Live struct {
	// EndpointState and EndpointReason are the endpoint's state now ("":
	// its initial state).
	EndpointState, EndpointReason string
	// Targets lists the registered targets the node of a path chooses
	// among, with their state; nil: the configured ones.
	Targets func(LivePath) []LiveTarget
}

// LivePath is the path whose targets Live.Targets lists.
type LivePath struct {
	Service, TargetGroup, AZ string
	Node                     netip.Addr
	Interface                netip.AddrPort
}

// LiveTarget is a registered target as the node sees it for new flows.
type LiveTarget struct {
	// Target is its address, AZ, subnet and SGs (the rules need them).
	Target        config.Target
	State, Reason string
	// NewFlows says whether the node sends new flows to it: it is healthy,
	// or routable while no target in scope is healthy (FailOpen).
	NewFlows, FailOpen bool
	// Picked says the flow hash sends the query's client port here.
	Picked bool
	// PortsInUse of PortBudget ports of the node's pool towards it are held
	// (a budget of 0: no pool yet).
	PortsInUse, PortBudget int
}

// exhausted reports whether the node has no free port towards the target.
func (t *LiveTarget) exhausted() bool { return t.PortBudget > 0 && t.PortsInUse >= t.PortBudget }

// endpointState is the report of hop endpoint_state: the live state, or
// offline the state the endpoint starts in. port is the query's listener
// port (0: every listener).
func endpointState(ep *config.Endpoint, svc *config.Service, live *Live, port uint16) HopReport {
	state, reason := ep.InitialState(svc)
	if live != nil && live.EndpointState != "" {
		state, reason = live.EndpointState, live.EndpointReason
	}
	var ports []string
	for _, l := range svc.LoadBalancer.Listeners {
		if port == 0 || l.Port == port {
			ports = append(ports, strconv.Itoa(int(l.Port)))
		}
	}
	hr := HopReport{Hop: HopEndpointState, Place: ep.ID, Rule: "state " + state, Verdict: Allow, Ports: strings.Join(ports, ",")}
	if reason != "" {
		hr.Rule += ": " + reason
	}
	if state == config.EndpointAvailable {
		return hr
	}
	hr.Verdict = Deny
	accept := "accept it with POST /v1/endpoints/" + ep.ID + "/accept"
	switch {
	case state == config.EndpointPendingAcceptance:
		hr.Suggestion = fmt.Sprintf("endpoint %s is pendingAcceptance: %s (or set acceptance_required: false on %s)", ep.ID, accept, svc.ID)
	case state == config.EndpointRejected && !config.PrincipalAllowed(svc.AllowedPrincipals, ep.Principal):
		hr.Suggestion = fmt.Sprintf("endpoint %s is rejected: add %s (or its account's root) to the allowed_principals of %s, or %s",
			ep.ID, ep.Principal, svc.ID, accept)
	case state == config.EndpointRejected:
		hr.Suggestion = fmt.Sprintf("endpoint %s is rejected: accept it again with POST /v1/endpoints/%s/accept (privlink allows it; AWS does not document it)", ep.ID, ep.ID)
	default:
		hr.Suggestion = fmt.Sprintf("endpoint %s is %s: it passes no traffic", ep.ID, state)
	}
	return hr
}

// pathTargets lists the targets of a path: the live ones, or the
// configured ones in the node's scope (its AZ, every AZ with cross-zone).
func pathTargets(svc *config.Service, tg *config.TargetGroup, in config.Interface, l config.Listener, n *config.Node, live *Live) []LiveTarget {
	if live != nil && live.Targets != nil {
		return live.Targets(LivePath{Service: svc.ID, TargetGroup: tg.Name, AZ: in.AZ, Node: n.IP, Interface: netip.AddrPortFrom(in.IP, l.Port)})
	}
	var out []LiveTarget
	for _, t := range tg.Targets {
		if t.AZ == in.AZ || svc.LoadBalancer.CrossZone {
			out = append(out, LiveTarget{Target: t, NewFlows: true})
		}
	}
	return out
}

// decides reports whether a target's report decides the path's verdict:
// offline every target does; live, the one the client port is hashed to,
// or else every target that takes new flows.
func decides(lt *LiveTarget, anyPicked, live bool) bool {
	switch {
	case !live:
		return true
	case anyPicked:
		return lt.Picked
	}
	return lt.NewFlows
}

// annotate adds a target's live state to its report; an exhausted port
// pool denies new flows to it.
func annotate(tr *TargetReport, lt *LiveTarget, node netip.Addr) {
	tr.State, tr.Reason, tr.Picked = lt.State, lt.Reason, lt.Picked
	nf := lt.NewFlows
	tr.NewFlows = &nf
	switch {
	case lt.State == "draining":
		tr.Note = "draining: no new flows; live flows continue until the deregistration delay ends"
	case !lt.NewFlows:
		tr.Note = "not healthy while others are: no new flows"
	case lt.FailOpen:
		tr.Note = "no target in scope is healthy: new flows come here anyway (fail open)"
	}
	if lt.PortBudget > 0 {
		tr.Ports = fmt.Sprintf("%d/%d in use", lt.PortsInUse, lt.PortBudget)
	}
	if lt.exhausted() {
		tr.Allowed = false
		tr.Note = fmt.Sprintf("port pool of node %s towards it exhausted (%s, held by connections or their reuse delay): a new flow picked for it gets an RST (port allocation error)", node, tr.Ports)
	}
}

// targetNotes are the path's notes about its targets as a whole: fixes
// (suggestions when the path is denied) and facts.
func targetNotes(tg *config.TargetGroup, svc *config.Service, az string, targets []LiveTarget, counted int, live bool) (notes, facts []string) {
	switch {
	case len(targets) == 0 && !live:
		notes = append(notes, fmt.Sprintf("target group %s has no target in %s and cross_zone is off: register a target in %s or set cross_zone: true on %s",
			tg.Name, az, az, svc.LoadBalancer.Name))
	case len(targets) == 0:
		notes = append(notes, fmt.Sprintf("target group %s has no registered target the node in %s can use: register one (POST /v1/target-groups/%s/register) or set cross_zone: true on %s",
			tg.Name, az, tg.Name, svc.LoadBalancer.Name))
	case counted == 0:
		notes = append(notes, fmt.Sprintf("no target of %s the node in %s can use takes new flows (all draining): register a target", tg.Name, az))
	}
	if slices.ContainsFunc(targets, func(t LiveTarget) bool { return t.FailOpen }) {
		facts = append(facts, fmt.Sprintf("no target of %s in scope of the node in %s is healthy: it fails open to every registered target, as NLB does", tg.Name, az))
	}
	for i := range targets {
		if t := &targets[i]; t.exhausted() && decides(t, false, live) {
			notes = append(notes, fmt.Sprintf("the port pool of the node in %s towards %s is exhausted: raise port_budget of %s or register more targets (AWS: more targets or secondary node IPs)",
				az, t.Target.AddrPort(), tg.Name))
		}
	}
	return notes, facts
}
