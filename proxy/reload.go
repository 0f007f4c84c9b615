package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
)

// Reload swaps in a new configuration generation without dropping live
// connections: new listeners and built-in targets open first (if one
// cannot, nothing changes and the error names the key), then the new
// generation takes every new connection, removed listeners close, target
// groups and endpoints are reconciled (targets no longer configured start
// draining), and live flows are re-checked against the new network ACLs,
// which are stateless. Security group changes apply to new flows only, as
// in AWS. privlink_config_last_reload_successful tells the outcome.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.reload(cfg); err != nil {
		s.m.reloadOK.Set(0)
		s.log.Error("reload failed; the previous configuration stays in use", zap.Error(err))
		return err
	}
	s.m.reloadOK.Set(1)
	s.log.Info("configuration reloaded", zap.String("config", cfg.Source))
	return nil
}

// ReloadFromSource loads the configuration again with Options.Loader (the
// file and overrides the server was started with) and reloads it.
func (s *Server) ReloadFromSource() error {
	if s.opts.Loader == nil {
		return errors.New("reload: the server was started from an in-memory configuration; nothing to load again")
	}
	cfg, err := s.opts.Loader()
	if err != nil {
		s.m.reloadOK.Set(0)
		s.log.Error("reload failed; the previous configuration stays in use", zap.Error(err))
		return err
	}
	for _, w := range cfg.Warnings {
		s.log.Warn("configuration", zap.String("warning", w.Error()))
	}
	return s.Reload(cfg)
}

func (s *Server) reload(cfg *config.Config) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	old := s.top.Load()
	top := s.compile(cfg)

	// Open what is new; on any failure close it again and keep the old generation.
	fresh, undo, err := s.openNew(old, top)
	if err != nil {
		return err
	}
	if old.cfg.Admin.Listen != cfg.Admin.Listen {
		s.log.Warn("admin.listen changed: the admin API keeps its address until restart",
			zap.String("listening", old.cfg.Admin.Listen), zap.String("configured", cfg.Admin.Listen))
	}

	if err := s.reloadGateway(cfg); err != nil {
		undo()
		return err
	}

	// Swap: from here on new connections use the new generation.
	s.top.Store(top)
	s.rules.Store(top.rules)
	s.reloadDNS(old, top)
	s.mu.Lock()
	var removed []*listener
	for addr, ln := range s.listeners {
		if _, ok := top.listenKeys[addr]; !ok {
			removed = append(removed, ln)
			delete(s.listeners, addr)
		}
	}
	for addr, ln := range fresh {
		s.listeners[addr] = ln
	}
	s.mu.Unlock()
	for _, ln := range removed {
		ln.Close()
	}
	keep := map[netip.AddrPort]bool{}
	for _, b := range top.builtins {
		keep[b.addr] = true
	}
	for _, b := range old.builtins {
		if !keep[b.addr] {
			s.retireBuiltin(b.addr, max(b.drain, s.opts.DialTimeout))
		}
	}
	if s.notifier != nil { // before apply: it announces the new endpoints
		s.notifier.SetSubscriptions(subscriptions(cfg))
	}
	s.apply(top)
	s.loadFaults(top.cfg)
	// New listeners accept once their targets are registered (apply);
	// outside s.mu: the loops take it when they accept.
	for addr, ln := range fresh {
		s.startAccepting(addr, ln)
	}
	if old.cfg.FlowLogs != cfg.FlowLogs {
		s.log.Warn("flow_logs changed: flow logs keep their settings until restart")
	}
	s.recheckFlows()
	return nil
}

