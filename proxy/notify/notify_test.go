package notify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sub(url string, events ...string) Subscription {
	return Subscription{Service: "vpce-svc-1", URL: url, Events: events}
}

func TestDeliversWantedEvents(t *testing.T) {
	got := make(chan Event, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&e) != nil {
			t.Errorf("bad request")
		}
		got <- e
	}))
	defer hook.Close()
	n := New([]Subscription{sub(hook.URL, "Connect", "Reject")}, Options{})
	defer n.Close()
	n.Notify(Event{Event: "Accept", Service: "vpce-svc-1", Endpoint: "vpce-1", State: "available"}) // not wanted
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-2", Endpoint: "vpce-2"})                    // other service
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1", Endpoint: "vpce-1", State: "pendingAcceptance"})
	e := <-got
	if e.Event != "Connect" || e.Endpoint != "vpce-1" || e.State != "pendingAcceptance" || e.Time.IsZero() {
		t.Fatalf("event %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("unwanted event delivered: %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	reg := prometheus.NewRegistry()
	n := New([]Subscription{sub(hook.URL, "Connect")}, Options{Backoff: 10 * time.Millisecond, Registerer: reg})
	defer n.Close()
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(n.sent.WithLabelValues("delivered")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after %d calls", calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
}

// A dead webhook never blocks Notify: events beyond the queue are dropped
// and counted.
func TestDeadWebhookNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hook.Close()
	defer close(block)
	n := New([]Subscription{sub(hook.URL, "Connect")}, Options{QueueSize: 4, Timeout: time.Minute})
	start := time.Now()
	for range 100 {
		n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	}
	if time.Since(start) > time.Second {
		t.Fatal("Notify blocked on a dead webhook")
	}
	if d := testutil.ToFloat64(n.sent.WithLabelValues("dropped")); d < 90 {
		t.Fatalf("%v dropped, want at least 90", d)
	}
	n.Close() // does not wait for the hanging request
}

// deadHook is a webhook that never answers until the test ends.
func deadHook(t *testing.T) string {
	block := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hook.Close)
	t.Cleanup(func() { close(block) })
	return hook.URL
}

// countingHook counts the events it receives.
func countingHook(t *testing.T) (string, *atomic.Int32) {
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(hook.Close)
	return hook.URL, &got
}

func waitCount(t *testing.T, c *atomic.Int32, want int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.Load() < want; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d events delivered in 10s, want %d", c.Load(), want)
		}
	}
}

// A webhook that never answers delays no other webhook, and once its own
// queue is full the healthy webhook still gets every event.
func TestDeadWebhookDelaysNoOther(t *testing.T) {
	healthy, got := countingHook(t)
	reg := prometheus.NewRegistry()
	n := New([]Subscription{sub(deadHook(t), "Connect"), sub(healthy, "Connect")},
		Options{QueueSize: 4, Timeout: time.Minute, Registerer: reg})
	defer n.Close()
	for i := range 20 {
		n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
		waitCount(t, got, int32(i+1))
	}
	// The dead webhook holds one event in flight and four queued. The
	// sender counts a delivery once the answer is back: poll for it.
	if d := testutil.ToFloat64(n.sent.WithLabelValues(ResultDropped)); d != 15 {
		t.Fatalf("%v dropped, want 15 (the dead webhook's overflow)", d)
	}
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(n.sent.WithLabelValues(ResultDelivered)) != 20; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v delivered, want 20", testutil.ToFloat64(n.sent.WithLabelValues(ResultDelivered)))
		}
	}
}

// A full queue is logged once per incident, not once per event, and its
// end is logged with the count.
func TestFullQueueLogsOncePerIncident(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	hold, entered := make(chan struct{}), make(chan struct{}, 100)
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-hold
		got.Add(1)
	}))
	defer hook.Close()
	n := New([]Subscription{sub(hook.URL, "Connect")}, Options{QueueSize: 2, Logger: zap.New(core)})
	defer n.Close()
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	<-entered // the first event is in flight: the queue is empty
	for range 49 {
		n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	}
	close(hold)
	waitCount(t, &got, 3) // one in flight, two queued
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	if w := logs.FilterLevelExact(zap.WarnLevel).Len(); w != 1 {
		t.Fatalf("%d warnings for one incident, want 1", w)
	}
	if r := logs.FilterMessage("webhook queue accepts events again").All(); len(r) != 1 || r[0].ContextMap()["dropped"] != uint64(47) {
		t.Fatalf("recovery log %v, want one with dropped=47", r)
	}
}

// Subscriptions set after New (a reload) start delivering; removed ones
// stop their goroutine.
func TestSetSubscriptionsStartsAndStopsWebhooks(t *testing.T) {
	healthy, got := countingHook(t)
	n := New(nil, Options{})
	defer n.Close()
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	n.SetSubscriptions([]Subscription{sub(healthy, "Connect")})
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	waitCount(t, got, 1)
	n.SetSubscriptions(nil)
	n.Notify(Event{Event: "Connect", Service: "vpce-svc-1"})
	time.Sleep(50 * time.Millisecond)
	if got.Load() != 1 {
		t.Fatalf("%d events, want 1", got.Load())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.hooks) != 0 {
		t.Fatalf("%d webhooks after removing every subscription", len(n.hooks))
	}
}
