package proxy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/privlink/privlink/conntrack"
)

// LiveFrame is one frame of GET /v1/dashboard/live.
type LiveFrame struct {
	Time time.Time `json:"time"`
	// Topology changes when a reload swaps the configuration: the page
	// fetches GET /v1/dashboard/topology again.
	Topology   string         `json:"topology"`
	Zones      []LiveZone     `json:"zones"`
	Rejected   []LiveRejected `json:"rejected"`
	Ports      []LivePorts    `json:"ports"`
	Endpoints  []LiveEndpoint `json:"endpoints"`
	Targets    []TargetInfo   `json:"targets"`
	Denied     []DeniedFlow   `json:"denied"`
	Faults     []FaultInfo    `json:"faults"`
	EventsLost uint64         `json:"events_lost"`
}

// LiveZone is a service's traffic through the endpoint interfaces of one AZ.
type LiveZone struct {
	Service   string  `json:"service"`
	AZ        string  `json:"az"`
	Active    float64 `json:"active_flows"`    // privlink_active_flows
	NewFlows  float64 `json:"new_flows"`       // privlink_new_flows_total
	NewPerSec float64 `json:"new_flows_per_s"` // over the last second
	// BytesPerSec is the bytes of the flows that closed in the last
	// second, both ways (privlink_processed_bytes_total counts them then).
	BytesPerSec float64 `json:"bytes_per_s"`
	Bytes       uint64  `json:"bytes"` // of the flows closed since the page opened
}

// LiveRejected is privlink_rejected_flows_total of one service and hop.
type LiveRejected struct {
	Service string  `json:"service"`
	Hop     string  `json:"hop"`
	Total   float64 `json:"total"`
	PerSec  float64 `json:"per_s"`
}

// LivePorts is a node's port pool towards a target.
type LivePorts struct {
	Service string         `json:"service"`
	Node    netip.Addr     `json:"node"`
	Target  netip.AddrPort `json:"target"`
	InUse   int            `json:"in_use"`
	Budget  int            `json:"budget"`
}

// LiveEndpoint is an endpoint's state.
type LiveEndpoint struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// DeniedFlow is a recent denied connection and the rule that decided.
type DeniedFlow struct {
	Time      time.Time      `json:"time"`
	Client    netip.AddrPort `json:"client"`
	Interface netip.AddrPort `json:"interface"`
	Endpoint  string         `json:"endpoint"`
	AZ        string         `json:"az"`
	Hop       string         `json:"hop"`
	Rule      string         `json:"rule"`
}

// deniedKept is how many denied flows a frame lists; histKept bounds the
// points kept for rates (a second of ticks is 4).
const (
	deniedKept = 20
	histKept   = 16
)

type zoneKey struct{ service, az string }

type hopKey struct{ service, hop string }

// dashPoint is the counters at one tick, for rates.
type dashPoint struct {
	at       time.Time
	newFlows map[zoneKey]float64
	bytes    map[zoneKey]uint64
	rejected map[hopKey]float64
}

// sampler is the state of the dashboard's sampler goroutine (dashHub).
type sampler struct {
	s      *Server
	sub    *conntrack.Subscription // closed flows (bytes) and denied ones
	bytes  map[zoneKey]uint64
	denied []DeniedFlow // newest first
	hist   []dashPoint  // oldest first, a second back
	lost   uint64
}

func newSampler(s *Server) *sampler {
	return &sampler{s: s, sub: s.table.Subscribe(conntrack.StreamBuffer), bytes: map[zoneKey]uint64{}}
}

func (sm *sampler) close() {
	if sm.sub != nil {
		sm.sub.Close()
	}
}

// events is the subscription's channel; nil (never ready) once it closed.
func (sm *sampler) events() <-chan conntrack.Event {
	if sm.sub == nil {
		return nil
	}
	return sm.sub.Events()
}

// record accounts one connection event.
func (sm *sampler) record(ev *conntrack.Event) {
	c := &ev.Conn
	switch ev.Type {
	case conntrack.EventClosed:
		sm.bytes[zoneKey{c.Service, c.AZ}] += c.ClientSide.BytesIn + c.TargetSide.BytesIn
	case conntrack.EventDenied:
		d := DeniedFlow{Time: ev.Time, Client: c.Client, Interface: c.Iface, Endpoint: c.Endpoint, AZ: c.AZ, Hop: c.Hop, Rule: c.Rule}
		sm.denied = slices.Insert(sm.denied, 0, d)
		sm.denied = sm.denied[:min(len(sm.denied), deniedKept)]
	case conntrack.EventDropped:
		sm.lost += ev.Dropped
	}
}

