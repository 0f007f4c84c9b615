package proxy

import (
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// Target states and reason codes, as the ELB API reports them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateDraining  = "draining"
	StateUnused    = "unused"

	ReasonInitialHealth   = "Elb.InitialHealthChecking"
	ReasonFailedHealth    = "Target.FailedHealthChecks"
	ReasonDeregistration  = "Target.DeregistrationInProgress"
	ReasonNotRegistered   = "Target.NotRegistered"
	ReasonTimeout         = "Target.Timeout"
	ReasonConnectionError = "Target.ConnectionError"
)

// target is a registered target and its runtime state. It outlives
// configuration generations: a reload that keeps the target keeps its
// health, its flows and its checker.
type target struct {
	g       *targetGroup
	addr    netip.AddrPort
	az      string
	subnet  string
	sgs     []string
	fromAPI bool // registered over the admin API, not by the configuration
	// portErrors is privlink_port_allocation_errors_total of the target.
	portErrors prometheus.Counter

	mu        sync.Mutex
	state     string
	reason    string
	desc      string
	oks, errs int                // consecutive health check results
	flows     map[*flow]struct{} // live flows, for termination
	orphaned  bool               // no longer registered; reached through g.orphans (orphans.go)
	stopCheck chan struct{}      // closes the health checker
	drainDone *time.Timer
}

// TargetInfo is a target's state as GET /v1/targets reports it.
type TargetInfo struct {
	TargetGroup string         `json:"target_group"`
	Service     string         `json:"service"`
	Target      netip.AddrPort `json:"target"`
	AZ          string         `json:"az"`
	State       string         `json:"state"`
	Reason      string         `json:"reason,omitempty"`
	Description string         `json:"description,omitempty"`
	ActiveFlows int            `json:"active_flows"`
}

func (t *target) info() TargetInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TargetInfo{TargetGroup: t.g.name, Service: t.g.service, Target: t.addr, AZ: t.az,
		State: t.state, Reason: t.reason, Description: t.desc, ActiveFlows: len(t.flows)}
}

// routable reports whether new flows may go to the target when failing open.
func routable(state string) bool {
	return state == StateHealthy || state == StateInitial || state == StateUnhealthy
}

// targetGroup is the runtime of one target group: its registered targets
// and the selection new flows use, rebuilt whenever a target changes state.
type targetGroup struct {
	service, name string
	cfg           atomic.Pointer[config.TargetGroup]
	crossZone     atomic.Bool
	// nodes maps an AZ to the node IP that health-checks targets there.
	nodes atomic.Pointer[map[string]netip.Addr]

	mu      sync.Mutex
	targets map[netip.AddrPort]*target
	sel     atomic.Pointer[selection]
	// gaugeAZs are the AZs the health gauges have been set for.
	gaugeAZs map[string]bool
	// orphans are targets no longer registered whose flows go on.
	orphans map[*target]struct{}
}

// selection is an immutable view of the routable targets of a group.
type selection struct {
	healthy map[string][]*target // by AZ; "" = every AZ
	live    map[string][]*target // registered and not draining: the fail-open set
}

func newTargetGroup(service string, tg *config.TargetGroup) *targetGroup {
	g := &targetGroup{service: service, name: tg.Name, targets: map[netip.AddrPort]*target{}}
	g.cfg.Store(tg)
	g.sel.Store(&selection{})
	return g
}

// pick chooses the target of a new flow by a hash of its 5-tuple over the
// healthy targets of the node's AZ (every AZ with cross-zone load
// balancing). With none healthy it fails open over all registered targets,
// as NLB does; failOpen reports that. A connection keeps its target for life.
func (g *targetGroup) pick(az string, client, iface netip.AddrPort) (t *target, failOpen bool) {
	sel := g.sel.Load()
	if g.crossZone.Load() {
		az = ""
	}
	candidates := sel.healthy[az]
	if len(candidates) == 0 {
		candidates, failOpen = sel.live[az], true
		if len(candidates) == 0 {
			return nil, false
		}
	}
	// The hash's high bits scaled to the count (Lemire's multiply-shift):
	// no division on the hot path.
	i, _ := bits.Mul64(flowHash(client, iface), uint64(len(candidates)))
	return candidates[i], failOpen
}

// reselect rebuilds the selection after a state change. Callers hold g.mu.
func (g *targetGroup) reselect() {
	sel := &selection{healthy: map[string][]*target{}, live: map[string][]*target{}}
	addrs := slices.SortedFunc(maps.Keys(g.targets), func(a, b netip.AddrPort) int { return a.Compare(b) })
	for _, a := range addrs {
		t := g.targets[a]
		t.mu.Lock()
		st := t.state
		t.mu.Unlock()
		if !routable(st) {
			continue
		}
		for _, az := range []string{t.az, ""} {
			sel.live[az] = append(sel.live[az], t)
			if st == StateHealthy {
				sel.healthy[az] = append(sel.healthy[az], t)
			}
		}
	}
	g.sel.Store(sel)
}

// healthyIn counts the healthy targets new flows from az may use.
func (g *targetGroup) healthyIn(az string) int {
	if g.crossZone.Load() {
		az = ""
	}
	return len(g.sel.Load().healthy[az])
}

// addFlow and removeFlow keep the target's live flows, which unhealthy
// termination, deregistration and rejection cut.
func (t *target) addFlow(f *flow) {
	t.mu.Lock()
	if t.flows == nil {
		t.flows = map[*flow]struct{}{}
	}
	t.flows[f] = struct{}{}
	orphaned := t.orphaned
	t.mu.Unlock()
	if orphaned {
		t.syncOrphan()
	}
}

// currentState is the target's state now.
func (t *target) currentState() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

func (t *target) removeFlow(f *flow) {
	t.mu.Lock()
	delete(t.flows, f)
	last := t.orphaned && len(t.flows) == 0
	t.mu.Unlock()
	if last {
		t.syncOrphan()
	}
}

// liveFlows lists the target's live flows.
func (t *target) liveFlows() []*flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*flow, 0, len(t.flows))
	for f := range t.flows {
		out = append(out, f)
	}
	return out
}

// resetFlows sends an RST to both peers of every live flow of t that match.
func (t *target) resetFlows(match func(*flow) bool) int {
	n := 0
	for _, f := range t.liveFlows() {
		if match == nil || match(f) {
			f.terminate()
			n++
		}
	}
	return n
}
