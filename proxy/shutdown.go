package proxy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"time"

	"github.com/privlink/privlink/loadtest"
)

// Shutdown stops the server gracefully: it stops accepting (readyz turns
// 503), lets forwarded connections finish until ctx is done, then closes
// what is left, the built-in targets and the admin API. Every goroutine the
// server started has returned when Shutdown returns, unless connections
// were still open forceWait after they were force-closed: then Shutdown
// logs it and returns ErrShutdownStuck with ctx's error.
//
// A Shutdown or Close that comes while another Shutdown runs waits for it;
// if its own ctx ends first (Close's at once), the running one stops
// draining and closes what is left, and this one returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	lns, first := s.beginShutdown()
	if !first {
		select {
		case <-s.stopped:
			return nil
		case <-ctx.Done():
			s.hurryOnce.Do(func() { close(s.hurry) })
			<-s.stopped
			return ctx.Err()
		}
	}
	defer close(s.stopped)
	ctx, cancel := context.WithCancel(ctx) // a later Close hurries this one
	defer cancel()
	go func() {
		select {
		case <-s.hurry:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, ln := range lns {
		ln.Close() // outside s.mu: the loops take it when they accept
	}
	s.stopGateway(ctx)
	drained := make(chan struct{})
	go func() { s.handlers.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.forceClose()
		select {
		case <-drained:
		case <-time.After(forceWait):
			s.log.Error("shutdown: connections still open after being force-closed; not waiting for them")
			err = errors.Join(err, ErrShutdownStuck)
		}
	}
	s.cancel()
	s.stopFaults()
	s.closeEngine()
	s.stopHealth()
	s.stopBuiltins()
	s.stopAdmin()
	s.stopDNS()
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

// forceWait bounds Shutdown's wait for the connections it force-closed
// (a variable: tests shorten it).
var forceWait = 5 * time.Second

// ErrShutdownStuck is returned (joined with the context's error) by a
// Shutdown that stopped waiting for connections it had force-closed.
var ErrShutdownStuck = errors.New("proxy: connections still open after shutdown")

// beginShutdown marks the server closing, releases the held connections
// and returns the listeners to close. A reload in progress completes
// first and later ones fail with ErrServerClosed (reloadMu), so no
// listener opens after the list is taken.
// first: no Shutdown ran before this one.
func (s *Server) beginShutdown() (lns []*listener, first bool) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	s.closing = true
	lns = make([]*listener, 0, len(s.listeners))
	for _, ln := range s.listeners {
		lns = append(lns, ln)
	}
	s.releaseHeld()
	return lns, true
}

// forceClose ends every connection still open: dials in progress, relayed
// flows and held denied connections.
func (s *Server) forceClose() {
	s.cancel()
	s.abortDials()
	s.closeEngine()
	s.mu.Lock()
	s.releaseHeld()
	s.mu.Unlock()
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
	err := s.Shutdown(ctx)
	if errors.Is(err, ErrShutdownStuck) || err != nil && !errors.Is(err, context.Canceled) {
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

// stopBuiltins stops the built-in targets, retired ones included.
func (s *Server) stopBuiltins() {
	s.mu.Lock()
	var targets []*loadtest.Target
	for t := range s.retired {
		targets = append(targets, t)
	}
	for _, b := range s.builtinTargets {
		targets = append(targets, b.t)
	}
	for _, r := range s.retiring {
		r.timer.Stop()
		targets = append(targets, r.t)
	}
	s.builtinTargets = map[netip.AddrPort]builtin{}
	s.retiring = map[netip.AddrPort]*retiringBuiltin{}
	s.retired = map[*loadtest.Target]struct{}{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range targets {
		t.Shutdown(ctx)
	}
	s.builtins.Wait()
}
