package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/privlink/privlink/acl/iampolicy"
)

// Gateway endpoints and endpoint policies (docs/gateway-endpoints.md): the
// regional S3 endpoint, route tables with routes to a gateway endpoint,
// endpoint policies and the access keys that name principals.

// EndpointType is an endpoint's type: interface (PrivateLink, the default)
// or gateway (S3 through a route table).
type EndpointType string

// The endpoint types.
const (
	EndpointInterface EndpointType = "interface"
	EndpointGateway   EndpointType = "gateway"
)

// UnmarshalText accepts interface or gateway.
func (t *EndpointType) UnmarshalText(b []byte) error {
	switch s := EndpointType(b); s {
	case EndpointInterface, EndpointGateway:
		*t = s
		return nil
	}
	return fmt.Errorf("endpoint type %q is not interface or gateway", b)
}

// IsGateway reports whether the endpoint is a gateway endpoint.
func (e *Endpoint) IsGateway() bool { return e.Type == EndpointGateway }

// IsS3Interface reports whether the endpoint is an interface endpoint for
// S3 (AWS PrivateLink for S3): interfaces and security groups like any
// interface endpoint, an endpoint policy like a gateway endpoint, served
// by the S3 front on each interface IP at s3.interface_port.
func (e *Endpoint) IsS3Interface() bool {
	return !e.IsGateway() && isAWSService(e.Service) && strings.HasSuffix(e.Service, ".s3")
}

// ForAWSService reports whether the endpoint leads to an AWS service
// privlink serves itself (a gateway endpoint, an S3 interface endpoint)
// rather than to the endpoint service of a Network Load Balancer.
func (e *Endpoint) ForAWSService() bool { return e.IsGateway() || e.IsS3Interface() }

// S3 is the regional S3 endpoint that subnets reach through their gateway
// endpoint: privlink listens on Listen and forwards the requests an
// endpoint policy allows to Backend.
type S3 struct {
	// Listen is ip:port, "" or "off" for none.
	Listen string `yaml:"listen"`
	// Backend is "embedded" (an in-memory S3, the default) or the URL of an
	// S3-compatible server (http://127.0.0.1:9000 for MinIO or LocalStack).
	Backend string `yaml:"backend"`
	// Buckets are created in the embedded backend at start.
	Buckets []string `yaml:"buckets"`
	// InterfacePort is the port S3 interface endpoints listen on at each
	// of their interface IPs (plain HTTP; AWS: 80, the default).
	InterfacePort uint16 `yaml:"interface_port"`
}

// DefaultS3InterfacePort is S3's plain-HTTP port at an interface endpoint.
const DefaultS3InterfacePort = 80

// BackendEmbedded is the S3.Backend value of the in-memory S3.
const BackendEmbedded = "embedded"

// Enabled reports whether privlink serves the S3 endpoint.
func (s S3) Enabled() bool { return s.Listen != "" && s.Listen != "off" }

// S3InterfaceService is the stand-in service of S3 interface endpoints in
// the rules: no load balancer, one listener on s3.interface_port.
func (c *Config) S3InterfaceService() *Service {
	return &Service{ID: S3Service(c.Region), AWSService: "s3", AllowedPrincipals: []string{"*"},
		LoadBalancer: LoadBalancer{Name: "S3", Listeners: []Listener{{Port: c.S3.InterfacePort}}}}
}

// S3InterfaceAddrs are the addresses S3 interface endpoints listen on, in
// configuration order.
func (c *Config) S3InterfaceAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for i := range c.Endpoints {
		if e := &c.Endpoints[i]; e.IsS3Interface() {
			for _, in := range e.Interfaces {
				out = append(out, netip.AddrPortFrom(in.IP.Unmap(), c.S3.InterfacePort))
			}
		}
	}
	return out
}

// Embedded reports whether the backend is the in-memory S3.
func (s S3) Embedded() bool { return s.Backend == "" || s.Backend == BackendEmbedded }

// Addr is the listening address (valid once the configuration validated).
func (s S3) Addr() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(s.Listen)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// RouteTable is a VPC route table: the subnets associated with it and its
// routes to gateway endpoints.
type RouteTable struct {
	ID string `yaml:"id"`
	// Main makes it the route table of every subnet without an explicit
	// association (AWS: the VPC's main route table).
	Main    bool     `yaml:"main"`
	Subnets []string `yaml:"subnets"`
	Routes  []Route  `yaml:"routes"`
}

// Route sends a prefix list's destinations to a gateway endpoint.
type Route struct {
	// PrefixList is s3, the service name or the pl- ID; the validator
	// normalises it to the pl- ID.
	PrefixList      string `yaml:"prefix_list"`
	GatewayEndpoint string `yaml:"gateway_endpoint"`
}

// Route returns the table's route for a prefix list ID, or nil.
func (rt *RouteTable) Route(prefixList string) *Route {
	for i := range rt.Routes {
		if rt.Routes[i].PrefixList == prefixList {
			return &rt.Routes[i]
		}
	}
	return nil
}

// RouteTableOf returns a subnet's route table: the one it is associated
// with, else the main one, else nil.
func (c *Config) RouteTableOf(subnet string) *RouteTable {
	var main *RouteTable
	for i := range c.RouteTables {
		rt := &c.RouteTables[i]
		for _, s := range rt.Subnets {
			if s == subnet {
				return rt
			}
		}
		if rt.Main {
			main = rt
		}
	}
	return main
}

// S3Service is the service name of S3 in a region (the gateway endpoint's
// service and the prefix list's name).
func S3Service(region string) string { return "com.amazonaws." + region + ".s3" }

