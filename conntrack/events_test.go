package conntrack

import (
	"encoding/json"
	"testing"
)

func TestEvents(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(TableOptions{Now: clk.Now})
	sub := tb.Subscribe(10)
	e := testEntry(1)
	e.Stats = &fixedStats{s: Sample{Client: Counters{BytesIn: 11}}}
	tb.Insert(e)
	tb.SetState(e, StateEstablished)
	tb.SetState(e, StateEstablished) // no change, no event
	tb.SetState(e, StateClosing)     // no event for closing
	tb.SetState(e, StateExpired)
	tb.Remove(e)
	d := testEntry(2)
	tb.InsertAs(d, StateDenied)
	want := []EventType{EventNew, EventEstablished, EventExpired, EventClosed, EventDenied}
	for i, w := range want {
		ev := <-sub.Events()
		if ev.Type != w {
			t.Fatalf("event %d: %v, want %v", i, ev.Type, w)
		}
		if ev.Type == EventClosed && (ev.Conn.ClientSide.BytesIn != 11 || ev.Conn.State != StateClosed) {
			t.Fatalf("closed event %+v", ev.Conn)
		}
	}
	sub.Close()
	sub.Close()
	if _, ok := <-sub.Events(); ok {
		t.Fatal("channel open after Close")
	}
}

func TestEventsDroppedAreReported(t *testing.T) {
	tb := NewTable(TableOptions{})
	sub := tb.Subscribe(2)
	defer sub.Close()
	for i := 0; i < 10; i++ {
		tb.Insert(testEntry(i)) // 2 fit, 8 are lost
	}
	<-sub.Events()
	<-sub.Events()
	tb.Insert(testEntry(99))
	ev := <-sub.Events()
	if ev.Type != EventDropped || ev.Dropped != 8 {
		t.Fatalf("got %v dropped=%d, want dropped 8", ev.Type, ev.Dropped)
	}
	if ev := <-sub.Events(); ev.Type != EventNew {
		t.Fatalf("got %v after dropped", ev.Type)
	}
	if sub.Lost() != 8 || tb.EventsLost() != 8 {
		t.Fatalf("lost %d / %d", sub.Lost(), tb.EventsLost())
	}
	b, _ := json.Marshal(Event{Type: EventDropped, Dropped: 8})
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || back.Dropped != 8 || back.Type != EventDropped {
		t.Fatalf("round trip %s: %+v %v", b, back, err)
	}
}

func TestTableCloseEndsSubscriptions(t *testing.T) {
	tb := NewTable(TableOptions{})
	sub := tb.Subscribe(1)
	tb.Close()
	tb.Close()
	if _, ok := <-sub.Events(); ok {
		t.Fatal("subscription open after table Close")
	}
	if _, ok := <-tb.Subscribe(1).Events(); ok {
		t.Fatal("subscription after Close is open")
	}
	e := testEntry(1)
	tb.Insert(e)
	tb.Remove(e)
	sub.Close()
}

// Denied and failed entries carry why they went no further, in their
// events and in JSON; an entry already in the table moves to failed.
func TestEventsCarryTheCause(t *testing.T) {
	tb := NewTable(TableOptions{})
	sub := tb.Subscribe(10)
	defer sub.Close()
	d := testEntry(1)
	d.Why = &Cause{Hop: "endpoint_sg_ingress", Rule: "sg-x ingress[0]"}
	tb.InsertAs(d, StateDenied)
	f := testEntry(2)
	tb.Insert(f)
	f.Why = &Cause{Reason: ReasonRefused}
	tb.InsertAs(f, StateFailed)
	want := []struct {
		typ               EventType
		hop, rule, reason string
	}{
		{EventDenied, "endpoint_sg_ingress", "sg-x ingress[0]", ""},
		{EventNew, "", "", ""},
		{EventFailed, "", "", "refused"},
	}
	for i, w := range want {
		ev := <-sub.Events()
		b, _ := json.Marshal(ev)
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		c := back.Conn
		if back.Type != w.typ || c.Hop != w.hop || c.Rule != w.rule || c.Reason != w.reason {
			t.Fatalf("event %d: %s, want %+v", i, b, w)
		}
	}
	if f.State() != StateFailed || tb.Len() != 2 {
		t.Fatalf("state %s, %d entries", f.State(), tb.Len())
	}
	if _, err := ParseState("failed"); err != nil {
		t.Fatal(err)
	}
}
