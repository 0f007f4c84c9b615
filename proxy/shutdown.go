package proxy

import (
	"net/netip"
	"os"

	"context"
	"errors"
	"github.com/privlink/privlink/loadtest"
	"time"
)

// Shutdown stops the server gracefully: it stops accepting (readyz turns
// 503), lets forwarded connections finish until ctx is done, then closes
// what is left, the built-in targets and the admin API. Every goroutine the
// server started has returned when Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	lns := make([]*listener, 0, len(s.listeners))
	for _, ln := range s.listeners {
		lns = append(lns, ln)
	}
	for c := range s.held {
		c.SetReadDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	// Outside s.mu: the loops take it when they accept.
	for _, ln := range lns {
		ln.Close()
	}
	s.stopGateway(ctx)

	drained := make(chan struct{})
	go func() { s.handlers.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		s.abortDials()
		s.closeEngine()
		<-drained
	}
	s.cancel()
	s.closeEngine()
	s.stopHealth()
	s.stopBuiltins()
	s.stopAdmin()
	if s.notifier != nil {
		s.notifier.Close()
	}
	s.table.Close()
	if s.flowLog != nil {
		s.flowLog.Close()
		if s.flowLogFile != os.Stdout {
			s.flowLogFile.Close()
		}
		s.flowLog = nil
	}
	return err
}

// stopHealth ends health checks (aborting probes in progress: every flow
// has ended by now) and pending deregistrations.
func (s *Server) stopHealth() {
	s.abortDials()
	for _, g := range s.allGroups() {
		g.mu.Lock()
		for _, t := range g.targets {
			t.mu.Lock()
			t.stopChecker()
			if t.drainDone != nil {
				t.drainDone.Stop()
			}
			t.mu.Unlock()
		}
		g.mu.Unlock()
	}
	s.checkers.Wait()
}

var aLongTimeAgo = time.Unix(1, 0)

// Close stops the server at once, closing every connection.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// closeEngine kills the flows still relayed; flows that reach the engine
// later end at once.
func (s *Server) closeEngine() {
	if s.eng != nil {
		s.eng.Close()
	}
}

func (s *Server) stopBuiltins() {
	s.mu.Lock()
	targets := s.builtinTargets
	s.builtinTargets = map[netip.AddrPort]*loadtest.Target{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range targets {
		t.Shutdown(ctx)
	}
	s.builtins.Wait()
}
