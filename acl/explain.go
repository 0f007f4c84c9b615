package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/privlink/privlink/config"
)

// Port ranges Explain assumes when a port is unknown.
const (
	LinuxEphemeralFrom, LinuxEphemeralTo uint16 = 32768, 60999 // a Linux client's source ports
	NLBPortFrom, NLBPortTo               uint16 = 1024, 65535  // the NLB node's ports towards targets
)

// Query asks whether From can reach an endpoint.
type Query struct {
	From netip.Addr
	// FromPort is the client's source port; 0 = unknown: the return path is
	// evaluated for the Linux ephemeral range 32768–60999.
	FromPort uint16
	Endpoint string
	// Port is the listener port; 0 = every listener.
	Port uint16
	// Live is the running instance's state; nil explains the configuration.
	Live *Live
	// AZ limits the paths to the endpoint's interface in one AZ (an AZ ID,
	// as a zonal DNS name does); "" = every interface.
	AZ string
}

// Report is the answer to a Query: every hop of every path the client's
// connections can take, the verdict and suggestions. It marshals to JSON
// with stable lower_snake keys.
type Report struct {
	From     string `json:"from"`
	Endpoint string `json:"endpoint"`
	Service  string `json:"service"`
	// Verdict is allowed, denied, or partial (some paths allowed, some denied).
	Verdict string `json:"verdict"`
	Allowed bool   `json:"allowed"`
	// Live says the report weighs a running instance's state (endpoint
	// state, registered targets and their health, port pools).
	Live        bool   `json:"live"`
	ClientPorts string `json:"client_ports"`
	NodePorts   string `json:"node_ports"`
	// EndpointState is hop endpoint_state, checked before every rule:
	// every path is denied unless the endpoint is available.
	EndpointState HopReport    `json:"endpoint_state"`
	Paths         []PathReport `json:"paths"`
	Suggestions   []string     `json:"suggestions"`
}

// PathReport is one endpoint interface and listener: the consumer side and
// each candidate target behind the node in the interface's AZ.
type PathReport struct {
	Interface string         `json:"interface"`
	AZ        string         `json:"az"`
	Node      string         `json:"node"`
	Allowed   bool           `json:"allowed"`
	Consumer  []HopReport    `json:"consumer"`
	Targets   []TargetReport `json:"targets"`
	Notes     []string       `json:"notes,omitempty"`
	// fixes are the notes that say how to repair a denial (suggestions).
	fixes []string
}

// TargetReport is the provider side towards one target port.
type TargetReport struct {
	Target string `json:"target"`
	AZ     string `json:"az"`
	// Check is "traffic" or "health_check" (a distinct health-check port).
	Check   string      `json:"check"`
	Allowed bool        `json:"allowed"`
	Hops    []HopReport `json:"hops"`
	// The target's live state (live reports only): health state and reason
	// code, whether the node sends it new flows, whether the client port
	// is hashed to it, the node's port pool towards it, and a note.
	State    string `json:"state,omitempty"`
	Reason   string `json:"reason,omitempty"`
	NewFlows *bool  `json:"new_flows,omitempty"`
	Picked   bool   `json:"picked,omitempty"`
	Ports    string `json:"ports,omitempty"`
	Note     string `json:"note,omitempty"`
}

// HopReport is one hop as explained: where, which rule, what verdict. For
// a return-path hop over a port range, Uncovered lists the ports it denies.
type HopReport struct {
	Hop        Hop     `json:"hop"`
	Place      string  `json:"place"`
	Rule       string  `json:"rule"`
	Verdict    Outcome `json:"verdict"`
	Ports      string  `json:"ports"`
	Uncovered  string  `json:"uncovered,omitempty"`
	Suggestion string  `json:"suggestion,omitempty"`
}

// ErrUnknownEndpoint and ErrUnknownPort are returned for a query naming no
// configured endpoint or listener.
var (
	ErrUnknownEndpoint = errors.New("acl: unknown endpoint")
	ErrUnknownPort     = errors.New("acl: no such listener port")
)