// frame makes the frame of one tick, as JSON.
func (sm *sampler) frame(now time.Time) []byte {
	p := sm.point(now)
	base := p
	if len(sm.hist) > 0 {
		base = sm.hist[0]
	}
	sm.hist = append(sm.hist, p)
	for len(sm.hist) > 1 && (now.Sub(sm.hist[1].at) >= time.Second || len(sm.hist) > histKept) {
		sm.hist = sm.hist[1:]
	}
	f := LiveFrame{Time: now, Topology: fmt.Sprintf("%p", sm.s.top.Load()),
		Zones: sm.zones(p, base), Rejected: rejectedRates(p, base), Ports: sm.ports(),
		Endpoints: sm.endpointStates(), Targets: sm.s.Targets(), Denied: sm.denied, Faults: sm.s.Faults(), EventsLost: sm.lost}
	b, err := json.Marshal(jsonLists(f))
	if err != nil { // not reached: the frame holds only plain values
		return []byte(`{"error":` + fmt.Sprintf("%q", err.Error()) + `}`)
	}
	return b
}

// point reads the counters the rates come from.
func (sm *sampler) point(now time.Time) dashPoint {
	p := dashPoint{at: now, newFlows: map[zoneKey]float64{}, bytes: maps.Clone(sm.bytes), rejected: map[hopKey]float64{}}
	readVec(sm.s.m.newFlows, func(l map[string]string, v float64) { p.newFlows[zoneKey{l["service"], l["az"]}] = v })
	readVec(sm.s.m.rejected, func(l map[string]string, v float64) { p.rejected[hopKey{l["service"], l["hop"]}] = v })
	return p
}

// rate is the change per second from base to p.
func rate(now, then float64, p, base dashPoint) float64 {
	d := p.at.Sub(base.at).Seconds()
	if d <= 0 || now < then {
		return 0
	}
	return (now - then) / d
}

func (sm *sampler) zones(p, base dashPoint) []LiveZone {
	var out []LiveZone
	readVec(sm.s.m.activeFlows, func(l map[string]string, v float64) {
		k := zoneKey{l["service"], l["az"]}
		out = append(out, LiveZone{Service: k.service, AZ: k.az, Active: v, NewFlows: p.newFlows[k],
			NewPerSec:   rate(p.newFlows[k], base.newFlows[k], p, base),
			BytesPerSec: rate(float64(p.bytes[k]), float64(base.bytes[k]), p, base), Bytes: p.bytes[k]})
	})
	slices.SortFunc(out, func(a, b LiveZone) int { return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.AZ, b.AZ)) })
	return out
}

func rejectedRates(p, base dashPoint) []LiveRejected {
	var out []LiveRejected
	for k, v := range p.rejected {
		out = append(out, LiveRejected{Service: k.service, Hop: k.hop, Total: v, PerSec: rate(v, base.rejected[k], p, base)})
	}
	slices.SortFunc(out, func(a, b LiveRejected) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Hop, b.Hop))
	})
	return out
}

// ports lists the nodes' port pools towards the targets.
func (sm *sampler) ports() []LivePorts {
	var out []LivePorts
	sm.s.ports.Each(func(node netip.Addr, target netip.AddrPort, pl *conntrack.Pool) {
		svc, _ := sm.s.poolService.Load(target)
		name, _ := svc.(string)
		out = append(out, LivePorts{Service: name, Node: node, Target: target, InUse: pl.InUse(), Budget: pl.Budget()})
	})
	slices.SortFunc(out, func(a, b LivePorts) int { return cmp.Or(a.Node.Compare(b.Node), a.Target.Compare(b.Target)) })
	return out
}

func (sm *sampler) endpointStates() []LiveEndpoint {
	var out []LiveEndpoint
	for _, ep := range sm.s.top.Load().cfg.Endpoints {
		le := LiveEndpoint{ID: ep.ID, State: EndpointAvailable}
		if e := sm.s.lookupEndpoint(ep.ID); e != nil {
			le.State, le.Reason = e.snapshot()
		}
		out = append(out, le)
	}
	return out
}

// readVec calls fn with the labels and value of each child of a counter
// or gauge vector.
func readVec(c prometheus.Collector, fn func(labels map[string]string, v float64)) {
	ch := make(chan prometheus.Metric, 16)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		l := make(map[string]string, len(d.GetLabel()))
		for _, lp := range d.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		fn(l, d.GetCounter().GetValue()+d.GetGauge().GetValue())
	}
}
