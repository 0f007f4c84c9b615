package proxy

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/config"
)

// TargetSpec names a target to register or deregister (the body of the
// admin API's register and deregister calls).
type TargetSpec struct {
	IP   string `json:"ip"`
	Port int    `json:"port,omitempty"` // 0 = the target group's port
	AZ   string `json:"az,omitempty"`   // "" = the AZ of the subnet holding IP
	// SecurityGroups are the target's SGs for the rules (optional).
	SecurityGroups []string `json:"security_groups,omitempty"`
}

// Targets lists every registered target with its state and reason code.
func (s *Server) Targets() []TargetInfo {
	out := []TargetInfo{}
	for _, g := range s.allGroups() {
		g.mu.Lock()
		for _, t := range g.targets {
			out = append(out, t.info())
		}
		g.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b TargetInfo) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.TargetGroup, b.TargetGroup), a.Target.Compare(b.Target))
	})
	return out
}

// findGroup resolves a target group by name (and service, when two
// services use the name).
func (s *Server) findGroup(name, service string) (*targetGroup, error) {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	var found []*targetGroup
	var names []string
	for _, g := range s.groups {
		names = append(names, g.name)
		if g.name == name && (service == "" || g.service == service) {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		slices.Sort(names)
		return nil, fmt.Errorf("%w: no target group %q (have: %s)", ErrNotFound, name, strings.Join(slices.Compact(names), ", "))
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("target group %q exists in several services; add ?service=ID", name)
}

// resolve checks a target spec against the group and the configuration:
// a valid IP, a port in 1–65535 and an AZ the load balancer has a node in.
func (s *Server) resolve(g *targetGroup, i int, ts TargetSpec) (config.Target, error) {
	cfg := s.top.Load().cfg
	ip, err := netip.ParseAddr(ts.IP)
	if err != nil {
		return config.Target{}, fmt.Errorf("targets[%d].ip: %q is not an IP address", i, ts.IP)
	}
	ip = ip.Unmap()
	port := ts.Port
	if port == 0 {
		port = int(g.cfg.Load().Port)
	}
	if port < 1 || port > 65535 {
		return config.Target{}, fmt.Errorf("targets[%d].port: %d is outside 1-65535", i, ts.Port)
	}
	t := config.Target{IP: ip, Port: uint16(port), AZ: ts.AZ, SecurityGroups: ts.SecurityGroups}
	for _, sn := range cfg.Subnets {
		if sn.CIDR.Contains(ip) {
			t.Subnet = sn.ID
			if t.AZ == "" {
				t.AZ = sn.AZ
			}
			break
		}
	}
	nodes := *g.nodes.Load()
	if t.AZ == "" {
		return config.Target{}, fmt.Errorf("targets[%d].az: %s is in no configured subnet; give its AZ", i, ip)
	}
	if _, ok := nodes[t.AZ]; !ok {
		azs := slices.Sorted(maps.Keys(nodes))
		return config.Target{}, fmt.Errorf("targets[%d].az: the load balancer has no node in %q (AZs: %s)", i, t.AZ, strings.Join(azs, ", "))
	}
	known := map[string]bool{}
	for _, sg := range cfg.SecurityGroups {
		known[sg.ID] = true
	}
	for j, sg := range t.SecurityGroups {
		if !known[sg] {
			return config.Target{}, fmt.Errorf("targets[%d].security_groups[%d]: no security group %q", i, j, sg)
		}
	}
	return t, nil
}

// Register registers targets with a target group at runtime; they start in
// the initial state and get traffic once healthy. Every spec is checked
// before any is registered.
func (s *Server) Register(group, service string, specs []TargetSpec) error {
	g, err := s.findGroup(group, service)
	if err != nil {
		return err
	}
	var ts []config.Target
	for i, spec := range specs {
		t, err := s.resolve(g, i, spec)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	// The rules learn the new targets (their SGs and subnets) before the
	// targets can be health-checked or picked.
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	g.mu.Lock()
	for _, t := range ts {
		tt := s.registerLocked(g, t, true)
		tt.fromAPI = true
	}
	g.mu.Unlock()
	s.rules.Store(s.compileRules(s.top.Load().cfg))
	g.mu.Lock()
	s.reselect(g)
	g.mu.Unlock()
	return nil
}

// Deregister starts draining targets: no new flows; live flows continue
// for the deregistration delay (and are reset then only with
// deregistration_connection_termination).
func (s *Server) Deregister(group, service string, specs []TargetSpec) error {
	g, err := s.findGroup(group, service)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var victims []*target
	for i, spec := range specs {
		t, err := s.resolve(g, i, spec)
		if err != nil {
			return err
		}
		tt := g.targets[t.AddrPort()]
		if tt == nil {
			return fmt.Errorf("%w: targets[%d]: %s is not registered with %s", ErrNotFound, i, t.AddrPort(), group)
		}
		victims = append(victims, tt)
	}
	for _, t := range victims {
		s.deregisterLocked(g, t)
	}
	s.reselect(g)
	return nil
}
