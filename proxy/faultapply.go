package proxy

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/proxy/dns"
)

// What each fault does where the pipeline consults it (docs/faults.md). Every
// hook here runs only while some fault is active (faultRegistry.active).

// hopFault is the hop of a connection a fault refused (connection events).
const hopFault = "fault"

func (r *faultRegistry) initMetrics(reg prometheus.Registerer) {
	r.activeG = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "privlink", Name: "faults_active",
		Help: "Faults active now, by kind."}, []string{"kind"})
	r.flowsC = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "fault_flows_total",
		Help: "Flows a fault affected, by kind."}, []string{"kind"})
	reg.MustRegister(r.activeG, r.flowsC)
}

// hit counts a flow ft affected.
func (r *faultRegistry) hit(ft *fault, n int) {
	if n > 0 {
		ft.flows.Add(uint64(n))
		r.flowsC.WithLabelValues(string(ft.spec.Kind)).Add(float64(n))
	}
}

// rolls reports whether a new flow gets ft (its toxicity).
func (ft *fault) rolls() bool {
	p := float64(ft.spec.Toxicity)
	return p >= 1 || p > 0 && rand.Float64() < p
}

// onRoute reports whether ft's scope keys of the path match route r.
func (ft *fault) onRoute(r *route) bool {
	s := &ft.spec.Scope
	return (s.Endpoint == "" || s.Endpoint == r.endpointID) &&
		(s.Service == "" || s.Service == r.serviceID) &&
		(!s.Node.IsValid() || s.Node == r.node) &&
		(s.Listener == 0 || s.Listener == r.addr.Port()) &&
		(s.TargetGroup == "" || s.TargetGroup == r.listener.TargetGroup)
}

// onTarget reports whether ft's scope keys of a target match t.
func (ft *fault) onTarget(t *target) bool {
	s := &ft.spec.Scope
	return (!s.Target.IsValid() || s.Target == t.addr) &&
		(s.TargetGroup == "" || s.TargetGroup == t.g.name) &&
		(s.Service == "" || s.Service == t.g.service) &&
		(s.AZ == "" || s.AZ == t.az)
}

// onFlow reports whether ft's whole scope matches a flow (route, AZ of its
// interface, target).
func (ft *fault) onFlow(r *route, t *target) bool {
	s := &ft.spec.Scope
	return ft.onRoute(r) && (s.AZ == "" || s.AZ == r.az) && (!s.Target.IsValid() || t != nil && s.Target == t.addr)
}

// onTargetFlow is onFlow for the target kinds (target_blackhole,
// target_reset, port_budget): their AZ is the target's, so with
// cross-zone load balancing they reach flows from every AZ's interface.
func (ft *fault) onTargetFlow(r *route, t *target) bool {
	return ft.onRoute(r) && ft.onTarget(t)
}

// faultAtAccept applies an az_outage to a new connection on one of the
// AZ's interfaces: its SYN goes unanswered (deny_action drop: no flow-log
// record, the interface is gone) or is reset. It reports whether it did.
func (f *flow) faultAtAccept(fs []*fault, client *socket) bool {
	for _, ft := range fs {
		if ft.spec.Kind != config.FaultAZOutage || !ft.onFlow(f.r, nil) || !ft.rolls() {
			continue
		}
		f.s.faults.hit(ft, 1)
		f.denied = true
		f.r.zone.active.Dec()
		f.ct.Why = &conntrack.Cause{Hop: hopFault, Rule: "fault " + ft.spec.ID + " (az_outage)", Fault: ft.spec.ID}
		f.s.table.InsertAs(&f.ct, conntrack.StateDenied)
		f.denyAction(client)
		return true
	}
	return false
}

