package privlinktest

import (
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// Metric returns the value of the instance's metric name (one of the README's, e.g.
// privlink_new_flows_total) summed over the series whose labels include
// labels (nil: every series): a counter's or gauge's value, a histogram's
// or summary's sample count. A vector shows no series until its first
// observation, so a metric not seen yet is 0. A label the metric does not
// have fails the test, naming the labels it has.
func (in *Instance) Metric(name string, labels map[string]string) float64 {
	in.t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		in.t.Errorf("privlinktest: gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return in.sum(mf, labels)
		}
	}
	return 0
}

func (in *Instance) sum(mf *dto.MetricFamily, want map[string]string) float64 {
	in.t.Helper()
	total := 0.0
	for i, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		if i == 0 {
			in.checkLabels(mf.GetName(), have, want)
		}
		if matches(have, want) {
			total += value(m)
		}
	}
	return total
}

func (in *Instance) checkLabels(name string, have, want map[string]string) {
	in.t.Helper()
	for k := range want {
		if _, ok := have[k]; !ok {
			names := make([]string, 0, len(have))
			for n := range have {
				names = append(names, n)
			}
			slices.Sort(names)
			in.t.Errorf("privlinktest: metric %s has no label %q (its labels: %v)", name, k, names)
		}
	}
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	}
	return 0
}
