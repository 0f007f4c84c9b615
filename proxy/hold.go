package proxy

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// hold keeps a denied connection open and silent, reading and discarding
// what the client sends, until it closes or the hold ends (Shutdown ends
// it at once). It counts in privlink_held_denied_connections meanwhile.
func (s *Server) hold(c *socket) {
	// The deadline is set before Shutdown can see the connection in
	// s.held: Shutdown's own ("now") then comes after it.
	c.SetReadDeadline(time.Now().Add(s.opts.DenyHold))
	if !s.startHold(c) {
		return
	}
	s.m.held.Inc()
	defer s.m.held.Dec()
	if s.onHold != nil {
		s.onHold()
	}
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.held, c)
	s.mu.Unlock()
}

// startHold adds c to the held connections, unless the server is closing
// or Options.MaxHeld are held already.
func (s *Server) startHold(c *socket) bool {
	s.mu.Lock()
	closing, full := s.closing, len(s.held) >= s.opts.MaxHeld
	if !closing && !full {
		s.held[c] = struct{}{}
	}
	s.mu.Unlock()
	if full && !closing {
		s.heldOverflow()
	}
	if !closing && !full {
		s.heldAdmitted()
	}
	return !closing && !full
}

// releaseHeld ends every hold at once. Callers hold s.mu.
func (s *Server) releaseHeld() {
	for c := range s.held {
		c.SetReadDeadline(aLongTimeAgo)
	}
}

// targetReset reports whether a failed dial counts as a target reset: the
// target refused the connection (an RST to the SYN), or reset it before
// the loop saw the connect done (SO_ERROR ECONNRESET). A connect privlink
// aborted itself (a termination, a forced shutdown) leaves ECONNRESET
// too; it does not count.
func (s *Server) targetReset(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) && !s.dials.isAborted()
}

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
