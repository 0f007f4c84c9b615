package inspect

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sidecar's counters; children are created up front so the
// connection path only increments.
type metrics struct {
	headers [2][2]prometheus.Counter // [Command][version-1]
	errors  [numReasons]prometheus.Counter
	items   *prometheus.CounterVec // nonconforming headers by item, counted by tally
	conns   prometheus.Counter
	active  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	headers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "privlink", Subsystem: "inspect", Name: "headers_total",
		Help: "PROXY protocol headers accepted, by command (proxy, local) and version (1, 2).",
	}, []string{"command", "version"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "privlink", Subsystem: "inspect", Name: "errors_total",
		Help: "Connections closed by the sidecar, by reason.",
	}, []string{"reason"})
	m := &metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "privlink", Subsystem: "inspect", Name: "nonconforming_headers_total",
			Help: "PROXY headers that differ from what an NLB sends, by item (split, v1, family, command, destination, aws_tlv, aws_subtype, vpce_id, crc32c, padding, tlv, stacked).",
		}, []string{"item"}),
		conns: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "privlink", Subsystem: "inspect", Name: "connections_total",
			Help: "Connections accepted.",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "privlink", Subsystem: "inspect", Name: "active_connections",
			Help: "Connections open now.",
		}),
	}
	for _, c := range []Command{CommandProxy, CommandLocal} {
		for v := range 2 {
			m.headers[c][v] = headers.WithLabelValues(strings.ToLower(c.String()), fmt.Sprint(v+1))
		}
	}
	for r := ReasonNone + 1; r < numReasons; r++ {
		m.errors[r] = errs.WithLabelValues(r.String())
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{headers, errs, m.items, m.conns, m.active} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("inspect: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) header(rec *Record) {
	if rec.Version == 1 || rec.Version == 2 {
		m.headers[rec.Command][rec.Version-1].Inc()
	}
}

func (m *metrics) reject(r Reason) {
	if r > ReasonNone && r < numReasons {
		m.errors[r].Inc()
	}
}
