package proxy

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/privlink/privlink/config"
)

// Denials beyond MaxHeld are reset, with one warning per incident, not
// one per connection; when holding works again that is logged once, and
// the next overflow is a new incident.
func TestHoldOverflowWarnsOncePerIncident(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n")
	core, logs := observer.New(zap.InfoLevel)
	srv, err := Start(l.cfg, Options{Registry: prometheus.NewRegistry(), MaxHeld: 2, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	defer srv.Close()
	held := func(n int) func() bool {
		return func() bool {
			srv.mu.Lock()
			defer srv.mu.Unlock()
			return len(srv.held) == n
		}
	}
	first := l.dial("1.50", "1.10")
	l.dial("1.51", "1.10")
	waitFor(t, held(2), "two held connections")
	for i := range 5 {
		if err := resetSeen(l.tryDial(fmt.Sprintf("1.%d", 60+i), "1.10")); err != nil {
			t.Fatalf("denial beyond the cap: %v", err)
		}
	}
	warnings := func() int {
		return logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("too many denied connections").Len()
	}
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings for one incident of 5 resets, want 1", n)
	}
	first.Close() // its hold ends: room for one
	waitFor(t, held(1), "one held connection")
	l.dial("1.70", "1.10")
	waitFor(t, held(2), "two held connections again")
	if r := logs.FilterMessage("denied connections are held silent again").All(); len(r) != 1 || r[0].ContextMap()["reset_meanwhile"] != uint64(5) {
		t.Fatalf("end of incident logged %v, want once with reset_meanwhile=5", r)
	}
	if err := resetSeen(l.tryDial("1.80", "1.10")); err != nil {
		t.Fatal(err)
	}
	if n := warnings(); n != 2 {
		t.Fatalf("%d warnings after a second incident, want 2", n)
	}
}