// apply makes the runtime state match a generation: target group settings
// and the targets the configuration registers, endpoint states and their
// notifications. Targets registered over the API are left alone.
func (s *Server) apply(top *topology) {
	cfg := top.cfg
	seen := map[string]bool{}
	for i := range cfg.Services {
		sv := &cfg.Services[i]
		nodes := map[string]netip.Addr{}
		for _, n := range sv.LoadBalancer.Nodes {
			nodes[n.AZ] = n.IP
		}
		for j := range sv.TargetGroups {
			tg := &sv.TargetGroups[j]
			g := s.groupFor(sv, tg)
			seen[groupKey(sv.ID, tg.Name)] = true
			g.cfg.Store(tg)
			g.crossZone.Store(sv.LoadBalancer.CrossZone)
			g.nodes.Store(&nodes)
			g.mu.Lock()
			want := map[netip.AddrPort]bool{}
			for _, ct := range tg.Targets {
				want[ct.AddrPort()] = true
				s.registerLocked(g, ct, false)
			}
			for addr, t := range g.targets {
				if !t.fromAPI && !want[addr] {
					s.deregisterLocked(g, t)
				}
			}
			s.reselect(g)
			g.mu.Unlock()
		}
	}
	s.rtMu.Lock()
	gone := pruneMap(s.groups, func(key string) bool { return seen[key] })
	s.rtMu.Unlock()
	for _, g := range gone {
		g.mu.Lock()
		for _, t := range g.targets {
			t.mu.Lock()
			t.stopChecker()
			t.mu.Unlock()
			g.orphanLocked(t)
		}
		g.targets = map[netip.AddrPort]*target{}
		s.reselect(g)
		g.mu.Unlock()
	}
	s.keepPruned(gone)
	s.applyEndpoints(cfg)
}

func (s *Server) applyEndpoints(cfg *config.Config) {
	want := map[string]bool{}
	var announce []*endpoint
	s.rtMu.Lock()
	for _, ep := range cfg.Endpoints {
		want[ep.ID] = true
		if e := s.endpoints[ep.ID]; e != nil && !e.announced {
			e.announced = true
			announce = append(announce, e)
		}
	}
	deleted := pruneMap(s.endpoints, func(id string) bool { return want[id] })
	s.rtMu.Unlock()
	for _, e := range announce {
		st, reason := e.snapshot()
		s.log.Info("endpoint connected", zap.String("endpoint", e.id), zap.String("service", e.service),
			zap.String("state", st), zap.String("reason", reason))
		s.notify("Connect", e)
	}
	for _, e := range deleted {
		if !e.announced {
			continue // created by a reload that failed: never seen outside
		}
		e.mu.Lock()
		e.set(EndpointDeleted, "removed from the configuration")
		e.mu.Unlock()
		n := s.resetEndpointFlows(e.id)
		s.log.Info("endpoint deleted", zap.String("endpoint", e.id), zap.Int("flows_reset", n))
		s.notify("Delete", e)
	}
}

// registerLocked registers a target (or re-registers a draining one) and
// starts its health checks. Callers hold g.mu.
func (s *Server) registerLocked(g *targetGroup, ct config.Target, fromAPI bool) *target {
	addr := ct.AddrPort()
	t := g.targets[addr]
	if t != nil {
		t.mu.Lock()
		draining := t.state == StateDraining
		if draining && t.drainDone != nil {
			t.drainDone.Stop()
			t.drainDone = nil
		}
		t.az, t.subnet, t.sgs = ct.AZ, ct.Subnet, ct.SecurityGroups
		t.mu.Unlock()
		if draining {
			s.startChecker(t)
		}
		return t
	}
	t = &target{g: g, addr: addr, az: ct.AZ, subnet: ct.Subnet, sgs: ct.SecurityGroups, fromAPI: fromAPI,
		portErrors: s.m.portErrors.WithLabelValues(g.service, addr.String())}
	g.targets[addr] = t
	s.startChecker(t)
	return t
}

// deregisterLocked starts draining a target: no new flows; live ones go on
// until the deregistration delay ends, and are reset then only with
// deregistration_connection_termination. Callers hold g.mu.
func (s *Server) deregisterLocked(g *targetGroup, t *target) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == StateDraining || t.state == StateUnused {
		return
	}
	t.stopChecker()
	t.state, t.reason, t.desc = StateDraining, ReasonDeregistration, "Target deregistration is in progress"
	delay := g.cfg.Load().DeregistrationDelay.D()
	t.drainDone = time.AfterFunc(delay, func() { s.finishDrain(g, t) })
}

