package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/loadtest"
)

// A built-in target strips a PROXY header only from the NLB nodes that
// send it one, as a real target configured for PROXY protocol behind NLB
// would: the nodes of the services whose target group holds it with
// proxy_protocol_v2. A header a client sent (NLB passes it on after its
// own: headers stack) or one from any other peer is data and echoed back.

// trustNodes records the nodes of sv as senders of headers to target when
// tg sends them.
func (t *topology) trustNodes(target netip.AddrPort, sv *config.Service, tg *config.TargetGroup) {
	if !tg.ProxyProtocolV2 {
		return
	}
	m := t.headerFrom[target]
	if m == nil {
		m = map[netip.Addr]bool{}
		t.headerFrom[target] = m
	}
	for _, n := range sv.LoadBalancer.Nodes {
		m[n.IP.Unmap()] = true
	}
}

// headerTrust is the TrustHeader of the built-in target at addr, read from
// the live generation (a reload may turn proxy_protocol_v2 on or off).
func (s *Server) headerTrust(addr netip.AddrPort) func(netip.Addr) bool {
	return func(peer netip.Addr) bool { return s.top.Load().headerFrom[addr][peer.Unmap()] }
}

func (s *Server) startBuiltin(b builtinTarget) error {
	ln, err := listenTCP(b.addr)
	if err != nil {
		return fmt.Errorf("%s: %s: built-in %s target: %w", s.top.Load().cfg.Source, b.key, b.mode, err)
	}
	t := loadtest.NewTargetWith(loadtest.Mode(b.mode), s.log.Named("builtin"), loadtest.TargetOptions{TrustHeader: s.headerTrust(b.addr)})
	s.mu.Lock()
	served := make(chan struct{})
	s.builtinTargets[b.addr] = builtin{t: t, ln: ln, mode: b.mode, served: served}
	s.mu.Unlock()
	s.builtins.Add(1)
	go func() {
		defer s.builtins.Done()
		defer close(served)
		if err := t.Serve(ln); !errors.Is(err, loadtest.ErrTargetClosed) {
			s.log.Error("built-in target stopped", zap.Stringer("addr", b.addr), zap.Error(err))
		}
	}()
	return nil
}

// builtin is a built-in target server and its listener.
type builtin struct {
	t      *loadtest.Target
	ln     net.Listener
	mode   config.Builtin
	served chan struct{} // closed when Serve has returned
}

// retiringBuiltin is a removed built-in target still accepting until its
// timer fires.
type retiringBuiltin struct {
	builtin
	timer *time.Timer
}

func (s *Server) hasBuiltin(addr netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.builtinTargets[addr]
	return ok
}

// stopBuiltin stops one built-in target that a failed reload opened.
func (s *Server) stopBuiltin(addr netip.AddrPort) {
	s.mu.Lock()
	b, ok := s.builtinTargets[addr]
	delete(s.builtinTargets, addr)
	s.mu.Unlock()
	if ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.t.Shutdown(ctx)
	}
}

// retireBuiltin takes a built-in target that a reload removed out of the
// configuration. It drains like any removed target and, like a real
// server that was deregistered, goes on accepting for grace (a flow that
// chose it just before the reload may still dial it); then it stops
// accepting and serves its connections until they end (or
// deregistration_delay's connection termination resets them, or the
// server stops). A reload that adds it again within grace gets it back
// (unretireBuiltin).
func (s *Server) retireBuiltin(addr netip.AddrPort, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.builtinTargets[addr]
	if !ok {
		return
	}
	delete(s.builtinTargets, addr)
	r := &retiringBuiltin{builtin: b}
	s.retiring[addr] = r
	r.timer = time.AfterFunc(grace, func() {
		s.mu.Lock()
		mine := s.retiring[addr] == r
		if mine {
			delete(s.retiring, addr)
			s.retireLocked(r.builtin)
		}
		s.mu.Unlock()
		if mine {
			r.ln.Close() // Serve returns; the connections stay
		}
	})
}

// unretireBuiltin gives a reload back a retiring built-in target at b's
// address: true if it is b's kind and serves on; one of another kind stops
// accepting now (false: start b afresh).
func (s *Server) unretireBuiltin(b builtinTarget) bool {
	s.mu.Lock()
	r, ok := s.retiring[b.addr]
	if !ok || !r.timer.Stop() { // none, or its timer is closing it
		s.mu.Unlock()
		return false
	}
	delete(s.retiring, b.addr)
	if r.mode == b.mode {
		s.builtinTargets[b.addr] = r.builtin
		s.mu.Unlock()
		return true
	}
	s.retireLocked(r.builtin)
	s.mu.Unlock()
	r.ln.Close()
	return false
}

// retireLocked keeps b, whose listener the caller closes, in s.retired
// while it serves its last connections, and forgets it once they ended: a
// reload that removes a built-in target leaves nothing behind for good.
// Callers hold s.mu.
func (s *Server) retireLocked(b builtin) {
	s.retired[b.t] = struct{}{}
	s.builtins.Add(1)
	go func() {
		defer s.builtins.Done()
		<-b.served // no connection is added after Serve returned
		b.t.Wait()
		s.mu.Lock()
		delete(s.retired, b.t)
		s.mu.Unlock()
		b.t.Shutdown(context.Background()) // nothing left to wait for
	}()
}
