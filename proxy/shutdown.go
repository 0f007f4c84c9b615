package proxy

import (
	"context"
	"errors"
	"time"
)

// Shutdown stops the server gracefully: it stops accepting (readyz turns
// 503), lets forwarded connections finish until ctx is done, then closes
// what is left, the built-in targets and the admin API. Every goroutine the
// server started has returned when Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.accepts.Wait()

	drained := make(chan struct{})
	go func() { s.handlers.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel() // aborts dials in progress
		s.closeEngine()
		<-drained
	}
	s.cancel()
	s.closeEngine()
	s.stopBuiltins()
	s.stopAdmin()
	return err
}

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
	targets := s.targets
	s.targets = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, t := range targets {
		t.Shutdown(ctx)
	}
	s.builtins.Wait()
}
