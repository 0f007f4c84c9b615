package proxy

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/notify"
)

// Endpoint states, as AWS names them in the endpoint service lifecycle.
const (
	EndpointPendingAcceptance = config.EndpointPendingAcceptance
	EndpointAvailable         = config.EndpointAvailable
	EndpointRejected          = config.EndpointRejected
	EndpointDeleted           = config.EndpointDeleted
)

// Errors of the endpoint and target APIs; the admin API maps them to 404 and 409.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// endpoint is the runtime state of an interface endpoint; it outlives
// configuration generations.
type endpoint struct {
	id, service string
	available   atomic.Bool // read by every new connection

	mu        sync.Mutex
	state     string
	reason    string
	announced bool // the Connect notification went out (guarded by Server.rtMu)
}

func (e *endpoint) set(state, reason string) {
	e.state, e.reason = state, reason
	e.available.Store(state == EndpointAvailable)
}

func (e *endpoint) snapshot() (state, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.reason
}

// endpointFor returns the runtime of an endpoint, creating it in its
// initial state: rejected when its principal is not allowed, pending
// acceptance when the service requires acceptance, else available.
func (s *Server) endpointFor(ep *config.Endpoint, svc *config.Service) (e *endpoint, created bool) {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	if e := s.endpoints[ep.ID]; e != nil && e.service == svc.ID {
		return e, false
	}
	e = &endpoint{id: ep.ID, service: svc.ID}
	e.set(ep.InitialState(svc))
	s.endpoints[ep.ID] = e
	return e, true
}

// Accept moves an endpoint from pendingAcceptance, or from rejected, to
// available. Accepting a rejected endpoint again is undocumented in AWS;
// privlink allows it.
func (s *Server) Accept(id string) error {
	e := s.lookupEndpoint(id)
	if e == nil {
		return fmt.Errorf("%w: no endpoint %q", ErrNotFound, id)
	}
	e.mu.Lock()
	if e.state != EndpointPendingAcceptance && e.state != EndpointRejected {
		st := e.state
		e.mu.Unlock()
		return fmt.Errorf("%w: endpoint %s is %s; only a pendingAcceptance or rejected endpoint can be accepted", ErrConflict, id, st)
	}
	e.set(EndpointAvailable, "")
	e.mu.Unlock()
	s.log.Info("endpoint accepted", zap.String("endpoint", id))
	s.notify("Accept", e)
	return nil
}

// Reject moves a pending or available endpoint to rejected and resets its
// live connections.
func (s *Server) Reject(id string) error {
	e := s.lookupEndpoint(id)
	if e == nil {
		return fmt.Errorf("%w: no endpoint %q", ErrNotFound, id)
	}
	e.mu.Lock()
	if e.state != EndpointPendingAcceptance && e.state != EndpointAvailable {
		st := e.state
		e.mu.Unlock()
		return fmt.Errorf("%w: endpoint %s is %s; only a pendingAcceptance or available endpoint can be rejected", ErrConflict, id, st)
	}
	e.set(EndpointRejected, "rejected by the service owner")
	e.mu.Unlock()
	n := s.resetEndpointFlows(id)
	s.log.Info("endpoint rejected", zap.String("endpoint", id), zap.Int("flows_reset", n))
	s.notify("Reject", e)
	return nil
}

func (s *Server) lookupEndpoint(id string) *endpoint {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	return s.endpoints[id]
}

// resetEndpointFlows cuts every live flow through an endpoint.
func (s *Server) resetEndpointFlows(id string) int {
	n := 0
	for _, t := range s.allTargets() {
		n += t.resetFlows(func(f *flow) bool { return f.r.endpointID == id })
	}
	return n
}

// notify queues an endpoint connection event for the service's webhooks.
func (s *Server) notify(event string, e *endpoint) {
	if s.notifier == nil {
		return
	}
	state, reason := e.snapshot()
	s.notifier.Notify(notify.Event{Event: event, Service: e.service, Endpoint: e.id, State: state, Reason: reason, Time: time.Now().UTC()})
}

func subscriptions(cfg *config.Config) []notify.Subscription {
	var subs []notify.Subscription
	for _, n := range cfg.Notifications {
		subs = append(subs, notify.Subscription{Service: n.Service, URL: n.URL, Events: n.Events})
	}
	return subs
}
