package proxy

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// heldIncident tracks one incident of denied connections reset because
// Options.MaxHeld were already held silent: it is logged once when it
// starts and once when holding works again, never per connection.
type heldIncident struct {
	full  atomic.Bool
	reset atomic.Uint64 // denials reset instead of held in this incident
}

// heldOverflow records a denial reset because the hold is full.
func (s *Server) heldOverflow() {
	s.heldInc.reset.Add(1)
	if !s.heldInc.full.Swap(true) {
		s.log.Warn("too many denied connections held silent: further denials are reset instead of held until some end (deny_action drop, Options.MaxHeld)",
			zap.Int("held", s.opts.MaxHeld))
	}
}

// heldAdmitted ends an incident when a denial is held again.
func (s *Server) heldAdmitted() {
	if s.heldInc.full.Load() && s.heldInc.full.Swap(false) {
		s.log.Info("denied connections are held silent again", zap.Uint64("reset_meanwhile", s.heldInc.reset.Swap(0)))
	}
}
