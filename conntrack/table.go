package conntrack

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Counters are one socket's traffic as privlink sees it: In was received
// from the peer, Out was sent to it. Packets are TCP segments (with SYN,
// FIN and pure ACKs, as flow logs count them); bytes are payload.
type Counters struct {
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	PktsIn   uint64 `json:"packets_in"`
	PktsOut  uint64 `json:"packets_out"`
}

// Sample is a flow's live counters: Client is the client's socket (In =
// client→target direction), Target the target's socket (In = target→client
// direction).
type Sample struct {
	Client, Target Counters
	// LastActivity is when data last moved either way (zero: unknown).
	LastActivity time.Time
}

// Stats reads a flow's live counters. The table calls it off the hot path
// (snapshots, events, flow-log sweeps) and once on Remove, when the
// sockets may already be closed: an implementation returns the last values
// it could read then.
type Stats interface {
	Sample() Sample
}

// Path describes the way of many connections: the endpoint interface and
// listener they reached and where it leads. Share one per route: entries
// point to it, so per-connection memory holds no copies of its strings.
type Path struct {
	Iface                              netip.AddrPort // the endpoint interface IP and listener port
	Endpoint, Service, AZ, TargetGroup string
	// Subnet and NodeSubnet are the subnets of the endpoint interface and
	// the node (flow-log field subnet-id; optional).
	Subnet, NodeSubnet string
}

// noPath is the Path of entries inserted without one.
var noPath Path

// Entry is one tracked connection. The caller owns its memory: embed it in
// the per-connection struct (no allocation, no pool) and do not reuse it
// after Remove. Set the exported fields before Insert; they are read-only
// afterwards, except through SetState.
type Entry struct {
	ID     uint64         // assigned by Insert
	Client netip.AddrPort // original tuple: the client (to Path.Iface) ...
	Node   netip.AddrPort // translated tuple: the node IP and allocated port ...
	Target netip.AddrPort // ... to the target
	// Path is what the entry shares with every connection through the same
	// endpoint interface and listener (required before Insert).
	*Path
	Start time.Time // Insert sets it when zero
	Stats Stats     // optional: live counters
	// Why is set on a denied or failed entry before it enters that state:
	// the hop and rule that denied it, or why its target was not reached.
	Why *Cause

	state      atomic.Int32
	t          *Table // set while in the table; guarded by the shard lock
	prev, next *Entry
	fl         flowState
}

// State is the entry's current state.
func (e *Entry) State() State { return State(e.state.Load()) }

// sample reads the counters, or zeros when the entry has no Stats.
func (e *Entry) sample() Sample {
	if e.Stats == nil {
		return Sample{LastActivity: e.Start}
	}
	s := e.Stats.Sample()
	if s.LastActivity.Before(e.Start) {
		s.LastActivity = e.Start
	}
	return s
}

// View is a copy of an entry at one moment, as the admin API shows it.
type View struct {
	ID           uint64         `json:"id"`
	State        State          `json:"state"`
	Client       netip.AddrPort `json:"client"`
	Iface        netip.AddrPort `json:"interface"`
	Node         netip.AddrPort `json:"node"`
	Target       netip.AddrPort `json:"target"`
	Endpoint     string         `json:"endpoint"`
	Service      string         `json:"service"`
	AZ           string         `json:"az"`
	TargetGroup  string         `json:"target_group"`
	Start        time.Time      `json:"start"`
	LastActivity time.Time      `json:"last_activity"`
	ClientSide   Counters       `json:"client_side"`
	TargetSide   Counters       `json:"target_side"`
	// Hop, Rule and Reason tell why a denied or failed connection went no
	// further (see Cause).
	Hop    string `json:"hop,omitempty"`
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Fault names the fault that affected the connection, if any.
	Fault string `json:"fault,omitempty"`
}

// Cause says why a connection went no further. A denied one: Hop is the
// place that denied it (the hop label of privlink_rejected_flows_total,
// e.g. endpoint_sg_ingress or endpoint_state) and Rule the rule that
// decided ("sg-x ingress[0]", "acl-y rule 100", "no matching rule",
// "endpoint pendingAcceptance"). A failed one: Reason is what happened to
// the dial (refused, reset, timeout, unreachable, error) or before it
// (port_allocation, no_target).
//
// Fault is the ID of the fault that affected the connection;
// a forwarded connection a fault affected carries a Cause with only it.
type Cause struct {
	Hop, Rule, Reason string
	Fault             string
}

// Failure reasons of a failed connection (Cause.Reason).
const (
	ReasonRefused        = "refused"         // the target answered the SYN with an RST
	ReasonReset          = "reset"           // the connection to the target was reset while it was made
	ReasonTimeout        = "timeout"         // the target did not answer within the dial timeout
	ReasonUnreachable    = "unreachable"     // no route to the target (EHOSTUNREACH, ENETUNREACH)
	ReasonError          = "error"           // any other dial error
	ReasonPortAllocation = "port_allocation" // the node had no free port towards the target
	ReasonNoTarget       = "no_target"       // no target registered for the node's AZ
)

func (e *Entry) view(s Sample) View {
	v := View{
		ID: e.ID, State: e.State(),
		Client: e.Client, Iface: e.Iface, Node: e.Node, Target: e.Target,
		Endpoint: e.Endpoint, Service: e.Service, AZ: e.AZ, TargetGroup: e.TargetGroup,
		Start: e.Start, LastActivity: s.LastActivity, ClientSide: s.Client, TargetSide: s.Target,
	}
	if w := e.Why; w != nil {
		v.Hop, v.Rule, v.Reason, v.Fault = w.Hop, w.Rule, w.Reason, w.Fault
	}

	return v
}

