package conntrack

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fixedStats is a Stats with set counters.
type fixedStats struct {
	mu sync.Mutex
	s  Sample
}

func (f *fixedStats) Sample() Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func (f *fixedStats) set(s Sample) {
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
}

func testEntry(i int) *Entry {
	return &Entry{
		Client: netip.AddrPortFrom(netip.MustParseAddr("127.0.41.50"), uint16(40000+i)),
		Node:   netip.AddrPortFrom(netip.MustParseAddr("127.0.42.5"), uint16(2000+i)),
		Target: netip.MustParseAddrPort("127.0.43.1:9443"),
		Path: &Path{
			Iface:    netip.MustParseAddrPort("127.0.41.10:8443"),
			Endpoint: "vpce-0c1308d7312217abc", Service: "vpce-svc-03d5ebb7d9579a2b3",
			AZ: "use1-az1", TargetGroup: "tg-app",
		},
	}
}

func TestTableLifecycle(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(TableOptions{Now: clk.Now})
	a, b := testEntry(1), testEntry(2)
	b.Endpoint, b.Target = "vpce-other", netip.MustParseAddrPort("127.0.43.2:9443")
	st := &fixedStats{}
	a.Stats = st
	if id := tb.Insert(a); id != 1 || a.State() != StateNew || !a.Start.Equal(clk.Now()) {
		t.Fatalf("insert: id %d state %v start %v", id, a.State(), a.Start)
	}
	if tb.Insert(a) != 1 || tb.Len() != 1 {
		t.Fatal("a second Insert of the same entry changed the table")
	}
	tb.Insert(b)
	tb.SetState(a, StateEstablished)
	st.set(Sample{Client: Counters{BytesIn: 5, BytesOut: 7, PktsIn: 3, PktsOut: 2}, LastActivity: clk.Now().Add(time.Second)})
	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1, 2}},
		{"endpoint", Filter{Endpoint: "vpce-other"}, []uint64{2}},
		{"target ip", Filter{Target: netip.AddrPortFrom(netip.MustParseAddr("127.0.43.1"), 0)}, []uint64{1}},
		{"target ip:port", Filter{Target: netip.MustParseAddrPort("127.0.43.2:9443")}, []uint64{2}},
		{"target other port", Filter{Target: netip.MustParseAddrPort("127.0.43.2:1")}, nil},
		{"state", Filter{State: StateEstablished}, []uint64{1}},
		{"state new", Filter{State: StateNew}, []uint64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := tb.Snapshot(tt.f, nil)
			if len(vs) != len(tt.want) {
				t.Fatalf("got %d views, want %v", len(vs), tt.want)
			}
			for i, v := range vs {
				if v.ID != tt.want[i] {
					t.Fatalf("view %d id %d, want %v", i, v.ID, tt.want)
				}
			}
		})
	}
	v := tb.Snapshot(Filter{State: StateEstablished}, nil)[0]
	if v.ClientSide.BytesIn != 5 || v.ClientSide.PktsOut != 2 || !v.LastActivity.Equal(clk.Now().Add(time.Second)) || v.Node != a.Node {
		t.Fatalf("view %+v", v)
	}
	tb.Remove(a)
	tb.Remove(a)
	if tb.Len() != 1 || a.State() != StateClosed {
		t.Fatalf("after remove: len %d state %v", tb.Len(), a.State())
	}
	tb.SetState(b, StateClosed)
	if tb.Len() != 0 || len(tb.Snapshot(Filter{}, nil)) != 0 {
		t.Fatal("table not empty")
	}
}

func TestTableBoundedAfter100kConnections(t *testing.T) {
	tb := NewTable(TableOptions{})
	sub := tb.Subscribe(16) // nobody reads: events are dropped, not queued
	defer sub.Close()
	var before, after runtime.MemStats
	churn := func(n int) {
		for i := 0; i < n; i++ {
			e := testEntry(i % 1000)
			tb.Insert(e)
			tb.SetState(e, StateEstablished)
			tb.Remove(e)
		}
	}
	churn(10_000)
	runtime.GC()
	runtime.ReadMemStats(&before)
	churn(100_000)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tb.Len() != 0 || len(tb.Snapshot(Filter{}, nil)) != 0 {
		t.Fatalf("len %d after short connections", tb.Len())
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 1<<20 {
		t.Fatalf("heap grew %d bytes over 100k connections", grow)
	}
	if sub.Lost() == 0 {
		t.Fatal("an unread subscription lost nothing")
	}
}

func TestTableConcurrent(t *testing.T) {
	tb := NewTable(TableOptions{})
	sub := tb.Subscribe(64)
	var rd sync.WaitGroup
	rd.Go(func() {
		for range sub.Events() {
		}
	})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 5000; i++ {
				e := testEntry(i)
				tb.Insert(e)
				tb.SetState(e, StateEstablished)
				if i%100 == 0 {
					tb.Snapshot(Filter{}, nil)
				}
				tb.Remove(e)
			}
		})
	}
	wg.Wait()
	sub.Close()
	rd.Wait()
	if tb.Len() != 0 {
		t.Fatalf("len %d", tb.Len())
	}
}

func TestTableAllocs(t *testing.T) {
	tb := NewTable(TableOptions{})
	e := testEntry(1)
	if n := testing.AllocsPerRun(1000, func() {
		*e = Entry{Client: e.Client, Target: e.Target, Path: e.Path}
		tb.Insert(e)
		tb.SetState(e, StateEstablished)
		tb.Remove(e)
	}); n != 0 {
		t.Fatalf("%v allocs per insert+remove", n)
	}
}

func BenchmarkTableInsertRemove(b *testing.B) {
	tb := NewTable(TableOptions{})
	// Steady state: 10,000 live connections.
	for i := 0; i < 10000; i++ {
		tb.Insert(testEntry(i))
	}
	es := make([]Entry, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := &es[i%len(es)]
		*e = Entry{Client: e.Client, Path: e.Path}
		tb.Insert(e)
		tb.SetState(e, StateEstablished)
		tb.Remove(e)
		i++
	}
}

func BenchmarkTableInsertRemoveParallel(b *testing.B) {
	tb := NewTable(TableOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var e Entry
		for pb.Next() {
			e = Entry{}
			tb.Insert(&e)
			tb.Remove(&e)
		}
	})
}
