package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// FieldError is one problem of a fault, naming its key (scope.az,
// latency, ...): the config validator puts it under faults[i], the admin
// API reports it for the JSON field.
type FieldError struct{ Field, Msg string }

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

var faultIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckFault validates a fault against c: its kind and parameters, its
// toxicity and direction, and that its scope names what c has. It returns
// every problem, in key order.
func CheckFault(c *Config, f *Fault) []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if f.ID != "" && !faultIDRE.MatchString(f.ID) {
		bad("id", "%q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", f.ID)
	}
	if f.Kind == "" {
		bad("kind", "is required (use %s)", kindList())
		return errs
	}
	checkScope(c, f, bad)
	if f.Direction != "" && !f.Kind.IsToxic() {
		bad("direction", "applies to stream toxics only, not to %s", f.Kind)
	}
	switch {
	case f.Toxicity < 0 || f.Toxicity > 1:
		bad("toxicity", "%v is outside 0-1", float64(f.Toxicity))
	case f.Kind == FaultPortBudget && f.Toxicity != 1:
		bad("toxicity", "does not apply to port_budget: the node's pool towards a target is shared by every flow and shrinks for all of them (leave it at 1)")
	}
	checkParams(f, bad)
	return errs
}

// faultParamSet lists each parameter key with whether the fault sets it
// and whether its value is valid.
func faultParamSet(f *Fault) []struct {
	key      string
	set, neg bool
} {
	return []struct {
		key      string
		set, neg bool
	}{
		{"latency", f.Latency != 0, false}, {"jitter", f.Jitter != 0, false},
		{"rate_kbps", f.RateKBps != 0, f.RateKBps < 0}, {"bytes", f.Bytes != 0, f.Bytes < 0},
		{"after", f.After != 0, false}, {"timeout", f.Timeout != 0, false},
		{"delay", f.Delay != 0, false}, {"size", f.Size != 0, f.Size < 0},
		{"budget", f.Budget != 0, f.Budget < 0}, {"idle_timeout", f.IdleTimeout != 0, false},
	}
}

// checkParams refuses parameters of other kinds and requires the kind's own.
func checkParams(f *Fault, bad func(string, string, ...any)) {
	own := FaultParams[f.Kind]
	for _, p := range faultParamSet(f) {
		switch {
		case p.set && !slices.Contains(own, p.key):
			bad(p.key, "is not a parameter of %s (%s)", f.Kind, takes(own))
		case p.neg:
			bad(p.key, "must not be negative")
		}
	}
	required := map[FaultKind]struct {
		key string
		ok  bool
	}{
		FaultPortBudget:  {"budget", f.Budget > 0},
		FaultIdleTimeout: {"idle_timeout", f.IdleTimeout > 0},
		FaultLatency:     {"latency", f.Latency > 0},
		FaultBandwidth:   {"rate_kbps", f.RateKBps > 0},
		FaultSlowClose:   {"delay", f.Delay > 0},
		FaultSlicer:      {"size", f.Size > 0},
		FaultLimitData:   {"bytes", f.Bytes > 0},
	}
	if r, ok := required[f.Kind]; ok && !r.ok {
		bad(r.key, "is required for %s and must be positive", f.Kind)
	}
}

func takes(keys []string) string {
	if len(keys) == 0 {
		return "it takes no parameters"
	}
	return "it takes " + strings.Join(keys, ", ")
}

// checkScope requires what each kind needs to know where it applies, and
// that every key of the scope names something the configuration has.
func checkScope(c *Config, f *Fault, bad func(string, string, ...any)) {
	s := &f.Scope
	switch f.Kind {
	case FaultAZOutage:
		if s.AZ == "" {
			bad("scope.az", "is required for az_outage (the AZ ID that goes away, e.g. use1-az1)")
		}
	case FaultNodeResetAll:
		if !s.Node.IsValid() && s.AZ == "" {
			bad("scope", "node_reset_all needs scope.node (a node IP) or scope.az (its node)")
		}
	case FaultTargetBlackhole, FaultTargetReset, FaultPortBudget:
		if !s.Target.IsValid() && s.TargetGroup == "" {
			bad("scope", "%s needs scope.target (IP:PORT) or scope.target_group", f.Kind)
		}
	}
	if s.Endpoint != "" && !hasEndpoint(c, s.Endpoint) {
		bad("scope.endpoint", "endpoint %q is not defined under endpoints", s.Endpoint)
	}
	if s.AZ != "" && !hasAZ(c, s.AZ) {
		bad("scope.az", "no subnet or node is in AZ %q", s.AZ)
	}
	svc := c.service(s.Service)
	if s.Service != "" && svc == nil {
		bad("scope.service", "service %q is not defined under services", s.Service)
	}
	if s.Node.IsValid() && !hasNode(c, s) {
		bad("scope.node", "%s is not the IP of a load balancer node", s.Node)
	}
	if s.TargetGroup != "" && !hasGroup(c, s) {
		bad("scope.target_group", "target group %q is not defined%s", s.TargetGroup, inService(s))
	}
	if s.Listener != 0 && !hasListener(c, s) {
		bad("scope.listener", "no load balancer listens on port %d%s", s.Listener, inService(s))
	}
}

func inService(s *FaultScope) string {
	if s.Service != "" {
		return " in service " + s.Service
	}
	return ""
}

func (c *Config) service(id string) *Service {
	for i := range c.Services {
		if c.Services[i].ID == id {
			return &c.Services[i]
		}
	}
	return nil
}

// services are the services a scope may match.
func (c *Config) scoped(s *FaultScope) []Service {
	if s.Service == "" {
		return c.Services
	}
	if sv := c.service(s.Service); sv != nil {
		return []Service{*sv}
	}
	return nil
}

func hasEndpoint(c *Config, id string) bool {
	return slices.ContainsFunc(c.Endpoints, func(e Endpoint) bool { return e.ID == id })
}

func hasAZ(c *Config, az string) bool {
	if slices.ContainsFunc(c.Subnets, func(s Subnet) bool { return s.AZ == az }) {
		return true
	}
	return slices.ContainsFunc(c.Services, func(s Service) bool { return s.Node(az) != nil })
}

func hasNode(c *Config, s *FaultScope) bool {
	return slices.ContainsFunc(c.scoped(s), func(sv Service) bool {
		return slices.ContainsFunc(sv.LoadBalancer.Nodes, func(n Node) bool { return n.IP == s.Node })
	})
}

func hasGroup(c *Config, s *FaultScope) bool {
	return slices.ContainsFunc(c.scoped(s), func(sv Service) bool { return sv.TargetGroup(s.TargetGroup) != nil })
}

func hasListener(c *Config, s *FaultScope) bool {
	return slices.ContainsFunc(c.scoped(s), func(sv Service) bool {
		return slices.ContainsFunc(sv.LoadBalancer.Listeners, func(l Listener) bool { return l.Port == s.Listener })
	})
}

// faults checks faults: and fills in missing IDs.
func (v *validator) faults() {
	ids := map[string]string{}
	for i := range v.c.Faults {
		f, p := &v.c.Faults[i], idx("", "faults", i)
		if v.unsure(p + ".kind") {
			continue
		}
		for _, e := range CheckFault(v.c, f) {
			v.errf(p+"."+e.Field, "%s", e.Msg)
		}
		if f.ID == "" {
			f.ID = fmt.Sprintf("%s-%d", f.Kind, i+1)
		}
		if other, ok := ids[f.ID]; ok {
			v.errf(p+".id", "fault %q is already defined at %s", f.ID, other)
		}
		ids[f.ID] = p
	}
}