// faultAtDial applies target_blackhole (the SYN goes unanswered: the dial
// times out after the dial timeout) and target_reset (the target answers
// with an RST) to the dial of a new flow. It reports whether it did.
func (f *flow) faultAtDial(fs []*fault, client *socket, t0 time.Time) bool {
	for _, ft := range fs {
		k := ft.spec.Kind
		if k != config.FaultTargetBlackhole && k != config.FaultTargetReset || !ft.onTargetFlow(f.r, f.t) || !ft.rolls() {
			continue
		}
		f.s.faults.hit(ft, 1)
		f.ct.Why = &conntrack.Cause{Fault: ft.spec.ID}
		if k == config.FaultTargetReset {
			f.dialed(client, nil, dialError(f.ct.Node, f.ct.Target, os.NewSyscallError("connect", syscall.ECONNREFUSED)), maxPortTries, t0)
			return true
		}
		go f.blackholed(client, t0)
		return true
	}
	return false
}

// blackholed waits out the dial timeout of a SYN nobody answers.
func (f *flow) blackholed(client *socket, t0 time.Time) {
	t := time.NewTimer(f.s.opts.DialTimeout)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.s.ctx.Done():
	}
	f.dialed(client, nil, dialError(f.ct.Node, f.ct.Target, os.ErrDeadlineExceeded), maxPortTries, t0)
}

// faultAtStart applies idle_timeout overrides and stream toxics to a flow
// about to be relayed; it returns the toxic faults, for the caller to
// track once the flow is relayed.
func (f *flow) faultAtStart(fs []*fault) []*fault {
	var toxic []*fault
	for _, ft := range fs {
		k := ft.spec.Kind
		if k != config.FaultIdleTimeout && !k.IsToxic() || !ft.onFlow(f.r, f.t) || !ft.rolls() {
			continue
		}
		f.s.faults.hit(ft, 1)
		f.ct.Why = &conntrack.Cause{Fault: ft.spec.ID}
		if k == config.FaultIdleTimeout {
			f.IdleTimeout = ft.spec.IdleTimeout.D()
			continue
		}
		toxic = append(toxic, ft)
	}
	if len(toxic) > 0 {
		f.Toxics = toxicsOf(toxic)
	}
	return toxic
}

// faultBudget is the port budget of a new flow's pool: the smallest of a
// port_budget fault over it and the target group's, with the fault when
// it is smaller (nil: the group's budget holds).
func faultBudget(fs []*fault, r *route, t *target, budget int) (int, *fault) {
	var by *fault
	for _, ft := range fs {
		if ft.spec.Kind == config.FaultPortBudget && ft.onTargetFlow(r, t) && ft.spec.Budget < budget {
			budget, by = ft.spec.Budget, ft
		}
	}
	return budget, by
}

// faultAtPortError names the port_budget fault that shrinks the pool of a
// flow that got no port, and counts the flow as the fault's. The flow
// does not keep it (a pointer more per flow would move every flow to the
// next size class): the rare error looks it up again.
func (f *flow) faultAtPortError() {
	fs := f.s.faults.active.Load()
	if fs == nil {
		return
	}
	if _, ft := faultBudget(*fs, f.r, f.t, f.r.tg.cfg.Load().PortBudget); ft != nil {
		f.s.faults.hit(ft, 1)
		f.ct.Why = &conntrack.Cause{Fault: ft.spec.ID}
	}
}

// probeFault is what an active fault does to a health check of t from
// node: skip (the node is in an AZ outage: it sends none), or a reason
// and description to report instead of probing.
func (s *Server) probeFault(t *target, node netip.Addr, hc config.HealthCheck) (skip bool, reason, desc string) {
	fs := s.faults.active.Load()
	if fs == nil {
		return false, "", ""
	}
	for _, ft := range *fs {
		switch k := ft.spec.Kind; {
		case k == config.FaultAZOutage && s.nodeAZ(t, node) == ft.spec.Scope.AZ && (ft.spec.Scope.Service == "" || ft.spec.Scope.Service == t.g.service):
			return true, "", ""
		case k == config.FaultTargetReset && ft.onTarget(t):
			return false, ReasonConnectionError, "Health checks failed: connection refused (fault " + ft.spec.ID + ")"
		case k == config.FaultTargetBlackhole && ft.onTarget(t):
			waitOr(hc.Timeout.D(), s.ctx.Done())
			return false, ReasonTimeout, "Request timed out (fault " + ft.spec.ID + ")"
		}
	}
	return false, "", ""
}

