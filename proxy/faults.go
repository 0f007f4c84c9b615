package proxy

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
)

// Faults: the registry of declared and added faults, their
// schedule, and the snapshot of the active ones the data path consults.
// With no fault active the snapshot is nil: a flow pays one atomic load.

// Fault states, as GET /v1/faults reports them.
const (
	FaultPending = "pending" // waiting for start_after
	FaultActive  = "active"
	FaultEnded   = "ended" // its duration passed; DELETE forgets it
)

// ErrInvalidFault wraps the field errors of a fault that cannot be added.
var ErrInvalidFault = errors.New("proxy: invalid fault")

// FaultInfo is a fault as GET /v1/faults and Server.Faults report it.
type FaultInfo struct {
	config.Fault
	State string `json:"state"`
	// Source is "config" (declared under faults:) or "api".
	Source    string     `json:"source"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndsAt    *time.Time `json:"ends_at,omitempty"`
	// Flows is how many flows the fault affected so far.
	Flows uint64 `json:"flows"`
}

// fault is one registered fault and its schedule.
type fault struct {
	spec       config.Fault
	fromConfig bool
	flows      atomic.Uint64

	// Guarded by faultRegistry.mu.
	state     string
	startedAt time.Time
	endsAt    time.Time
	timer     *time.Timer
	undo      func() // reverts what activation did (DNS, silenced flows)
}

// faultRegistry holds a server's faults.
type faultRegistry struct {
	mu     sync.Mutex
	list   []*fault
	seq    int
	closed bool
	// active is what the data path reads: nil while no fault is active.
	active atomic.Pointer[[]*fault]

	flows faultFlows // the live flows faults keep track of (faultflows.go)

	activeG *prometheus.GaugeVec   // privlink_faults_active{kind}
	flowsC  *prometheus.CounterVec // privlink_fault_flows_total{kind}
}

// AddFault checks f against the running configuration and adds it: it
// starts at once, or after f.StartAfter, and ends after f.Duration (0:
// when removed). An empty ID is filled in. Invalid faults fail with
// ErrInvalidFault and every field at fault; a taken ID with ErrConflict.
func (s *Server) AddFault(f config.Fault) (FaultInfo, error) {
	return s.addFault(f, false)
}

func (s *Server) addFault(f config.Fault, fromConfig bool) (FaultInfo, error) {
	if errs := config.CheckFault(s.top.Load().cfg, &f); len(errs) > 0 {
		msgs := make([]error, len(errs))
		for i, e := range errs {
			msgs[i] = e
		}
		return FaultInfo{}, fmt.Errorf("%w: %w", ErrInvalidFault, errors.Join(msgs...))
	}
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return FaultInfo{}, ErrServerClosed
	}
	if f.ID == "" {
		r.seq++
		f.ID = fmt.Sprintf("%s-%d", f.Kind, r.seq)
		for r.find(f.ID) >= 0 {
			r.seq++
			f.ID = fmt.Sprintf("%s-%d", f.Kind, r.seq)
		}
	}
	if i := r.find(f.ID); i >= 0 {
		if r.list[i].state != FaultEnded {
			return FaultInfo{}, fmt.Errorf("%w: id: fault %q exists (DELETE /v1/faults/%s first)", ErrConflict, f.ID, f.ID)
		}
		r.list = slices.Delete(r.list, i, i+1)
	}
	ft := &fault{spec: f, fromConfig: fromConfig, state: FaultPending}
	r.list = append(r.list, ft)
	if d := f.StartAfter.D(); d > 0 {
		ft.timer = time.AfterFunc(d, func() { s.startFault(ft) })
	} else {
		s.activateLocked(ft)
	}
	return s.infoLocked(ft), nil
}

// RemoveFault ends a fault (reverting what it did: an AZ's DNS answers,
// the flows it silenced) and forgets it; ErrNotFound when there is none.
// A stream toxic is taken off the live flows that carry it too.
func (s *Server) RemoveFault(id string) error {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(id)
	if i < 0 {
		return fmt.Errorf("%w: fault %q", ErrNotFound, id)
	}
	ft := r.list[i]
	s.endLocked(ft)
	r.list = slices.Delete(r.list, i, i+1)
	return nil
}

// Faults lists the faults in the order they were added.
func (s *Server) Faults() []FaultInfo {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]FaultInfo, 0, len(r.list))
	for _, ft := range r.list {
		out = append(out, s.infoLocked(ft))
	}
	return out
}

// Fault returns one fault; ErrNotFound when there is none.
func (s *Server) Fault(id string) (FaultInfo, error) {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.find(id); i >= 0 {
		return s.infoLocked(r.list[i]), nil
	}
	return FaultInfo{}, fmt.Errorf("%w: fault %q", ErrNotFound, id)
}

func (s *Server) infoLocked(ft *fault) FaultInfo {
	fi := FaultInfo{Fault: ft.spec, State: ft.state, Source: "api", Flows: ft.flows.Load()}
	if ft.fromConfig {
		fi.Source = "config"
	}
	if !ft.startedAt.IsZero() {
		t := ft.startedAt
		fi.StartedAt = &t
	}
	if !ft.endsAt.IsZero() {
		t := ft.endsAt
		fi.EndsAt = &t
	}
	return fi
}

func (r *faultRegistry) find(id string) int {
	return slices.IndexFunc(r.list, func(ft *fault) bool { return ft.spec.ID == id })
}

// startFault activates a fault whose start_after passed.
func (s *Server) startFault(ft *fault) {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || ft.state != FaultPending || r.find(ft.spec.ID) < 0 {
		return
	}
	s.activateLocked(ft)
}

// activateLocked makes ft active: the data path sees it, its one-time
// effects run, and its end is scheduled.
func (s *Server) activateLocked(ft *fault) {
	ft.state, ft.startedAt = FaultActive, time.Now()
	if d := ft.spec.Duration.D(); d > 0 {
		ft.endsAt = ft.startedAt.Add(d)
		ft.timer = time.AfterFunc(d, func() { s.expireFault(ft) })
	}
	s.publishLocked()
	s.faults.activeG.WithLabelValues(string(ft.spec.Kind)).Inc()
	s.log.Info("fault started", zap.String("fault", ft.spec.ID), zap.String("kind", string(ft.spec.Kind)),
		zap.String("scope", ft.spec.Scope.String()))
	ft.undo = s.faultStarted(ft)
}

// expireFault ends a fault whose duration passed; it stays listed as ended.
func (s *Server) expireFault(ft *fault) {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed && ft.state == FaultActive {
		s.endLocked(ft)
	}
}

// endLocked stops ft: its timer, its effects, its place in the snapshot.
func (s *Server) endLocked(ft *fault) {
	if ft.timer != nil {
		ft.timer.Stop()
		ft.timer = nil
	}
	was := ft.state
	ft.state = FaultEnded
	if was != FaultActive {
		return
	}
	s.publishLocked()
	s.faults.activeG.WithLabelValues(string(ft.spec.Kind)).Dec()
	if ft.spec.Kind.IsToxic() {
		s.faults.flows.release(ft)
	}
	if ft.undo != nil {
		ft.undo()
		ft.undo = nil
	}
	s.log.Info("fault ended", zap.String("fault", ft.spec.ID), zap.String("kind", string(ft.spec.Kind)))
}

// publishLocked swaps in the snapshot of active faults (nil: none).
func (s *Server) publishLocked() {
	r := &s.faults
	var act []*fault
	for _, ft := range r.list {
		if ft.state == FaultActive {
			act = append(act, ft)
		}
	}
	if len(act) == 0 {
		r.active.Store(nil)
		return
	}
	r.active.Store(&act)
}

// loadFaults makes the configuration's faults those declared by cfg: a
// declared fault that is unchanged keeps its state and schedule, others
// are replaced. Faults added over the API stay.
func (s *Server) loadFaults(cfg *config.Config) {
	r := &s.faults
	r.mu.Lock()
	keep := map[string]bool{}
	for _, ft := range slices.Clone(r.list) {
		if !ft.fromConfig {
			continue
		}
		if i := slices.IndexFunc(cfg.Faults, func(f config.Fault) bool { return f == ft.spec }); i >= 0 {
			keep[ft.spec.ID] = true
			continue
		}
		s.endLocked(ft)
		r.list = slices.DeleteFunc(r.list, func(x *fault) bool { return x == ft })
	}
	r.mu.Unlock()
	for _, f := range cfg.Faults {
		if keep[f.ID] {
			continue
		}
		if _, err := s.addFault(f, true); err != nil {
			s.log.Error("fault not added", zap.String("fault", f.ID), zap.Error(err))
		}
	}
}

// stopFaults ends every fault when the server closes.
func (s *Server) stopFaults() {
	r := &s.faults
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, ft := range r.list {
		if ft.timer != nil {
			ft.timer.Stop()
			ft.timer = nil
		}
	}
	r.active.Store(nil)
}
