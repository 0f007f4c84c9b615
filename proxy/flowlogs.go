package proxy

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/privlink/privlink/conntrack"
)

// flowLogMetrics registers privlink_flow_log_errors_total (failed writes
// of the flow-log destination) and privlink_flow_log_dropped_records_total
// for the logger of this server (nil: flow logs are off, both stay 0).
func (s *Server) flowLogMetrics(fl *conntrack.FlowLogger) {
	stat := func(f func(conntrack.FlowLogStats) uint64) func() float64 {
		return func() float64 {
			if fl == nil {
				return 0
			}
			return float64(f(fl.Stats()))
		}
	}
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "privlink", Name: "flow_log_errors_total",
			Help: "Failed writes of the flow-log destination (e.g. a full disk); records wait in memory and are written when writes succeed again."},
			stat(func(st conntrack.FlowLogStats) uint64 { return st.WriteErrors })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "privlink", Name: "flow_log_dropped_records_total",
			Help: "Flow-log records dropped (the queue or the buffer kept during a write failure was full); SKIPDATA records mark the gaps."},
			stat(func(st conntrack.FlowLogStats) uint64 { return st.Dropped })),
	)
}

// flowLogIncident logs a flow-log write failure once per incident, and
// its end.
func (s *Server) flowLogIncident(path string) func(error) {
	var failing atomic.Bool
	return func(err error) {
		if err != nil {
			failing.Store(true)
			s.log.Error("flow log write failed: records wait in memory (up to 4 MiB, then SKIPDATA) and are written when writes succeed again; see privlink_flow_log_errors_total",
				zap.String("path", path), zap.Error(err))
			return
		}
		if failing.Swap(false) {
			s.log.Info("flow log writes succeed again", zap.String("path", path))
		}
	}
}

// ReopenFlowLogs opens the flow-log file again by its path, for logrotate:
// after the file was moved away, new records go to a new file at the path
// (privlink run does it on SIGHUP). Without flow logs, or to stdout, it
// does nothing.
func (s *Server) ReopenFlowLogs() error {
	f, ok := s.flowLogFile.(*conntrack.FlowLogFile)
	if !ok {
		return nil
	}
	return f.Reopen()
}