// Explain evaluates a query hop by hop. Every hop is evaluated, not only up
// to the first denial, so that one report names everything to fix.
func Explain(e *Evaluator, q Query) (*Report, error) {
	ep, svc, err := e.lookup(q)
	if err != nil {
		return nil, err
	}
	from := q.From.Unmap()
	r := &Report{From: from.String(), Endpoint: ep.ID, Service: svc.ID, Allowed: true, Live: q.Live != nil,
		ClientPorts: portsText(LinuxEphemeralFrom, LinuxEphemeralTo), NodePorts: portsText(NLBPortFrom, NLBPortTo)}
	cFrom, cTo := LinuxEphemeralFrom, LinuxEphemeralTo
	if q.FromPort != 0 {
		r.From = netip.AddrPortFrom(from, q.FromPort).String()
		cFrom, cTo = q.FromPort, q.FromPort
		r.ClientPorts = portsText(cFrom, cTo)
	}
	anyAllowed := false
	nums := newRuleNumbers()
	r.EndpointState = endpointState(ep, svc, q.Live, q.Port)
	for _, in := range ep.Interfaces {
		if q.AZ != "" && in.AZ != q.AZ {
			continue
		}
		for _, l := range svc.LoadBalancer.Listeners {
			if q.Port != 0 && l.Port != q.Port {
				continue
			}
			pr := e.explainPath(svc, in, l, pathQuery{from, cFrom, cTo, q.Live}, nums)
			pr.Allowed = pr.Allowed && r.EndpointState.Verdict != Deny
			r.Allowed = r.Allowed && pr.Allowed
			anyAllowed = anyAllowed || pr.Allowed
			r.Paths = append(r.Paths, pr)
		}
	}
	r.Verdict = "allowed"
	switch {
	case !anyAllowed:
		r.Verdict = "denied"
	case !r.Allowed:
		r.Verdict = "partial"
	}
	r.Suggestions = []string{}
	if s := r.EndpointState.Suggestion; s != "" {
		r.Suggestions = append(r.Suggestions, s)
	}
	for _, p := range r.Paths {
		r.Suggestions = appendSuggestions(r.Suggestions, p)
	}
	return r, nil
}