// nodeAZ is the AZ of the node that health-checks t.
func (s *Server) nodeAZ(t *target, node netip.Addr) string {
	for az, ip := range *t.g.nodes.Load() {
		if ip == node {
			return az
		}
	}
	return ""
}

// waitOr waits d, or until done is closed.
func waitOr(d time.Duration, done <-chan struct{}) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-done:
	}
}

// probeSkipped is the reason of a health check a node did not send.
const probeSkipped = "-"

// faultStarted runs a fault's one-time effects when it becomes active and
// returns what reverts them (nil: nothing). Called with the registry locked.
func (s *Server) faultStarted(ft *fault) func() {
	switch ft.spec.Kind {
	case config.FaultAZOutage:
		return s.azOutage(ft)
	case config.FaultNodeResetAll:
		s.cutFlows(ft, func(f *flow) bool { return ft.onFlow(f.r, f.t) }, cutReset)
	case config.FaultTargetReset:
		s.cutFlows(ft, func(f *flow) bool { return ft.onTargetFlow(f.r, f.t) }, cutTargetReset)
	}
	return nil
}

// azOutage takes the AZ's interfaces of the endpoints in scope out of DNS
// and cuts the live flows through them: with deny_action reset at once
// (RSTs), with drop silently (forwarding stops; the next peer to send
// after the AZ is back gets an RST: the node no longer knows the flow).
func (s *Server) azOutage(ft *fault) func() {
	az := ft.spec.Scope.AZ
	s.syncOutagesLocked()
	in := func(f *flow) bool { return f.r.az == az && ft.onRoute(f.r) }
	mode := cutSilent
	if s.top.Load().cfg.DenyAction == config.DenyReset {
		mode = cutReset
	}
	silenced := s.cutFlows(ft, in, mode)
	return func() {
		s.syncOutagesLocked() // ft ended: what other outages cover stays out
		for _, f := range silenced {
			f.Expire()
		}
	}
}

// dnsOutages are the endpoint interfaces the active az_outage faults of
// fs take out of DNS: those of each endpoint with a route in the fault's
// AZ that its scope covers (endpoint, service, node, listener, target
// group: a name has no port, so one listener out takes the interface out).
func dnsOutages(top *topology, fs []*fault) []dns.Outage {
	var outs []dns.Outage
	for _, ft := range fs {
		if ft.spec.Kind != config.FaultAZOutage || ft.state != FaultActive {
			continue
		}
		for _, r := range top.routes {
			if r.az == ft.spec.Scope.AZ && ft.onRoute(r) {
				outs = append(outs, dns.Outage{Endpoint: r.endpointID, AZ: r.az})
			}
		}
	}
	return outs
}

// cutMode is what cutFlows does to a live flow.
type cutMode uint8

const (
	cutReset       cutMode = iota // RST both peers (an ELB reset)
	cutTargetReset                // RST both peers, counted as the target's
	cutSilent                     // stop forwarding without a word
)

// cutFlows cuts the live flows that match (each with the fault's
// toxicity) and returns those it silenced.
func (s *Server) cutFlows(ft *fault, match func(*flow) bool, mode cutMode) []*flow {
	var silenced []*flow
	n := 0
	for _, t := range s.allTargets() {
		for _, f := range t.liveFlows() {
			if !match(f) || !ft.rolls() {
				continue
			}
			if mode == cutSilent && f.relayed.Load() {
				n++
				f.silence()
				silenced = append(silenced, f)
				continue
			}
			if !f.killed.CompareAndSwap(false, true) {
				continue // cut already: a flow still in its pipeline saw the fault itself (missedFault)
			}
			n++
			if mode == cutTargetReset {
				s.faults.flows.markCut(f)
			}
			f.terminate()
		}
	}
	s.faults.hit(ft, n)
	if n > 0 {
		s.log.Info("fault cut live flows", zap.String("fault", ft.spec.ID), zap.Int("flows", n), zap.Bool("silently", mode == cutSilent))
	}
	return silenced
}
