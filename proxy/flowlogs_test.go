package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/privlink/privlink/config"
)

// A flow-log destination that cannot be written (a full disk: /dev/full)
// is reported: privlink_flow_log_errors_total counts the failed writes and
// one error is logged for the incident, not one per write.
func TestFlowLogWriteErrorsAreReported(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, "admin:", "flow_logs: {path: /dev/full, interval: 1s}\nadmin:")
	l.echoTarget("10.20", false)
	core, logs := observer.New(zap.InfoLevel)
	l.reg = prometheus.NewRegistry()
	srv, err := Start(l.cfg, Options{Registry: l.reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	t.Cleanup(func() { srv.Close() })
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "logged"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	errs := func() float64 {
		mfs, _ := l.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "privlink_flow_log_errors_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no privlink_flow_log_errors_total")
		return 0
	}
	// The writer retries the kept lines every 20 ms.
	waitFor(t, func() bool { return errs() >= 3 }, "three failed flow-log writes")
	if n := logs.FilterMessageSnippet("flow log write failed").Len(); n != 1 {
		t.Fatalf("%d error logs for one incident, want 1", n)
	}
	if n, err := testutil.GatherAndCount(l.reg, "privlink_flow_log_dropped_records_total"); err != nil || n != 1 {
		t.Fatalf("privlink_flow_log_dropped_records_total: %d series, %v", n, err)
	}
}
