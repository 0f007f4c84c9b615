package proxy

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/conntrack"
)

// metrics are the data plane's Prometheus collectors (README, "Admin API and metrics"). Label
// children are resolved once per compiled topology, so the per-connection
// cost is a few atomic adds; no label ever carries a client address.
type metrics struct {
	activeFlows  *prometheus.GaugeVec
	newFlows     *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	clientResets *prometheus.CounterVec
	targetResets *prometheus.CounterVec
	elbResets    *prometheus.CounterVec
	dialDuration *prometheus.HistogramVec
	flowDuration *prometheus.HistogramVec
	reloadOK     prometheus.Gauge
	held         prometheus.Gauge // privlink_held_denied_connections

	rejected         *prometheus.CounterVec
	unhealthyRouting *prometheus.CounterVec
	healthyTargets   *prometheus.GaugeVec
	unhealthyTargets *prometheus.GaugeVec
	portErrors       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	svc := []string{"service"}
	m := &metrics{
		activeFlows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "privlink", Name: "active_flows",
			Help: "Connections currently forwarded, by service and AZ of the endpoint interface."}, []string{"service", "az"}),
		newFlows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "new_flows_total",
			Help: "Connections accepted on endpoint interfaces, by service and AZ."}, []string{"service", "az"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "processed_bytes_total",
			Help: "Payload bytes forwarded, by service and direction (to_target, to_client)."}, []string{"service", "direction"}),
		clientResets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "tcp_client_resets_total",
			Help: "Resets sent by clients (TCP_Client_Reset_Count)."}, svc),
		targetResets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "tcp_target_resets_total",
			Help: "Resets sent by targets, including refused connections (TCP_Target_Reset_Count)."}, svc),
		elbResets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "tcp_elb_resets_total",
			Help: "Resets sent by the load balancer itself, e.g. after the idle timeout (TCP_ELB_Reset_Count)."}, svc),
		dialDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "privlink", Name: "dial_duration_seconds",
			Help:    "Time to establish the connection from the NLB node to the target.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16)}, svc),
		flowDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "privlink", Name: "flow_duration_seconds",
			Help:    "Lifetime of forwarded connections.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 4, 12)}, svc),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "privlink", Name: "config_last_reload_successful",
			Help: "1 if the last configuration load or reload succeeded, 0 if it failed and the previous one is still in use."}),
	}
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "rejected_flows_total",
		Help: "Connections denied, by service and the hop that denied them (endpoint_state or a rule hop)."}, []string{"service", "hop"})
	m.unhealthyRouting = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "unhealthy_routing_flows_total",
		Help: "Connections routed while failing open: no healthy target, so all registered ones are used (UnhealthyRoutingFlowCount)."}, svc)
	m.healthyTargets = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "privlink", Name: "healthy_targets",
		Help: "Targets passing health checks, by target group and AZ (HealthyHostCount)."}, []string{"target_group", "az"})
	m.unhealthyTargets = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "privlink", Name: "unhealthy_targets",
		Help: "Targets failing health checks, by target group and AZ (UnHealthyHostCount)."}, []string{"target_group", "az"})
	m.portErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "port_allocation_errors_total",
		Help: "Connections refused because the node had no free source port towards the target (PortAllocationErrorCount)."}, []string{"service", "target"})
	m.held = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "privlink", Name: "held_denied_connections",
		Help: "Denied connections held silent (deny_action drop) until the client gives up or the hold ends; they are not in privlink_active_flows."})
	reg.MustRegister(m.rejected, m.unhealthyRouting, m.healthyTargets, m.unhealthyTargets, m.portErrors, m.held)
	reg.MustRegister(m.activeFlows, m.newFlows, m.bytes, m.clientResets, m.targetResets, m.elbResets,
		m.dialDuration, m.flowDuration, m.reloadOK)
	return m
}

// serviceMetrics are a service's resolved label children.
type serviceMetrics struct {
	bytesToTarget, bytesToClient          prometheus.Counter
	clientResets, targetResets, elbResets prometheus.Counter
	dialDuration, flowDuration            prometheus.Observer
	unhealthyRouting                      prometheus.Counter
}

func (m *metrics) forService(id string) serviceMetrics {
	return serviceMetrics{
		bytesToTarget: m.bytes.WithLabelValues(id, "to_target"),
		bytesToClient: m.bytes.WithLabelValues(id, "to_client"),
		clientResets:  m.clientResets.WithLabelValues(id),
		targetResets:  m.targetResets.WithLabelValues(id),
		elbResets:     m.elbResets.WithLabelValues(id),
		dialDuration:  m.dialDuration.WithLabelValues(id),
		flowDuration:  m.flowDuration.WithLabelValues(id),

		unhealthyRouting: m.unhealthyRouting.WithLabelValues(id),
	}
}

// zoneMetrics are the per (service, AZ) children.
type zoneMetrics struct {
	active   prometheus.Gauge
	newFlows prometheus.Counter
}

func (m *metrics) forZone(service, az string) zoneMetrics {
	return zoneMetrics{active: m.activeFlows.WithLabelValues(service, az), newFlows: m.newFlows.WithLabelValues(service, az)}
}

// portBudgetDesc describes privlink_port_budget_in_use, collected from the
// port pools at scrape time (no work on the data path).
var portBudgetDesc = prometheus.NewDesc("privlink_port_budget_in_use",
	"Source ports of the NLB nodes in use towards a target: held by live connections or waiting out port_reuse_delay (of port_budget per node).",
	[]string{"service", "target"}, nil)

type portCollector struct{ s *Server }

func (c portCollector) Describe(ch chan<- *prometheus.Desc) { ch <- portBudgetDesc }

func (c portCollector) Collect(ch chan<- prometheus.Metric) {
	inUse := map[netip.AddrPort]int{}
	c.s.ports.Each(func(_ netip.Addr, target netip.AddrPort, pl *conntrack.Pool) {
		inUse[target] += pl.InUse()
	})
	for target, n := range inUse {
		svc, _ := c.s.poolService.Load(target)
		name, _ := svc.(string)
		ch <- prometheus.MustNewConstMetric(portBudgetDesc, prometheus.GaugeValue, float64(n), name, target.String())
	}
}
