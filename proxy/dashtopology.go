package proxy

import (
	"net/netip"
	"slices"

	"github.com/privlink/privlink/config"
)

// DashTopology is what the dashboard draws (GET /v1/dashboard/topology):
// the interface endpoints' path left to right, client subnets and known
// clients → endpoint interfaces → NLB nodes → target groups → targets,
// each with the rule layers (security groups, NACLs) it is judged by.
type DashTopology struct {
	Region    string         `json:"region"`
	Clients   []DashClient   `json:"clients"`
	Endpoints []DashEndpoint `json:"endpoints"`
	Services  []DashService  `json:"services"`
	Gateways  []string       `json:"gateway_endpoints"` // gateway endpoints: not on this path
	// FaultKinds are the kinds the faults panel offers (docs/faults.md).
	FaultKinds []config.FaultKind `json:"fault_kinds"`
}

// DashClient is a subnet that holds endpoint interfaces (kind "subnet")
// or a client declared under clients: (kind "client").
type DashClient struct {
	Kind           string       `json:"kind"`
	CIDR           netip.Prefix `json:"cidr"`
	Subnet         string       `json:"subnet"`
	AZ             string       `json:"az"`
	NACL           string       `json:"nacl"` // "" = the default NACL (allow all)
	SecurityGroups []string     `json:"security_groups"`
}

// DashEndpoint is an interface endpoint and its network interfaces.
type DashEndpoint struct {
	ID             string          `json:"id"`
	Service        string          `json:"service"`
	State          string          `json:"state"`
	Reason         string          `json:"reason,omitempty"`
	SecurityGroups []string        `json:"security_groups"`
	Interfaces     []DashInterface `json:"interfaces"`
}

// DashInterface is one endpoint network interface and the node it feeds.
type DashInterface struct {
	AZ     string     `json:"az"`
	Subnet string     `json:"subnet"`
	NACL   string     `json:"nacl"`
	IP     netip.Addr `json:"ip"`
	Ports  []uint16   `json:"ports"`
	Node   netip.Addr `json:"node"`
}

// DashService is an endpoint service: its load balancer's nodes,
// listeners and target groups.
type DashService struct {
	ID             string          `json:"id"`
	LoadBalancer   string          `json:"load_balancer"`
	CrossZone      bool            `json:"cross_zone"`
	SecurityGroups []string        `json:"security_groups"` // of the NLB
	Nodes          []DashNode      `json:"nodes"`
	Listeners      []DashListener  `json:"listeners"`
	TargetGroups   []DashTargetGrp `json:"target_groups"`
}

// DashNode is one NLB node.
type DashNode struct {
	AZ     string     `json:"az"`
	Subnet string     `json:"subnet"`
	NACL   string     `json:"nacl"`
	IP     netip.Addr `json:"ip"`
}

// DashListener is a listener port and the target group it forwards to.
type DashListener struct {
	Port        uint16 `json:"port"`
	TargetGroup string `json:"target_group"`
}

// DashTargetGrp is a target group and its registered targets.
type DashTargetGrp struct {
	Name            string       `json:"name"`
	Port            uint16       `json:"port"`
	ProxyProtocolV2 bool         `json:"proxy_protocol_v2"`
	HealthCheck     bool         `json:"health_check"`
	Targets         []DashTarget `json:"targets"`
}

// DashTarget is a registered target with its state and rule layers.
type DashTarget struct {
	TargetInfo
	Subnet         string   `json:"subnet"`
	NACL           string   `json:"nacl"`
	SecurityGroups []string `json:"security_groups"`
	FromAPI        bool     `json:"from_api"`
}

// DashboardTopology describes the running topology for the dashboard.
func (s *Server) DashboardTopology() DashTopology {
	top := s.top.Load()
	cfg := top.cfg
	nacl := subnetNACLs(cfg)
	out := DashTopology{Region: cfg.Region, Clients: dashClients(cfg, nacl), FaultKinds: config.FaultKinds}
	for _, ep := range cfg.Endpoints {
		if ep.ForAWSService() {
			out.Gateways = append(out.Gateways, ep.ID)
			continue
		}
		out.Endpoints = append(out.Endpoints, s.dashEndpoint(top, &ep, nacl))
	}
	for i := range cfg.Services {
		if sv := &cfg.Services[i]; len(sv.LoadBalancer.Nodes) > 0 {
			out.Services = append(out.Services, s.dashService(sv, nacl))
		}
	}
	return out
}