// finishDrain ends a target's deregistration delay.
func (s *Server) finishDrain(g *targetGroup, t *target) {
	g.mu.Lock()
	t.mu.Lock()
	if t.state != StateDraining {
		t.mu.Unlock()
		g.mu.Unlock()
		return
	}
	t.state, t.reason, t.desc, t.drainDone = StateUnused, ReasonNotRegistered, "Target is not registered to the target group", nil
	t.mu.Unlock()
	if g.targets[t.addr] == t {
		delete(g.targets, t.addr)
		g.orphanLocked(t)
	}
	s.reselect(g)
	g.mu.Unlock()
	if g.cfg.Load().DeregistrationConnectionTermination {
		if n := t.resetFlows(nil); n > 0 {
			s.log.Info("deregistration delay over: reset the target's flows", zap.Stringer("target", t.addr), zap.Int("flows", n))
		}
	}
}

// reselect rebuilds a group's selection and its health gauges. Callers hold g.mu.
func (s *Server) reselect(g *targetGroup) {
	g.reselect()
	healthy, unhealthy := map[string]int{}, map[string]int{}
	for _, t := range g.targets {
		t.mu.Lock()
		switch t.state {
		case StateHealthy:
			healthy[t.az]++
		case StateUnhealthy:
			unhealthy[t.az]++
		}
		healthy[t.az] += 0
		t.mu.Unlock()
	}
	for az := range g.gaugeAZs {
		healthy[az] += 0
	}
	if g.gaugeAZs == nil {
		g.gaugeAZs = map[string]bool{}
	}
	for az, n := range healthy {
		g.gaugeAZs[az] = true
		s.m.healthyTargets.WithLabelValues(g.name, az).Set(float64(n))
		s.m.unhealthyTargets.WithLabelValues(g.name, az).Set(float64(unhealthy[az]))
	}
}

// allGroups lists the runtime target groups.
func (s *Server) allGroups() []*targetGroup {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	out := make([]*targetGroup, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	return out
}

// pruneMap deletes the entries whose key keep rejects and returns their values.
func pruneMap[K comparable, V any](m map[K]V, keep func(K) bool) []V {
	var out []V
	for k, v := range m {
		if !keep(k) {
			out = append(out, v)
			delete(m, k)
		}
	}
	return out
}

// allTargets lists every target that may have flows: the registered
// targets of every group and the orphans (orphans.go).
func (s *Server) allTargets() []*target {
	var out []*target
	for _, g := range append(s.allGroups(), s.prunedGroups()...) {
		g.mu.Lock()
		for _, t := range g.targets {
			out = append(out, t)
		}
		for t := range g.orphans {
			out = append(out, t)
		}
		g.mu.Unlock()
	}
	return out
}

// openNew starts the built-in targets and binds the listeners a new
// generation adds; undo closes them again and restores old's runtime.
func (s *Server) openNew(old, top *topology) (fresh map[netip.AddrPort]*listener, undo func(), err error) {
	var opened, reused []builtinTarget
	fresh = map[netip.AddrPort]*listener{}
	undo = func() {
		for _, ln := range fresh {
			ln.Close()
		}
		for _, b := range opened {
			s.stopBuiltin(b.addr)
		}
		for _, b := range reused { // old had removed it: it retires again
			s.retireBuiltin(b.addr, max(b.drain, s.opts.DialTimeout))
		}
		// compile created the runtime of new target groups and endpoints:
		// forget them again (nothing was announced or health-checked yet).
		s.apply(old)
	}
	for _, b := range top.builtins {
		if s.hasBuiltin(b.addr) {
			continue
		}
		if s.unretireBuiltin(b) {
			reused = append(reused, b)
			continue
		}
		if err := s.startBuiltin(b); err != nil {
			undo()
			return nil, nil, err
		}
		opened = append(opened, b)
	}
	s.mu.Lock()
	have := make(map[netip.AddrPort]bool, len(s.listeners))
	for a := range s.listeners {
		have[a] = true
	}
	s.mu.Unlock()
	for addr, key := range sortedKeys(top.listenKeys) {
		if have[addr] {
			continue
		}
		ln, err := listen(addr)
		if err != nil {
			undo()
			return nil, nil, fmt.Errorf("%s: %s: %w", top.cfg.Source, key, err)
		}
		fresh[addr] = ln
	}
	return fresh, undo, nil
}