// View samples the entry's counters and returns a copy.
func (e *Entry) View() View { return e.view(e.sample()) }

// Filter selects entries in Snapshot; zero fields match everything.
type Filter struct {
	Endpoint string
	// Target matches the target's IP, and its port unless the port is 0.
	Target netip.AddrPort
	State  State
}

func (f Filter) match(e *Entry) bool { return f.matches(e.Endpoint, e.Target, e.State()) }

func (f Filter) matches(endpoint string, target netip.AddrPort, state State) bool {
	switch {
	case f.Endpoint != "" && f.Endpoint != endpoint,
		f.State != 0 && f.State != state,
		f.Target.Addr().IsValid() && f.Target.Addr() != target.Addr().Unmap(),
		f.Target.Port() != 0 && f.Target.Port() != target.Port():
		return false
	}
	return true
}

const numShards = 32

// shard is one lock and an intrusive list of entries; mu guards the list
// links and Entry.t of its entries.
type shard struct {
	mu   sync.Mutex
	head *Entry
	n    int
	_    [40]byte // one cache line per shard
}

// TableOptions configure a Table.
type TableOptions struct {
	Now func() time.Time // the clock (nil: time.Now)
}

// Table is the connection table. Insert, SetState and Remove are O(1) and
// allocate nothing; entries are spread over shards by ID, each with its own
// lock, so concurrent connections rarely contend. Closed entries leave the
// table: it holds live connections only.
type Table struct {
	now    func() time.Time
	_      [56]byte
	ids    atomic.Uint64
	_      [56]byte
	shards [numShards]shard

	subMu  sync.Mutex // guards subscription changes and closed
	subs   atomic.Pointer[[]*Subscription]
	closed bool
	done   chan struct{}
	lost   atomic.Uint64 // events dropped for slow subscribers

	fl atomic.Pointer[FlowLogger]
}

// NewTable returns an empty table.
func NewTable(opts TableOptions) *Table {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Table{now: opts.Now, done: make(chan struct{})}
}

// Insert adds e in state new with a new ID and publishes the event. It
// returns the ID; an entry already in a table is left as it is.
func (t *Table) Insert(e *Entry) uint64 { return t.InsertAs(e, StateNew) }

// InsertAs adds e in state s: StateDenied shows a refused flow and
// StateFailed one whose target was not reached (each publishes its event)
// until it is removed. An entry already in the table moves to state s
// (SetState).
func (t *Table) InsertAs(e *Entry, s State) uint64 {
	if e.t != nil {
		t.SetState(e, s)
		return e.ID
	}
	if e.Path == nil {
		e.Path = &noPath
	}
	e.ID = t.ids.Add(1)
	if e.Start.IsZero() {
		e.Start = t.now()
	}
	e.state.Store(int32(s))
	sh := &t.shards[e.ID%numShards]
	sh.mu.Lock()
	e.t, e.prev, e.next = t, nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	sh.n++
	sh.mu.Unlock()
	if t.watched() {
		ev := EventNew
		if s != StateNew {
			ev = eventOf(s)
		}
		t.publish(ev, e, Sample{LastActivity: e.Start})
	}
	return e.ID
}

// eventOf is the event published when an entry enters state s (0: none).
func eventOf(s State) EventType {
	switch s {
	case StateEstablished:
		return EventEstablished
	case StateDenied:
		return EventDenied
	case StateExpired:
		return EventExpired
	case StateFailed:
		return EventFailed
	}
	return 0
}

// SetState changes e's state and publishes established, denied, expired
// and failed events; StateClosed removes e (as Remove).
func (t *Table) SetState(e *Entry, s State) {
	if s == StateClosed {
		t.Remove(e)
		return
	}
	if State(e.state.Swap(int32(s))) == s || !t.watched() {
		return
	}
	if ev := eventOf(s); ev != 0 {
		t.publish(ev, e, e.sample())
	}
}

// Remove takes e out of the table in state closed, writes its final
// flow-log records and publishes the closed event. Removing an entry twice
// does nothing.
func (t *Table) Remove(e *Entry) {
	sh := &t.shards[e.ID%numShards]
	sh.mu.Lock()
	if e.t != t {
		sh.mu.Unlock()
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.t, e.prev, e.next = nil, nil, nil
	sh.n--
	sh.mu.Unlock()
	prev := State(e.state.Swap(int32(StateClosed)))
	fl := t.fl.Load()
	if fl == nil && !t.watched() {
		return
	}
	s := e.sample()
	if fl != nil {
		fl.final(e, s, prev)
	}
	if t.watched() {
		t.publish(EventClosed, e, s)
	}
}

// Len is the number of entries in the table.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// entries appends the entries matching f to dst, holding each shard's lock
// only while it walks that shard.
func (t *Table) entries(f Filter, dst []*Entry) []*Entry {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			if f.match(e) {
				dst = append(dst, e)
			}
		}
		sh.mu.Unlock()
	}
	return dst
}

// Snapshot appends views of the entries matching f to dst, in ID order.
// Counters are sampled after the shard locks are released.
func (t *Table) Snapshot(f Filter, dst []View) []View {
	es := t.entries(f, make([]*Entry, 0, t.Len()))
	slices.SortFunc(es, func(a, b *Entry) int { return compareID(a.ID, b.ID) })
	for _, e := range es {
		dst = append(dst, e.View())
	}
	return dst
}

func compareID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