// subnetNACLs maps each subnet to its network ACL ("" = the default).
func subnetNACLs(cfg *config.Config) map[string]string {
	m := make(map[string]string, len(cfg.Subnets))
	for _, sn := range cfg.Subnets {
		m[sn.ID] = sn.NetworkACL
	}
	return m
}

// dashClients lists the subnets holding endpoint interfaces, then the
// declared clients.
func dashClients(cfg *config.Config, nacl map[string]string) []DashClient {
	used := map[string]bool{}
	for _, ep := range cfg.Endpoints {
		for _, in := range ep.Interfaces {
			used[in.Subnet] = true
		}
	}
	var out []DashClient
	for _, sn := range cfg.Subnets {
		if used[sn.ID] {
			out = append(out, DashClient{Kind: "subnet", CIDR: sn.CIDR, Subnet: sn.ID, AZ: sn.AZ, NACL: sn.NetworkACL})
		}
	}
	for _, c := range cfg.Clients {
		dc := DashClient{Kind: "client", CIDR: c.CIDR, Subnet: c.Subnet, NACL: nacl[c.Subnet], SecurityGroups: c.SecurityGroups}
		if sn := cfg.Subnet(c.Subnet); sn != nil {
			dc.AZ = sn.AZ
		}
		out = append(out, dc)
	}
	return out
}

func (s *Server) dashEndpoint(top *topology, ep *config.Endpoint, nacl map[string]string) DashEndpoint {
	d := DashEndpoint{ID: ep.ID, Service: ep.Service, State: EndpointAvailable, SecurityGroups: ep.SecurityGroups}
	if e := s.lookupEndpoint(ep.ID); e != nil {
		d.State, d.Reason = e.snapshot()
	}
	sv := findService(top, ep.Service)
	for _, in := range ep.Interfaces {
		di := DashInterface{AZ: in.AZ, Subnet: in.Subnet, NACL: nacl[in.Subnet], IP: in.IP}
		if sv != nil {
			di.Node = sv.Node(in.AZ).IP
			for _, l := range sv.LoadBalancer.Listeners {
				di.Ports = append(di.Ports, l.Port)
			}
		}
		d.Interfaces = append(d.Interfaces, di)
	}
	return d
}

func (s *Server) dashService(sv *config.Service, nacl map[string]string) DashService {
	lb := &sv.LoadBalancer
	d := DashService{ID: sv.ID, LoadBalancer: lb.Name, CrossZone: lb.CrossZone, SecurityGroups: lb.SecurityGroups}
	for _, n := range lb.Nodes {
		d.Nodes = append(d.Nodes, DashNode{AZ: n.AZ, Subnet: n.Subnet, NACL: nacl[n.Subnet], IP: n.IP})
	}
	for _, l := range lb.Listeners {
		d.Listeners = append(d.Listeners, DashListener{Port: l.Port, TargetGroup: l.TargetGroup})
	}
	for _, tg := range sv.TargetGroups {
		d.TargetGroups = append(d.TargetGroups, DashTargetGrp{Name: tg.Name, Port: tg.Port,
			ProxyProtocolV2: tg.ProxyProtocolV2, HealthCheck: tg.HealthCheck.Enabled,
			Targets: s.dashTargets(sv.ID, tg.Name, nacl)})
	}
	return d
}

// dashTargets lists a group's registered targets (from the file and the
// API) in address order.
func (s *Server) dashTargets(service, group string, nacl map[string]string) []DashTarget {
	g := s.lookupGroup(groupKey(service, group))
	if g == nil {
		return nil
	}
	g.mu.Lock()
	out := make([]DashTarget, 0, len(g.targets))
	for _, t := range g.targets {
		out = append(out, DashTarget{TargetInfo: t.info(), Subnet: t.subnet, NACL: nacl[t.subnet],
			SecurityGroups: t.sgs, FromAPI: t.fromAPI})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b DashTarget) int { return a.Target.Compare(b.Target) })
	return out
}