func appendSuggestions(out []string, p PathReport) []string {
	add := func(hs []HopReport) {
		for _, h := range hs {
			if h.Suggestion != "" && !slices.Contains(out, h.Suggestion) {
				out = append(out, h.Suggestion)
			}
		}
	}
	add(p.Consumer)
	for _, t := range p.Targets {
		add(t.Hops)
	}
	for _, n := range p.fixes {
		if !p.Allowed && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (e *Evaluator) lookup(q Query) (*config.Endpoint, *config.Service, error) {
	if !q.From.IsValid() {
		return nil, nil, errors.New("acl: the source address (from) is required")
	}
	if isGateway(e.cfg, q.Endpoint) {
		return nil, nil, fmt.Errorf("%w: %s (explain its path with ExplainGateway)", ErrGatewayEndpoint, q.Endpoint)
	}
	var ids []string
	for i := range e.cfg.Endpoints {
		ep := &e.cfg.Endpoints[i]
		ids = append(ids, ep.ID)
		if ep.ID != q.Endpoint {
			continue
		}
		svc := service(e.cfg, ep.Service)
		var ports []string
		for _, l := range svc.LoadBalancer.Listeners {
			if q.Port == 0 || l.Port == q.Port {
				return ep, svc, nil
			}
			ports = append(ports, strconv.Itoa(int(l.Port)))
		}
		return nil, nil, fmt.Errorf("%w: endpoint %s has no listener on port %d (listeners: %s)", ErrUnknownPort, ep.ID, q.Port, strings.Join(ports, ", "))
	}
	return nil, nil, fmt.Errorf("%w %q (endpoints: %s)", ErrUnknownEndpoint, q.Endpoint, strings.Join(ids, ", "))
}

// flow is what one hop sees: the peer address and the port range.
type flow struct {
	peer     netip.Addr
	from, to uint16
}

// pathQuery is what every path of one query shares: the client, its port
// range and the live state.
type pathQuery struct {
	client   netip.Addr
	from, to uint16
	live     *Live
}

func (e *Evaluator) explainPath(svc *config.Service, in config.Interface, l config.Listener, q pathQuery, nums *ruleNumbers) PathReport {
	p := e.Consumer(netip.AddrPortFrom(in.IP, l.Port))
	pr := PathReport{Interface: p.Interface.String(), AZ: in.AZ, Node: p.Node.String(), Allowed: true, Targets: []TargetReport{}}
	c := &p.class[p.classes.lookup(q.client)]
	port := flow{q.client, l.Port, l.Port}
	flows := [len(consumerHops)]flow{{in.IP, l.Port, l.Port}, {in.IP, l.Port, l.Port}, port, port,
		{q.client, q.from, q.to}, {in.IP, q.from, q.to}, port}
	for i, h := range c.hops {
		hr := e.explainHop(h, consumerHops[i], flows[i], svc, nums)
		pr.Allowed = pr.Allowed && hr.Verdict != Deny
		pr.Consumer = append(pr.Consumer, hr)
	}
	if svc.Node(in.AZ) == nil && svc.AWSService != "" {
		pr.Node = ""
		pr.Notes = append(pr.Notes, svc.ID+" answers at the endpoint interface: no load balancer or targets behind it; its endpoint policy decides each request")
		return pr
	}
	e.explainTargets(&pr, svc, in, l, q.live, nums)
	return pr
}

// explainTargets adds the provider side of a path: every target the node
// may choose, with the live state when there is one. The path is allowed
// only when every target that decides it (see decides) is.
func (e *Evaluator) explainTargets(pr *PathReport, svc *config.Service, in config.Interface, l config.Listener, live *Live, nums *ruleNumbers) {
	n := svc.Node(in.AZ)
	tg := svc.TargetGroup(l.TargetGroup)
	targets := pathTargets(svc, tg, in, l, n, live)
	anyPicked := slices.ContainsFunc(targets, func(t LiveTarget) bool { return t.Picked })
	counted := 0
	for i := range targets {
		lt := &targets[i]
		tr := e.explainTarget(svc, n, lt.Target, lt.Target.Port, "traffic", nums)
		if live != nil {
			annotate(&tr, lt, n.IP)
		}
		if decides(lt, anyPicked, live != nil) {
			counted++
			pr.Allowed = pr.Allowed && tr.Allowed
		}
		pr.Targets = append(pr.Targets, tr)
		if hc := tg.HealthCheck.Port; tg.HealthCheck.Enabled && hc != 0 && hc != lt.Target.Port {
			hr := e.explainTarget(svc, n, lt.Target, hc, "health_check", nums)
			if live == nil { // live, the target's health state says how its checks fare
				pr.Allowed = pr.Allowed && hr.Allowed
			}
			pr.Targets = append(pr.Targets, hr)
		}
	}
	if counted == 0 {
		pr.Allowed = false
	}
	fixes, facts := targetNotes(tg, svc, in.AZ, targets, counted, live != nil)
	pr.fixes = fixes
	pr.Notes = append(fixes, facts...)
}

func (e *Evaluator) explainTarget(svc *config.Service, n *config.Node, t config.Target, port uint16, check string, nums *ruleNumbers) TargetReport {
	dst := netip.AddrPortFrom(t.IP.Unmap(), port)
	tr := TargetReport{Target: dst.String(), AZ: t.AZ, Check: check, Allowed: true, Hops: []HopReport{}}
	p := e.Provider(svc.ID, n.IP, dst)
	if p == nil { // registered after these rules were compiled
		tr.Note = "not in the compiled rules yet; ask again"
		return tr
	}
	fwd := func(peer netip.Addr) flow { return flow{peer, port, port} }
	flows := [len(providerHops)]flow{fwd(t.IP), fwd(n.IP), fwd(n.IP), {n.IP, NLBPortFrom, NLBPortTo}, {t.IP, NLBPortFrom, NLBPortTo}}
	for i, h := range p.hops {
		hr := e.explainHop(h, providerHops[i], flows[i], svc, nums)
		tr.Allowed = tr.Allowed && hr.Verdict != Deny
		tr.Hops = append(tr.Hops, hr)
	}
	return tr
}

// explainHop evaluates a hop over the flow's whole port range.
func (e *Evaluator) explainHop(h *hopEval, hop Hop, f flow, svc *config.Service, nums *ruleNumbers) HopReport {
	runs := h.portRange(f.peer, f.from, f.to)
	hr := HopReport{Hop: hop, Place: runs[0].Result.Place, Verdict: Skip, Ports: portsText(f.from, f.to)}
	var rules, denied []string
	var deciding *HopResult
	for _, run := range runs {
		res := run.Result
		txt := res.RuleText()
		if len(runs) > 1 {
			txt += " [" + portsText(run.From, run.To) + "]"
		}
		rules = append(rules, txt)
		switch {
		case res.Outcome == Deny:
			denied = append(denied, portsText(run.From, run.To))
			if deciding == nil || deciding.Outcome != Deny || res.Reason == ReasonRule && deciding.Reason != ReasonRule {
				deciding = res
			}
			hr.Verdict = Deny
		case res.Outcome == Allow && hr.Verdict == Skip:
			hr.Verdict = Allow
		}
	}
	hr.Rule = strings.Join(rules, ", ")
	if hr.Verdict == Deny {
		if len(runs) > 1 {
			hr.Uncovered = strings.Join(denied, ",")
		}
		hr.Suggestion = e.suggest(deciding, f, svc, nums)
	}
	return hr
}

func portsText(from, to uint16) string {
	if from == to {
		return strconv.Itoa(int(from))
	}
	return strconv.Itoa(int(from)) + "-" + strconv.Itoa(int(to))
}
