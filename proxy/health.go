package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/ppv2"
)

// startChecker starts the health checks of a newly registered target, or
// marks it healthy at once when its group has health checks disabled.
// Callers hold g.mu.
func (s *Server) startChecker(t *target) {
	hc := t.g.cfg.Load().HealthCheck
	t.mu.Lock()
	defer t.mu.Unlock()
	t.oks, t.errs = 0, 0
	if !hc.Enabled {
		t.state, t.reason, t.desc = StateHealthy, "", "health checks disabled"
		return
	}
	t.state, t.reason, t.desc = StateInitial, ReasonInitialHealth, "Initial health checks in progress"
	stop := make(chan struct{})
	t.stopCheck = stop
	s.checkers.Add(1)
	go s.checkLoop(t, stop)
}

// stopChecker ends a target's health checks. Callers hold t.mu.
func (t *target) stopChecker() {
	if t.stopCheck != nil {
		close(t.stopCheck)
		t.stopCheck = nil
	}
}

// checkLoop probes a target every interval (the first probe at once) until
// stopped; the group's current settings apply to each round, so a reload
// that changes them takes effect without restarting the checker.
func (s *Server) checkLoop(t *target, stop chan struct{}) {
	defer s.checkers.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.ctx.Done():
			return
		case <-timer.C:
		}
		hc := t.g.cfg.Load().HealthCheck
		reason, desc := s.probe(t, hc)
		select {
		case <-stop: // deregistered while probing: the result no longer counts
			return
		default:
		}
		if reason != probeSkipped {
			s.healthResult(t, hc, reason, desc)
		}
		timer.Reset(hc.Interval.D())
	}
}

// probe runs one TCP health check from the node IP of the target's AZ:
// success is an established connection. With PROXY protocol v2 on, the
// check sends the LOCAL header NLB sends, so targets that cannot parse
// headers fail as they do behind AWS. It returns "" on success, else the
// reason code and a description.
func (s *Server) probe(t *target, hc config.HealthCheck) (reason, desc string) {
	t.mu.Lock()
	az := t.az
	t.mu.Unlock()
	node, ok := (*t.g.nodes.Load())[az]
	if !ok {
		return ReasonConnectionError, fmt.Sprintf("no NLB node in %s to send health checks from", az)
	}
	if skip, reason, desc := s.probeFault(t, node, hc); skip {
		return probeSkipped, ""
	} else if reason != "" {
		return reason, desc
	}
	port := t.addr.Port()
	if hc.Port != 0 {
		port = hc.Port
	}
	dst := netip.AddrPortFrom(t.addr.Addr(), port)
	var c *socket
	var err error
	for range 3 { // another socket may hold the port towards this target
		src := healthPort()
		if hop, rule, denied := s.healthDenied(t, node, dst, src); denied {
			// AWS drops the SYN; the check times out.
			return ReasonTimeout, fmt.Sprintf("health check from %s denied at %s (%s)", node, hop, rule)
		}
		if c, err = s.dial(netip.AddrPortFrom(node, src), dst, hc.Timeout.D()); !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ReasonTimeout, "Request timed out"
		}
		return ReasonConnectionError, fmt.Sprintf("Health checks failed: %v", unwrapOpError(err))
	}
	defer c.Close()
	if t.g.cfg.Load().ProxyProtocolV2 {
		c.SetWriteDeadline(time.Now().Add(hc.Timeout.D()))
		if _, err := c.Write(ppv2.AppendLocal(make([]byte, 0, 128))); err != nil {
			return ReasonConnectionError, fmt.Sprintf("Health checks failed: %v", unwrapOpError(err))
		}
	}
	return "", ""
}

func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// healthResult applies one probe result to the target's state machine:
// healthy after healthy_threshold consecutive successes, unhealthy after
// unhealthy_threshold consecutive failures.
func (s *Server) healthResult(t *target, hc config.HealthCheck, reason, desc string) {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	t.mu.Lock()
	if t.state == StateDraining || t.state == StateUnused {
		t.mu.Unlock()
		return
	}
	prev := t.state
	if reason == "" {
		t.oks, t.errs = t.oks+1, 0
		if prev != StateHealthy && t.oks >= hc.HealthyThreshold {
			t.state, t.reason, t.desc = StateHealthy, "", ""
		}
	} else {
		t.oks, t.errs = 0, t.errs+1
		if prev != StateUnhealthy && t.errs >= hc.UnhealthyThreshold {
			t.state, t.reason = StateUnhealthy, ReasonFailedHealth
		}
		if t.state == StateUnhealthy {
			t.desc = desc
		}
	}
	now := t.state
	t.mu.Unlock()
	if now == prev {
		return
	}
	s.log.Info("target health changed", zap.String("target_group", g.name), zap.Stringer("target", t.addr),
		zap.String("from", prev), zap.String("to", now), zap.String("reason", desc))
	s.reselect(g)
	// NLB resets the flows of a target that turns unhealthy, unless it is
	// failing open (no healthy target left to move them to).
	if now == StateUnhealthy && g.cfg.Load().UnhealthyConnectionTermination && g.healthyIn(t.az) > 0 {
		if n := t.resetFlows(nil); n > 0 {
			s.log.Info("reset the flows of an unhealthy target", zap.Stringer("target", t.addr), zap.Int("flows", n))
		}
	}
}
