package dns

import (
	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the DNS server's counters (privlink_dns_*).
type metrics struct {
	queries     *prometheus.CounterVec
	writeErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "dns_queries_total",
			Help: "DNS queries answered, by response code (NOERROR, NXDOMAIN, REFUSED, SERVFAIL, FORMERR, NOTIMP)."}, []string{"rcode"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "privlink", Name: "dns_write_errors_total",
			Help: "DNS answers that could not be sent to the client."}),
	}
	if reg != nil {
		reg.MustRegister(m.queries, m.writeErrors)
	}
	return m
}

func (m *metrics) count(rcode int) {
	name, ok := mdns.RcodeToString[rcode]
	if !ok {
		name = "OTHER"
	}
	m.queries.WithLabelValues(name).Inc()
}
