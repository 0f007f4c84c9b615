package conntrack

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EventType is the kind of a table event.
type EventType uint8

const (
	EventNew EventType = iota + 1
	EventEstablished
	EventClosed
	EventDenied
	EventExpired
	// EventDropped tells a subscriber how many events it lost while its
	// channel was full.
	EventDropped
	// EventFailed is a connection whose target was not reached: the dial
	// was refused, reset or timed out, or no port or target was free.
	EventFailed
)

var eventNames = [...]string{"", "new", "established", "closed", "denied", "expired", "dropped", "failed"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t > 0 {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// MarshalText writes the type's name.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a type's name.
func (t *EventType) UnmarshalText(b []byte) error {
	for i, n := range eventNames {
		if i > 0 && n == string(b) {
			*t = EventType(i)
			return nil
		}
	}
	return fmt.Errorf("unknown event type %q", b)
}

// Event is a change of a connection's state, or for EventDropped the
// number of events the subscriber lost.
type Event struct {
	Type    EventType
	Time    time.Time
	Conn    View   // not set for EventDropped
	Dropped uint64 // EventDropped only
}

type eventJSON struct {
	Type    EventType `json:"type"`
	Time    time.Time `json:"time"`
	Conn    *View     `json:"connection,omitempty"`
	Dropped uint64    `json:"dropped,omitempty"`
}

// MarshalJSON writes {"type","time","connection"} or {"type":"dropped","time","dropped"}.
func (ev Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Type: ev.Type, Time: ev.Time, Dropped: ev.Dropped}
	if ev.Type != EventDropped {
		j.Conn = &ev.Conn
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (ev *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*ev = Event{Type: j.Type, Time: j.Time, Dropped: j.Dropped}
	if j.Conn != nil {
		ev.Conn = *j.Conn
	}
	return nil
}

// Subscription receives table events on a bounded channel. Publishing
// never waits for it: when the channel is full the event is lost, counted,
// and announced by an EventDropped before the next event that fits.
type Subscription struct {
	t       *Table
	c       chan Event
	mu      sync.RWMutex // publishers hold it shared; closing exclusive
	closed  bool
	pending atomic.Uint64 // lost since the last EventDropped
	lost    atomic.Uint64
}

// Subscribe returns a subscription with a channel of buf events (at least 1).
func (t *Table) Subscribe(buf int) *Subscription {
	s := &Subscription{t: t, c: make(chan Event, max(buf, 1))}
	t.subMu.Lock()
	defer t.subMu.Unlock()
	if t.closed {
		s.closed = true
		close(s.c)
		return s
	}
	var subs []*Subscription
	if p := t.subs.Load(); p != nil {
		subs = slices.Clone(*p)
	}
	subs = append(subs, s)
	t.subs.Store(&subs)
	return s
}

// Events is the channel of events; it is closed by Close or when the
// table closes.
func (s *Subscription) Events() <-chan Event { return s.c }

// Lost is the number of events this subscriber lost in total.
func (s *Subscription) Lost() uint64 { return s.lost.Load() }

// Close unsubscribes and closes the channel.
func (s *Subscription) Close() {
	t := s.t
	t.subMu.Lock()
	if p := t.subs.Load(); p != nil {
		subs := slices.DeleteFunc(slices.Clone(*p), func(x *Subscription) bool { return x == s })
		t.subs.Store(&subs)
	}
	t.subMu.Unlock()
	s.close()
}

func (s *Subscription) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
}

// send delivers ev without blocking, first reporting earlier losses.
func (s *Subscription) send(ev *Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	if n := s.pending.Load(); n > 0 {
		select {
		case s.c <- Event{Type: EventDropped, Time: ev.Time, Dropped: n}:
			s.pending.Add(^(n - 1))
		default:
			s.drop()
			return
		}
	}
	select {
	case s.c <- *ev:
	default:
		s.drop()
	}
}

func (s *Subscription) drop() {
	s.pending.Add(1)
	s.lost.Add(1)
	s.t.lost.Add(1)
}

// watched reports whether anyone subscribes.
func (t *Table) watched() bool {
	p := t.subs.Load()
	return p != nil && len(*p) > 0
}

func (t *Table) publish(typ EventType, e *Entry, s Sample) {
	p := t.subs.Load()
	if p == nil {
		return
	}
	ev := Event{Type: typ, Time: t.now(), Conn: e.view(s)}
	for _, sub := range *p {
		sub.send(&ev)
	}
}

// EventsLost is the number of events lost by slow subscribers in total.
func (t *Table) EventsLost() uint64 { return t.lost.Load() }

// Close ends every subscription (stream handlers return) and makes later
// subscriptions start closed. The table itself stays usable.
func (t *Table) Close() {
	t.subMu.Lock()
	if t.closed {
		t.subMu.Unlock()
		return
	}
	t.closed = true
	close(t.done)
	var subs []*Subscription
	if p := t.subs.Load(); p != nil {
		subs = *p
	}
	t.subs.Store(nil)
	t.subMu.Unlock()
	for _, s := range subs {
		s.close()
	}
}
