package proxy

import (
	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
)

// recheckFlows applies the new rules' network ACLs to live flows: NACLs
// are stateless, AWS evaluates every packet, so a flow the new NACLs deny
// stops being forwarded — silently, the next peer that sends gets an RST.
// Security groups are stateful: their changes leave tracked flows alone.
// (A flow that a changed SG would deny before a NACL hop is reached is not
// re-checked further: the SG hop stops the evaluation.) A flow whose
// target is still being dialled is checked by its loop when the dial
// completes, before it forwards anything (established).
func (s *Server) recheckFlows() {
	ev := s.rules.Load()
	for _, t := range s.allTargets() {
		for _, f := range t.liveFlows() {
			f.recheck.Store(true)
			if f.relayed.Load() && f.recheck.CompareAndSwap(true, false) {
				s.recheckFlow(f, ev)
			}
		}
	}
}

// recheckHere runs the recheck a reload asked of the flow, on its loop;
// with recheckFlows, exactly one of them runs it.
func (f *flow) recheckHere() {
	if f.recheck.CompareAndSwap(true, false) {
		f.s.recheckFlow(f, f.s.rules.Load())
	}
}

// recheckFlow expires f if ev's network ACLs deny it.
func (s *Server) recheckFlow(f *flow, ev *acl.Evaluator) {
	var v acl.Verdict
	denied := false
	if cp := ev.Consumer(f.r.addr); cp != nil && !cp.Check(f.ct.Client, &v) {
		denied = isNACLHop(v.Denied)
	} else if pp := ev.Provider(f.r.serviceID, f.r.node, f.ct.Target); pp != nil && !pp.Check(f.ct.Node.Port(), &v) {
		denied = isNACLHop(v.Denied)
	}
	if !denied {
		return
	}
	s.m.rejected.WithLabelValues(f.r.serviceID, v.Denied.String()).Inc()
	by := v.DeniedBy()
	s.log.Info("reload: a network ACL now denies a live flow; it stops being forwarded",
		zap.String("endpoint", f.r.endpointID), zap.String("hop", v.Denied.String()),
		zap.String("place", by.Place), zap.String("rule", by.RuleText()))
	f.Expire()
}

func isNACLHop(h acl.Hop) bool {
	switch h {
	case acl.HopClientNACLEgress, acl.HopEndpointNACLIngress, acl.HopEndpointNACLEgressReturn, acl.HopClientNACLIngressReturn,
		acl.HopNodeNACLEgress, acl.HopTargetNACLIngress, acl.HopTargetNACLEgressReturn, acl.HopNodeNACLIngressReturn:
		return true
	}
	return false
}
