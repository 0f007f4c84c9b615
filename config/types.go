package config

import (
	"net/netip"
)

// Config is one validated configuration generation.
type Config struct {
	Region         string          `yaml:"region"`
	AccountID      string          `yaml:"account_id"`
	Admin          Admin           `yaml:"admin"`
	DenyAction     DenyAction      `yaml:"deny_action"`
	FlowLogs       FlowLogs        `yaml:"flow_logs"`
	S3             S3              `yaml:"s3"`
	DynamoDB       DynamoDB        `yaml:"dynamodb"`
	RouteTables    []RouteTable    `yaml:"route_tables"`
	Principals     Principals      `yaml:"principals"`
	Subnets        []Subnet        `yaml:"subnets"`
	Clients        []Client        `yaml:"clients"`
	SecurityGroups []SecurityGroup `yaml:"security_groups"`
	NetworkACLs    []NetworkACL    `yaml:"network_acls"`
	Services       []Service       `yaml:"services"`
	Endpoints      []Endpoint      `yaml:"endpoints"`
	Notifications  []Notification  `yaml:"notifications"`
	DNS            DNS             `yaml:"dns"`
	VPC            VPC             `yaml:"vpc"`
	Faults         []Fault         `yaml:"faults"`

	// Source names where the configuration came from: a file path, or
	// EmbeddedName for the built-in default.
	Source string `yaml:"-"`
	// Warnings are accepted deviations from AWS (values outside AWS's ranges
	// that are useful in tests, rules that can never match, quotas exceeded).
	Warnings Errors `yaml:"-"`

	lines map[string]int
}

// Admin is the admin HTTP server (README, "Admin API").
type Admin struct {
	// Listen is host:port, or "off" to disable the admin server.
	Listen string `yaml:"listen"`
	// PProf serves Go's profiler at /debug/pprof/ (off by default: it
	// exposes the process's internals and can load the CPU).
	PProf bool `yaml:"pprof"`
}

// Enabled reports whether the admin server should run.
func (a Admin) Enabled() bool { return a.Listen != "" && a.Listen != "off" }

// FlowLogs configures VPC Flow Log records (docs/conntrack.md).
type FlowLogs struct {
	// Path is "-" for stdout, a file path, or "" for no flow logs.
	Path string `yaml:"path"`
	// Interval is the aggregation interval (AWS: 600s or 60s).
	Interval Duration `yaml:"interval"`
	// Format is a custom record format of ${field} names; "" is the default v2 format.
	Format string `yaml:"format"`
	// QueueSize bounds the records waiting to be written; when it is full,
	// records are dropped and counted as SKIPDATA, never blocking the data path.
	QueueSize int `yaml:"queue_size"`
}

// Enabled reports whether flow logs are written.
func (f FlowLogs) Enabled() bool { return f.Path != "" }

// Subnet is a VPC subnet: an AZ, a CIDR of real (127.x) addresses and an optional NACL.
type Subnet struct {
	ID         string       `yaml:"id"`
	AZ         string       `yaml:"az"`
	CIDR       netip.Prefix `yaml:"cidr"`
	NetworkACL string       `yaml:"network_acl"` // "" = the default NACL (allow all)
	// AZName is the AZ's name (us-east-1a) in endpoint DNS names; "" =
	// derived from the AZ ID and the region (use1-az1 → us-east-1a).
	AZName string `yaml:"az_name"`
}

// Client is a known client host (or range): its subnet and security groups,
// so that client SG egress and client-subnet NACLs are evaluated.
type Client struct {
	CIDR           netip.Prefix `yaml:"cidr"`
	Subnet         string       `yaml:"subnet"`
	SecurityGroups []string     `yaml:"security_groups"`
}

// SecurityGroup is a stateful, allow-only set of rules.
type SecurityGroup struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	Ingress     []SGRule `yaml:"ingress"`
	// Egress nil (key omitted) means AWS's default: one allow-all outbound rule.
	// An explicit empty list means no outbound traffic is allowed.
	Egress []SGRule `yaml:"egress"`
}

