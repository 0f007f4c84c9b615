package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DNS configures privlink's DNS server (docs/dns.md): the names of every
// endpoint, answered the way the VPC's resolver answers them in AWS.
type DNS struct {
	// Listen is host:port for UDP and TCP, or "off" to disable the server.
	Listen string `yaml:"listen"`
	// Upstream receives the queries for names outside privlink's zones:
	// "system" (the nameservers of /etc/resolv.conf), "off" (REFUSED), or
	// the IP[:PORT] of a resolver.
	Upstream string `yaml:"upstream"`
	// TTL of privlink's answers (AWS's endpoint records: 60s).
	TTL Duration `yaml:"ttl"`
}

// DNS defaults. The endpoint records' TTL is AWS's.
const (
	DefaultDNSListen   = "127.0.0.1:8053"
	DefaultDNSUpstream = UpstreamSystem
	DefaultDNSTTL      = 60 * time.Second
)

// Upstream modes of dns.upstream.
const (
	UpstreamSystem = "system"
	UpstreamOff    = "off"
)

// Enabled reports whether the DNS server should run.
func (d DNS) Enabled() bool { return d.Listen != "" && d.Listen != "off" }

// UpstreamAddr parses an upstream resolver address: IP or IP:PORT (port 53
// when omitted). It fails for "system" and "off".
func UpstreamAddr(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%q is not system, off, IP or IP:PORT", s)
}

// VPC holds the DNS attributes of the consumer VPC. Private DNS names of
// endpoints resolve only while both are true (AWS's defaults).
type VPC struct {
	EnableDNSSupport   bool `yaml:"enable_dns_support"`
	EnableDNSHostnames bool `yaml:"enable_dns_hostnames"`
}

// PrivateDNS reports whether the VPC's resolver answers private hosted zones.
func (v VPC) PrivateDNS() bool { return v.EnableDNSSupport && v.EnableDNSHostnames }

// Verification is the state of an endpoint service's private DNS name.
type Verification string

// Verification states of a private DNS name, as AWS reports them
// (pendingVerification, verified, failed); only a verified name can be enabled.
const (
	Verified            Verification = "verified"
	PendingVerification Verification = "pendingVerification"
	VerificationFailed  Verification = "failed"
)

// UnmarshalText accepts verified, pendingVerification or failed.
func (v *Verification) UnmarshalText(b []byte) error {
	switch s := Verification(b); s {
	case Verified, PendingVerification, VerificationFailed:
		*v = s
		return nil
	}
	return fmt.Errorf("invalid private_dns_verification %q (use verified, pendingVerification or failed)", b)
}

func (c *Config) setDNSDefaults() {
	c.DNS = DNS{Listen: DefaultDNSListen, Upstream: DefaultDNSUpstream, TTL: Duration(DefaultDNSTTL)}
	c.VPC = VPC{EnableDNSSupport: true, EnableDNSHostnames: true}
}

// PrivateName returns the service's private DNS name in region: the AWS
// service's public name (ssm.us-east-1.amazonaws.com) or the provider's
// private_dns_name; "" when it has none.
func (s *Service) PrivateName(region string) string {
	if s.AWSService != "" {
		return s.AWSService + "." + region + ".amazonaws.com"
	}
	return strings.ToLower(s.PrivateDNSName)
}

// ServiceName is the name consumers create endpoints with:
// com.amazonaws.<region>.<service> for AWS services,
// com.amazonaws.vpce.<region>.<vpce-svc-id> for endpoint services.
func (s *Service) ServiceName(region string) string {
	if s.AWSService != "" {
		return "com.amazonaws." + region + "." + s.AWSService
	}
	return "com.amazonaws.vpce." + region + "." + s.ID
}

// Subnet returns the subnet with the given ID, or nil.
func (c *Config) Subnet(id string) *Subnet {
	for i := range c.Subnets {
		if c.Subnets[i].ID == id {
			return &c.Subnets[i]
		}
	}
	return nil
}

var azIDRE = regexp.MustCompile(`^([a-z]+[0-9]+)-az([0-9]+)$`)

// AZName derives an AZ name from an AZ ID of region: use1-az1 → us-east-1a,
// use1-az2 → us-east-1b. (In AWS the mapping differs per account; privlink
// fixes the obvious one, and subnets[].az_name overrides it.) It reports
// false when the ID is not one of the region's.
func AZName(region, azID string) (string, bool) {
	m := azIDRE.FindStringSubmatch(azID)
	if m == nil || m[1] != RegionCode(region) {
		return "", false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n < 1 || n > 26 {
		return "", false
	}
	return region + string(rune('a'+n-1)), true
}

var regionRE = regexp.MustCompile(`^([a-z]+)-([a-z]+)-([0-9]+)$`)

var directionCodes = map[string]string{
	"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}

// RegionCode is the prefix of a region's AZ IDs: us-east-1 → use1,
// ap-southeast-2 → apse2, eu-central-1 → euc1; "" when unknown.
func RegionCode(region string) string {
	m := regionRE.FindStringSubmatch(region)
	if m == nil {
		return ""
	}
	dir, ok := directionCodes[m[2]]
	if !ok {
		return ""
	}
	return m[1] + dir + m[3]
}
