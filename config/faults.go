package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Fault is one failure privlink injects (docs/faults.md): declared under faults:
// in the topology, or added at run time (POST /v1/faults, privlink fault
// add, proxy.Server.AddFault). YAML entries and JSON bodies have the same
// shape; the kind's parameters are top-level keys.
type Fault struct {
	// ID names the fault in the API, metrics-free logs and connection
	// events; "" = filled in (the kind and a number).
	ID    string     `yaml:"id" json:"id"`
	Kind  FaultKind  `yaml:"kind" json:"kind"`
	Scope FaultScope `yaml:"scope" json:"scope"`
	// Direction of a stream toxic: to_target, to_client, or "" for both.
	Direction FaultDirection `yaml:"direction" json:"direction,omitempty"`
	// Toxicity is the chance (0–1) that a new flow in scope gets the
	// fault (default 1: every flow). port_budget takes only 1: a pool is
	// shared by every flow to its target.
	Toxicity Probability `yaml:"toxicity" json:"toxicity"`
	// StartAfter delays the fault's start from when it is added; Duration
	// ends it that long after it started (0: until removed).
	StartAfter Duration `yaml:"start_after" json:"start_after,omitempty"`
	Duration   Duration `yaml:"duration" json:"duration,omitempty"`

	// Kind parameters (which apply to which kind: FaultParams).
	Latency     Duration `yaml:"latency" json:"latency,omitempty"`
	Jitter      Duration `yaml:"jitter" json:"jitter,omitempty"`
	RateKBps    int      `yaml:"rate_kbps" json:"rate_kbps,omitempty"`
	Bytes       int64    `yaml:"bytes" json:"bytes,omitempty"`
	After       Duration `yaml:"after" json:"after,omitempty"`
	Timeout     Duration `yaml:"timeout" json:"timeout,omitempty"`
	Delay       Duration `yaml:"delay" json:"delay,omitempty"`
	Size        int      `yaml:"size" json:"size,omitempty"`
	Budget      int      `yaml:"budget" json:"budget,omitempty"`
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty"`
}

func (f *Fault) setDefaults() { f.Toxicity = 1 }

// NewFault returns a fault of kind with its defaults (toxicity 1), for
// callers that build one in Go or decode JSON into it.
func NewFault(kind FaultKind) Fault { return Fault{Kind: kind, Toxicity: 1} }

// FaultScope selects what a fault applies to; every key given must match
// (an empty scope matches everything).
type FaultScope struct {
	Endpoint    string         `yaml:"endpoint" json:"endpoint,omitempty"`
	AZ          string         `yaml:"az" json:"az,omitempty"`
	Node        netip.Addr     `yaml:"node" json:"node,omitzero"`
	Service     string         `yaml:"service" json:"service,omitempty"`
	TargetGroup string         `yaml:"target_group" json:"target_group,omitempty"`
	Target      netip.AddrPort `yaml:"target" json:"target,omitzero"`
	Listener    uint16         `yaml:"listener" json:"listener,omitempty"`
}

// IsZero reports an empty scope (everything).
func (s FaultScope) IsZero() bool { return s == FaultScope{} }

// String writes the scope as key=value pairs ("" for everything).
func (s FaultScope) String() string {
	var b []string
	add := func(k, v string) {
		if v != "" {
			b = append(b, k+"="+v)
		}
	}
	add("endpoint", s.Endpoint)
	add("az", s.AZ)
	if s.Node.IsValid() {
		add("node", s.Node.String())
	}
	add("service", s.Service)
	add("target_group", s.TargetGroup)
	if s.Target.IsValid() {
		add("target", s.Target.String())
	}
	if s.Listener != 0 {
		add("listener", strconv.Itoa(int(s.Listener)))
	}
	return strings.Join(b, ",")
}

// FaultKind is what a fault does.
type FaultKind string

// AWS-shaped kinds: what happens to a PrivateLink path when AWS fails.
const (
	FaultAZOutage        FaultKind = "az_outage"
	FaultTargetBlackhole FaultKind = "target_blackhole"
	FaultTargetReset     FaultKind = "target_reset"
	FaultNodeResetAll    FaultKind = "node_reset_all"
	FaultPortBudget      FaultKind = "port_budget"
	FaultIdleTimeout     FaultKind = "idle_timeout"
)

// Stream toxics (Toxiproxy's): applied by the relay to the bytes of the
// flows that carry them.
const (
	FaultLatency   FaultKind = "latency"
	FaultBandwidth FaultKind = "bandwidth"
	FaultResetPeer FaultKind = "reset_peer"
	FaultTimeout   FaultKind = "timeout"
	FaultSlowClose FaultKind = "slow_close"
	FaultSlicer    FaultKind = "slicer"
	FaultLimitData FaultKind = "limit_data"
)

// FaultKinds lists every kind in the order docs and errors name them.
var FaultKinds = []FaultKind{
	FaultAZOutage, FaultTargetBlackhole, FaultTargetReset, FaultNodeResetAll, FaultPortBudget, FaultIdleTimeout,
	FaultLatency, FaultBandwidth, FaultResetPeer, FaultTimeout, FaultSlowClose, FaultSlicer, FaultLimitData,
}

// FaultParams are the parameter keys each kind takes; the first ones
// listed in required are required.
var FaultParams = map[FaultKind][]string{
	FaultAZOutage:        nil,
	FaultTargetBlackhole: nil,
	FaultTargetReset:     nil,
	FaultNodeResetAll:    nil,
	FaultPortBudget:      {"budget"},
	FaultIdleTimeout:     {"idle_timeout"},
	FaultLatency:         {"latency", "jitter"},
	FaultBandwidth:       {"rate_kbps"},
	FaultResetPeer:       {"bytes", "after"},
	FaultTimeout:         {"timeout"},
	FaultSlowClose:       {"delay"},
	FaultSlicer:          {"size", "delay"},
	FaultLimitData:       {"bytes"},
}

// IsToxic reports a stream toxic (applied to live bytes, per direction).
func (k FaultKind) IsToxic() bool {
	switch k {
	case FaultLatency, FaultBandwidth, FaultResetPeer, FaultTimeout, FaultSlowClose, FaultSlicer, FaultLimitData:
		return true
	}
	return false
}

// UnmarshalText accepts one of FaultKinds.
func (k *FaultKind) UnmarshalText(b []byte) error {
	for _, x := range FaultKinds {
		if string(b) == string(x) {
			*k = x
			return nil
		}
	}
	return fmt.Errorf("unknown fault kind %q (use %s)", b, kindList())
}

func kindList() string {
	s := make([]string, len(FaultKinds))
	for i, k := range FaultKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// FaultDirection is the direction of the bytes a toxic applies to.
type FaultDirection string

// Directions of a toxic ("" = both).
const (
	ToTarget FaultDirection = "to_target"
	ToClient FaultDirection = "to_client"
)

// UnmarshalText accepts to_target or to_client.
func (d *FaultDirection) UnmarshalText(b []byte) error {
	switch x := FaultDirection(b); x {
	case ToTarget, ToClient, "":
		*d = x
		return nil
	}
	return fmt.Errorf("unknown direction %q (use to_target or to_client; omit it for both)", b)
}

// Probability is a chance between 0 and 1, written as a number.
type Probability float64

// UnmarshalText parses a number (YAML).
func (p *Probability) UnmarshalText(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number between 0 and 1", b)
	}
	*p = Probability(v)
	return nil
}

// UnmarshalJSON parses a JSON number.
func (p *Probability) UnmarshalJSON(b []byte) error {
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s is not a number between 0 and 1", b)
	}
	*p = Probability(v)
	return nil
}