// SGRule allows traffic by protocol, destination port range and a peer that
// is either a CIDR or the members of a referenced security group.
type SGRule struct {
	Protocol Protocol     `yaml:"protocol"`
	Ports    PortRange    `yaml:"ports"`
	CIDR     netip.Prefix `yaml:"cidr"`
	// SourceGroup (ingress) references another SG: its members are allowed.
	SourceGroup string `yaml:"source_group"`
	// DestinationGroup (egress) references another SG: its members are allowed.
	DestinationGroup string `yaml:"destination_group"`
	Description      string `yaml:"description"`
	// DestinationPrefixList (egress) admits a prefix list's CIDRs (pl-...).
	DestinationPrefixList string `yaml:"destination_prefix_list"`
}

// Group returns the referenced security group of the rule, if any.
func (r SGRule) Group() string {
	if r.SourceGroup != "" {
		return r.SourceGroup
	}
	return r.DestinationGroup
}

// NetworkACL is a stateless, ordered rule list per direction.
type NetworkACL struct {
	ID      string     `yaml:"id"`
	Ingress []NACLRule `yaml:"ingress"`
	Egress  []NACLRule `yaml:"egress"`
}

// NACLRule is one numbered NACL entry; the lowest matching number decides.
type NACLRule struct {
	Rule     int          `yaml:"rule"`
	Protocol Protocol     `yaml:"protocol"`
	Ports    PortRange    `yaml:"ports"`
	CIDR     netip.Prefix `yaml:"cidr"`
	Action   Action       `yaml:"action"`
}

// Service is a VPC endpoint service fronted by one Network Load Balancer.
type Service struct {
	ID                 string        `yaml:"id"`
	AcceptanceRequired bool          `yaml:"acceptance_required"`
	AllowedPrincipals  []string      `yaml:"allowed_principals"`
	LoadBalancer       LoadBalancer  `yaml:"load_balancer"`
	TargetGroups       []TargetGroup `yaml:"target_groups"`
	// PrivateDNSName is the provider's own name for the service
	// (api.example.com), answered for endpoints with private DNS enabled.
	PrivateDNSName         string       `yaml:"private_dns_name"`
	PrivateDNSVerification Verification `yaml:"private_dns_verification"` // "" = verified
	// AWSService makes this an AWS service's endpoint service (ssm): its
	// private name is ssm.<region>.amazonaws.com, its endpoint names carry
	// the label ssm instead of the vpce-svc ID.
	AWSService string `yaml:"aws_service"`
}

// TargetGroup returns the service's target group by name.
func (s *Service) TargetGroup(name string) *TargetGroup {
	for i := range s.TargetGroups {
		if s.TargetGroups[i].Name == name {
			return &s.TargetGroups[i]
		}
	}
	return nil
}

// Node returns the load balancer node of an AZ.
func (s *Service) Node(az string) *Node {
	for i := range s.LoadBalancer.Nodes {
		if s.LoadBalancer.Nodes[i].AZ == az {
			return &s.LoadBalancer.Nodes[i]
		}
	}
	return nil
}

// LoadBalancer is the Network Load Balancer behind a service.
type LoadBalancer struct {
	Name                             string     `yaml:"name"`
	CrossZone                        bool       `yaml:"cross_zone"`
	SecurityGroups                   []string   `yaml:"security_groups"`
	EnforceInboundRulesOnPrivateLink bool       `yaml:"enforce_inbound_rules_on_privatelink"`
	Nodes                            []Node     `yaml:"nodes"`
	Listeners                        []Listener `yaml:"listeners"`
}

// Node is one NLB node: one per enabled AZ, one static IP.
type Node struct {
	AZ     string     `yaml:"az"`
	Subnet string     `yaml:"subnet"`
	IP     netip.Addr `yaml:"ip"`
}

