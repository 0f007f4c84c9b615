package dns

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/privlink/privlink/config"
)

// VPCEZone is the public zone of every endpoint-specific name; privlink
// owns all of it: a name there that no endpoint has is NXDOMAIN.
const VPCEZone = "vpce.amazonaws.com"

// Kind says which of an endpoint's names a record is.
type Kind uint8

// The kinds of endpoint names, in AWS's DnsEntries order.
const (
	Regional Kind = iota
	Zonal
	Private
)

func (k Kind) String() string {
	switch k {
	case Regional:
		return "regional"
	case Zonal:
		return "zonal"
	case Private:
		return "private"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Record is the A record set of one name.
type Record struct {
	Name     string // lower case, without the final dot
	Kind     Kind
	Endpoint string
	Service  string
	AZ       string       // the AZ ID of a zonal name
	Addrs    []netip.Addr // interface IPs, in configuration order
	AZs      []string     // the AZ ID of each address
	zone     string       // the zone it belongs to (VPCEZone or the private name)
}

// Entry is one of an endpoint's DnsEntries, as AWS's API lists them.
type Entry struct {
	DNSName      string `json:"dns_name"`
	HostedZoneID string `json:"hosted_zone_id"`
}

// Zone is every name of one configuration generation; it is immutable.
type Zone struct {
	records []*Record          // in DnsEntries order, endpoint by endpoint
	byName  map[string]*Record // lower-case name without the final dot
	zones   []string           // owned zones: VPCEZone and each private name
	entries map[string][]Entry // endpoint ID → DnsEntries
	ttl     uint32
}

// Compile computes the names of every endpoint of a validated configuration.
func Compile(cfg *config.Config) *Zone {
	z := &Zone{byName: map[string]*Record{}, zones: []string{VPCEZone}, entries: map[string][]Entry{}, ttl: ttlSeconds(cfg.DNS.TTL.D())}
	svcs := map[string]*config.Service{}
	for i := range cfg.Services {
		svcs[cfg.Services[i].ID] = &cfg.Services[i]
	}
	for i := range cfg.Endpoints {
		ep := &cfg.Endpoints[i]
		if svc := svcs[ep.Service]; svc != nil {
			z.addEndpoint(cfg, ep, svc)
		}
	}
	return z
}

func ttlSeconds(d time.Duration) uint32 {
	return uint32(min(d, (1<<31-1)*time.Second) / time.Second)
}

func (z *Zone) addEndpoint(cfg *config.Config, ep *config.Endpoint, svc *config.Service) {
	base := RegionalName(cfg.Region, ep.ID, svc)
	regional := &Record{Name: base, Kind: Regional, Endpoint: ep.ID, Service: svc.ID, zone: VPCEZone}
	recs := []*Record{regional}
	for _, in := range ep.Interfaces {
		regional.Addrs = append(regional.Addrs, in.IP)
		regional.AZs = append(regional.AZs, in.AZ)
		name := ZonalName(cfg.Region, ep.ID, svc, azName(cfg, in))
		recs = append(recs, &Record{Name: name, Kind: Zonal, Endpoint: ep.ID, Service: svc.ID, AZ: in.AZ,
			Addrs: []netip.Addr{in.IP}, AZs: []string{in.AZ}, zone: VPCEZone})
	}
	if name := privateName(cfg, ep, svc); name != "" && z.byName[name] == nil {
		recs = append(recs, &Record{Name: name, Kind: Private, Endpoint: ep.ID, Service: svc.ID,
			Addrs: regional.Addrs, AZs: regional.AZs, zone: name})
		z.zones = append(z.zones, name)
	}
	for _, r := range recs {
		z.records = append(z.records, r)
		z.byName[r.Name] = r
		z.entries[ep.ID] = append(z.entries[ep.ID], Entry{DNSName: r.Name, HostedZoneID: hostedZone(cfg.Region, r)})
	}
}

// azName is the AZ name of an interface: its subnet's az_name (filled in
// by validation), else derived from the AZ ID, else the AZ ID itself.
func azName(cfg *config.Config, in config.Interface) string {
	if s := cfg.Subnet(in.Subnet); s != nil && s.AZName != "" {
		return s.AZName
	}
	if name, ok := config.AZName(cfg.Region, in.AZ); ok {
		return name
	}
	return strings.ToLower(in.AZ)
}

// privateName is the service's private name when the endpoint answers it:
// private DNS enabled, the name verified, and the VPC's DNS attributes on.
func privateName(cfg *config.Config, ep *config.Endpoint, svc *config.Service) string {
	verified := svc.PrivateDNSVerification == "" || svc.PrivateDNSVerification == config.Verified
	if !ep.PrivateDNSEnabled || !verified || !cfg.VPC.PrivateDNS() {
		return ""
	}
	return strings.TrimSuffix(svc.PrivateName(cfg.Region), ".")
}

// label is the service's part of its endpoints' names: the vpce-svc ID, or
// the AWS service's label.
func label(svc *config.Service) string {
	if svc.AWSService != "" {
		return svc.AWSService
	}
	return svc.ID
}

// RegionalName is an endpoint's regional DNS name.
func RegionalName(region, endpointID string, svc *config.Service) string {
	return fmt.Sprintf("%s-%s.%s.%s.%s", endpointID, Suffix(endpointID), label(svc), region, VPCEZone)
}

// ZonalName is an endpoint's DNS name in the AZ named azName (us-east-1a).
func ZonalName(region, endpointID string, svc *config.Service, azName string) string {
	return fmt.Sprintf("%s-%s-%s.%s.%s.%s", endpointID, Suffix(endpointID), azName, label(svc), region, VPCEZone)
}

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// Suffix is the 8-character token of an endpoint's names. AWS's is an
// undocumented random token fixed per endpoint; privlink's is derived from
// the endpoint ID, so it is the same on every run.
func Suffix(endpointID string) string { return token(endpointID, 8, base36) }

func token(seed string, n int, alphabet string) string {
	sum := sha256.Sum256([]byte("privlink dns " + seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

// hostedZone is the Route 53 hosted zone of a record: the region's public
// vpce zone, or for a private name the endpoint's hidden private hosted
// zone (an ID privlink derives from the endpoint ID).
func hostedZone(region string, r *Record) string {
	if r.Kind == Private {
		return "Z0" + token("phz "+r.Endpoint, 19, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	}
	return HostedZoneID(region)
}

// HostedZoneID is the hosted zone of the endpoint-specific names in a
// region ("" for a region privlink does not know).
func HostedZoneID(region string) string { return vpceHostedZones[region] }

// vpceHostedZones are the Route 53 zones of <region>.vpce.amazonaws.com.
var vpceHostedZones = map[string]string{
	"af-south-1": "Z09302161J80N9A7UTP7U", "ap-east-1": "Z2LIHJ7PKBEMWN",
	"ap-northeast-1": "Z2E726K9Y6RL4W", "ap-northeast-2": "Z27UANNT0PRK1T",
	"ap-northeast-3": "Z376B5OMM2JZL2", "ap-south-1": "Z2KVTB3ZLFM7JR",
	"ap-south-2": "Z0952991RWSF5AHIQDIY", "ap-southeast-1": "Z18LLCSTV4NVNL",
	"ap-southeast-2": "ZDK2GCRPAFKGO", "ap-southeast-3": "Z03881013RZ9BYYZO8N5W",
	"ap-southeast-4": "Z07508191CO1RNBX3X3AU", "ca-central-1": "ZRCXCF510Y6P9",
	"eu-central-1": "Z273ZU8SZ5RJPC", "eu-central-2": "Z045369019J4FUQ4S272E",
	"eu-north-1": "Z3OWWK6JFDEDGC", "eu-south-1": "Z2A5FDNRLY7KZG",
	"eu-south-2": "Z014396544HENR57XQCJ", "eu-west-1": "Z38GZ743OKFT7T",
	"eu-west-2": "Z7K1066E3PUKB", "eu-west-3": "Z1DWHTMFP0WECP",
	"me-central-1": "Z07122992YCEUCB9A9570", "me-south-1": "Z3B95P3VBGEQGY",
	"sa-east-1": "Z2LXUWEVLCVZIB", "us-east-1": "Z7HUB22UULQXV",
	"us-east-2": "ZC8PG0KIFKBRI", "us-gov-east-1": "Z2MU5TEIGO9WXB",
	"us-gov-west-1": "Z12529ZODG2B6H", "us-west-1": "Z12I86A8N7VCZO",
	"us-west-2": "Z1YSA3EXCYUU9Z",
}

// Entries are an endpoint's DnsEntries: regional, zonal per AZ, then the
// private name when it is answered.
func (z *Zone) Entries(endpointID string) []Entry { return z.entries[endpointID] }

// Records lists every record, endpoint by endpoint in DnsEntries order.
func (z *Zone) Records() []*Record { return z.records }

// TTL is the TTL of the zone's answers, in seconds.
func (z *Zone) TTL() uint32 { return z.ttl }

// Lookup finds a name (any case, with or without the final dot). owned
// reports whether the name is inside one of privlink's zones, so that a
// missing record is NXDOMAIN rather than a question for the upstream.
func (z *Zone) Lookup(name string) (r *Record, zone string, owned bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if r := z.byName[name]; r != nil {
		return r, r.zone, true
	}
	for _, zn := range z.zones {
		if name == zn || strings.HasSuffix(name, "."+zn) {
			return nil, zn, true
		}
	}
	return nil, "", false
}
