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

// specAddr reads a target spec's ip and port (0 = the group's port).
func specAddr(g *targetGroup, i int, ts TargetSpec) (netip.AddrPort, error) {
	ip, err := netip.ParseAddr(ts.IP)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("targets[%d].ip: %q is not an IP address", i, ts.IP)
	}
	port := ts.Port
	if port == 0 {
		port = int(g.cfg.Load().Port)
	}
	if port < 1 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("targets[%d].port: %d is outside 1-65535", i, ts.Port)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// resolve checks a target spec to register as the configuration's
// validation checks a target of the file: a valid IP inside a configured
// subnet (the rules need its NACL), an AZ that is the subnet's (omitted:
// taken from it) and has a load balancer node, known security groups —
// and not one of privlink's own sockets.
func (s *Server) resolve(g *targetGroup, i int, ts TargetSpec) (config.Target, error) {
	cfg := s.top.Load().cfg
	ap, err := specAddr(g, i, ts)
	if err != nil {
		return config.Target{}, err
	}
	if what := s.ownListener(cfg, ap); what != "" {
		return config.Target{}, fmt.Errorf("targets[%d]: %s is privlink's own %s; a target must be a server privlink does not run", i, ap, what)
	}
	t := config.Target{IP: ap.Addr(), Port: ap.Port(), AZ: ts.AZ, SecurityGroups: ts.SecurityGroups}
	sn, err := placeTarget(cfg, i, &t)
	if err != nil {
		return config.Target{}, err
	}
	nodes := *g.nodes.Load()
	if _, ok := nodes[t.AZ]; !ok {
		azs := slices.Sorted(maps.Keys(nodes))
		return config.Target{}, fmt.Errorf("targets[%d].az: the load balancer has no node in %s, the AZ of subnet %s (AZs: %s)", i, t.AZ, sn.ID, strings.Join(azs, ", "))
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

// placeTarget finds the subnet holding t's IP and checks or fills t's AZ
// from it.
func placeTarget(cfg *config.Config, i int, t *config.Target) (*config.Subnet, error) {
	var sn *config.Subnet
	var all []string
	for j := range cfg.Subnets {
		c := &cfg.Subnets[j]
		all = append(all, fmt.Sprintf("%s %s", c.ID, c.CIDR))
		if sn == nil && c.CIDR.Contains(t.IP) {
			sn = c
		}
	}
	switch {
	case sn == nil:
		return nil, fmt.Errorf("targets[%d].ip: %s is in no configured subnet (%s); register targets inside a subnet", i, t.IP, strings.Join(all, ", "))
	case t.AZ == "":
		t.AZ = sn.AZ
	case t.AZ != sn.AZ:
		return nil, fmt.Errorf("targets[%d].az: %s does not match subnet %s, which is in %s", i, t.AZ, sn.ID, sn.AZ)
	}
	t.Subnet = sn.ID
	return sn, nil
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

// Deregister starts draining targets, found by ip:port (the AZ may be
// omitted): no new flows; live flows continue for the deregistration delay
// (and are reset then only with deregistration_connection_termination).
func (s *Server) Deregister(group, service string, specs []TargetSpec) error {
	g, err := s.findGroup(group, service)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var victims []*target
	for i, spec := range specs {
		ap, err := specAddr(g, i, spec)
		if err != nil {
			return err
		}
		tt := g.targets[ap]
		if tt == nil {
			return fmt.Errorf("%w: targets[%d]: %s is not registered with %s", ErrNotFound, i, ap, group)
		}
		if spec.AZ != "" && spec.AZ != tt.az {
			return fmt.Errorf("targets[%d].az: %s is registered in %s, not %s", i, ap, tt.az, spec.AZ)
		}
		victims = append(victims, tt)
	}
	for _, t := range victims {
		s.deregisterLocked(g, t)
	}
	s.reselect(g)
	return nil
}