// Listener is a TCP listener of the load balancer.
type Listener struct {
	Port        uint16   `yaml:"port"`
	TargetGroup string   `yaml:"target_group"`
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// Placement says when the PROXY v2 header is sent to the target.
type Placement string

const (
	// PlacementFirstData sends the header with the client's first bytes (as NLB is observed to do).
	PlacementFirstData Placement = "first_data"
	// PlacementConnect sends the header right after the connection to the target is established.
	PlacementConnect Placement = "connect"
)

// TargetGroup is a set of targets and their attributes.
type TargetGroup struct {
	Name                                string      `yaml:"name"`
	Port                                uint16      `yaml:"port"`
	ProxyProtocolV2                     bool        `yaml:"proxy_protocol_v2"`
	ProxyProtocolV2Placement            Placement   `yaml:"proxy_protocol_v2_placement"`
	PortBudget                          int         `yaml:"port_budget"`
	PortReuseDelay                      Duration    `yaml:"port_reuse_delay"`
	DeregistrationDelay                 Duration    `yaml:"deregistration_delay"`
	DeregistrationConnectionTermination bool        `yaml:"deregistration_connection_termination"`
	UnhealthyConnectionTermination      bool        `yaml:"unhealthy_connection_termination"`
	HealthCheck                         HealthCheck `yaml:"health_check"`
	Targets                             []Target    `yaml:"targets"`
}

// HealthCheck is a TCP health check: success = connection established.
type HealthCheck struct {
	Enabled            bool     `yaml:"enabled"`
	Port               uint16   `yaml:"port"` // 0 = the traffic port
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthy_threshold"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold"`
}

// Builtin names an in-process target server privlink starts itself.
type Builtin string

// The built-in target server modes.
const (
	BuiltinNone   Builtin = ""
	BuiltinEcho   Builtin = "echo"
	BuiltinSink   Builtin = "sink"
	BuiltinSource Builtin = "source"
)

// Target is a registered target (IP and port). With Builtin set, privlink
// serves it in-process (echo, sink or source), as the default topology does.
type Target struct {
	IP             netip.Addr `yaml:"ip"`
	Port           uint16     `yaml:"port"` // 0 = the target group's port
	AZ             string     `yaml:"az"`   // "" = the subnet's AZ
	Subnet         string     `yaml:"subnet"`
	SecurityGroups []string   `yaml:"security_groups"`
	Builtin        Builtin    `yaml:"builtin"`
}

// AddrPort is the target's socket address.
func (t Target) AddrPort() netip.AddrPort { return netip.AddrPortFrom(t.IP, t.Port) }

// Endpoint is an interface VPC endpoint of a consumer.
type Endpoint struct {
	ID        string `yaml:"id"`
	Service   string `yaml:"service"`
	Principal string `yaml:"principal"`
	// Type, RouteTables, Policy and VpcID: gateway endpoints
	// (docs/gateway-endpoints.md).
	Type        EndpointType `yaml:"type"`
	RouteTables []string     `yaml:"route_tables"`
	Policy      Policy       `yaml:"policy"`
	VpcID       string       `yaml:"vpc_id"`
	// SecurityGroups empty means the VPC default SG semantics (inbound only
	// from members of the endpoint's own default group).
	SecurityGroups []string    `yaml:"security_groups"`
	Interfaces     []Interface `yaml:"interfaces"`
	// PrivateDNSEnabled answers the service's private DNS name with the
	// endpoint's interface IPs (needs the vpc DNS attributes).
	PrivateDNSEnabled bool `yaml:"private_dns_enabled"`
}

// Interface is an endpoint network interface in one AZ: privlink listens on
// IP:port for every listener port of the service.
type Interface struct {
	AZ     string     `yaml:"az"`
	Subnet string     `yaml:"subnet"`
	IP     netip.Addr `yaml:"ip"`
}

// Notification is a webhook that receives endpoint connection events.
type Notification struct {
	Service string   `yaml:"service"`
	URL     string   `yaml:"url"`
	Events  []string `yaml:"events"`
}