// s3PrefixLists are AWS's prefix list IDs of S3 where privlink knows them.
var s3PrefixLists = map[string]string{
	"us-east-1": "pl-63a5400a",
	"us-east-2": "pl-7ba54012",
	"us-west-2": "pl-68a54001",
}

// S3PrefixList returns the ID of S3's prefix list in a region: AWS's ID
// where privlink knows it, else a stable pl- ID derived from the region.
func S3PrefixList(region string) string {
	if id, ok := s3PrefixLists[region]; ok {
		return id
	}
	return derivedPrefixList(S3Service(region))
}

// derivedPrefixList is the stable pl- ID privlink gives a service's
// prefix list in a region whose AWS ID it does not know.
func derivedPrefixList(service string) string {
	h := sha256.Sum256([]byte(service))
	return "pl-" + hex.EncodeToString(h[:4])
}

// DefaultVPCID is the VPC ID of endpoints that give none: stable per
// account and region.
func DefaultVPCID(account, region string) string {
	h := sha256.Sum256([]byte("vpc\x00" + account + "\x00" + region))
	return "vpc-" + hex.EncodeToString(h[:9])[:17]
}

// Peer returns what an SG rule admits when it names no CIDR: a security
// group or a prefix list ID.
func (r SGRule) Peer() string {
	if r.DestinationPrefixList != "" {
		return r.DestinationPrefixList
	}
	return r.Group()
}

// PrefixLists maps each prefix list ID to its CIDRs: S3's holds the S3
// endpoint's address, DynamoDB's the DynamoDB endpoint's.
func (c *Config) PrefixLists() map[string][]netip.Prefix {
	m := map[string][]netip.Prefix{S3PrefixList(c.Region): nil, DynamoDBPrefixList(c.Region): nil}
	if c.S3.Enabled() {
		a := c.S3.Addr().Addr()
		m[S3PrefixList(c.Region)] = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
	}
	if c.DynamoDB.Enabled() {
		a := c.DynamoDB.Addr().Addr()
		m[DynamoDBPrefixList(c.Region)] = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
	}
	return m
}

// nodeDecoder is implemented by values that decode themselves from the
// YAML node (an IAM policy, a map of access keys).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// Policy is an endpoint policy: written inline as YAML, as a JSON string,
// or as the path of a JSON or YAML file (relative to the configuration).
type Policy struct {
	// Policy is nil when no policy was given: AWS's default, full access.
	*iampolicy.Policy
	// File is the file the policy was read from ("" when inline).
	File string
}

// Effective returns the policy in force: the given one, or full access.
func (p Policy) Effective() *iampolicy.Policy {
	if p.Policy == nil {
		return iampolicy.FullAccess()
	}
	return p.Policy
}

func (p *Policy) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch {
	case n.Tag == "!!null":
		return
	case n.Kind == yaml.MappingNode:
		pol, err := iampolicy.ParseNode(n)
		p.Policy = pol
		d.policyErrors(err, d.file, 0, path)
	case n.Kind != yaml.ScalarNode:
		d.errorf(n, path, "expected the policy (a mapping, a JSON string or a file path), got a %s", kindName(n))
	case strings.HasPrefix(strings.TrimSpace(n.Value), "{"):
		pol, err := iampolicy.Parse([]byte(n.Value))
		p.Policy = pol
		offset := n.Line - 1
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			offset = n.Line
		}
		d.policyErrors(err, d.file, offset, path)
	default:
		p.decodeFile(d, n, path)
	}
}

func (p *Policy) decodeFile(d *decoder, n *yaml.Node, path string) {
	file := n.Value
	if !filepath.IsAbs(file) && d.file != EmbeddedName {
		file = filepath.Join(filepath.Dir(d.file), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		d.errorf(n, path, "policy file %s cannot be read: %v (inline policies start with '{' or are a mapping)", file, unwrapPath(err))
		return
	}
	pol, err := iampolicy.Parse(data)
	p.Policy, p.File = pol, file
	d.policyErrors(err, file, 0, path)
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// policyErrors adds a policy's errors, located in file at their line plus
// offset (a file of its own, or the configuration).
func (d *decoder) policyErrors(err error, file string, offset int, path string) {
	es, ok := err.(iampolicy.Errors)
	if err != nil && !ok {
		es = iampolicy.Errors{{Msg: err.Error()}}
	}
	for _, e := range es {
		line := e.Line
		if line > 0 {
			line += offset
		}
		d.errs = append(d.errs, Error{File: file, Line: line, Path: join(path, e.Path), Msg: e.Msg})
	}
}

// Principals maps an access key ID to the IAM ARN of its principal
// (requests signed with a key not listed are anonymous).
type Principals map[string]string

var (
	accessKeyRE    = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	principalARNRE = regexp.MustCompile(`^arn:aws:(iam::[0-9]{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)|sts::[0-9]{12}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+)$`)
)

func (p *Principals) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of access key IDs to principal ARNs, got a %s", kindName(n))
		return
	}
	*p = Principals{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		d.lines[kp] = k.Line
		switch {
		case !accessKeyRE.MatchString(k.Value):
			d.errorf(k, kp, "%q is not an access key ID (16 or more upper-case letters and digits, e.g. AKIAIOSFODNN7EXAMPLE)", k.Value)
		case (*p)[k.Value] != "":
			d.errorf(k, kp, "access key given twice")
		case v.Kind != yaml.ScalarNode || !principalARNRE.MatchString(v.Value):
			d.errorf(v, kp, "expected an IAM ARN (arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), got %q", v.Value)
		default:
			(*p)[k.Value] = v.Value
		}
	}
}
