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
