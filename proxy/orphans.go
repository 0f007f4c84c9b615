package proxy

// A target that leaves its group's registration while flows still go to
// it — its deregistration delay ended without connection termination (the
// default), or a reload removed its whole target group — is an orphan:
// its flows go on, as with NLB. Its group keeps it in orphans until its
// last flow ends, and a removed group with orphans stays in
// Server.pruned, so endpoint rejection and deletion and a reload's NACL
// rechecks reach those flows too (allTargets).

// orphanLocked marks t no longer registered and keeps it while it has
// flows. Callers hold g.mu.
func (g *targetGroup) orphanLocked(t *target) {
	t.mu.Lock()
	t.orphaned = true
	live := len(t.flows) > 0
	t.mu.Unlock()
	if live {
		if g.orphans == nil {
			g.orphans = map[*target]struct{}{}
		}
		g.orphans[t] = struct{}{}
	}
}

// syncOrphan keeps an orphan in its group's orphans while it has flows.
func (t *target) syncOrphan() {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	t.mu.Lock()
	live := len(t.flows) > 0
	t.mu.Unlock()
	if !live {
		delete(g.orphans, t)
		return
	}
	if g.orphans == nil {
		g.orphans = map[*target]struct{}{}
	}
	g.orphans[t] = struct{}{}
}

// keepPruned keeps the removed groups that have orphans reachable.
func (s *Server) keepPruned(gone []*targetGroup) {
	var keep []*targetGroup
	for _, g := range gone {
		if g.hasOrphans() {
			keep = append(keep, g)
		}
	}
	s.rtMu.Lock()
	s.pruned = append(s.pruned, keep...)
	s.rtMu.Unlock()
}

// prunedGroups lists the removed groups that still have orphans and
// forgets the others.
func (s *Server) prunedGroups() []*targetGroup {
	s.rtMu.Lock()
	groups := append([]*targetGroup(nil), s.pruned...)
	s.rtMu.Unlock()
	live := groups[:0:0]
	for _, g := range groups {
		if g.hasOrphans() {
			live = append(live, g)
		}
	}
	s.rtMu.Lock()
	if len(s.pruned) == len(groups) { // no reload added one meanwhile
		s.pruned = live
	}
	s.rtMu.Unlock()
	return live
}

func (g *targetGroup) hasOrphans() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.orphans) > 0
}
