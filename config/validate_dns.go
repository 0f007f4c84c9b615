package config

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dns checks the DNS keys: the DNS server, the AZ names in endpoint
// names, the services' private DNS names and the endpoints that enable
// them (with AWS's CreateVpcEndpoint errors).
func (v *validator) dns() {
	v.dnsServer()
	v.azNames()
	svcPaths := map[string]string{}
	for i := range v.c.Services {
		p := idx("", "services", i)
		svcPaths[v.c.Services[i].ID] = p
		v.servicePrivateDNS(p, &v.c.Services[i])
	}
	owners := map[string]string{} // private name → the endpoint path that enables it
	for i := range v.c.Endpoints {
		v.endpointPrivateDNS(idx("", "endpoints", i), &v.c.Endpoints[i], svcPaths, owners)
	}
}

// maxTTL is the largest TTL DNS allows (RFC 2181: 2^31-1 seconds).
const maxTTL = (1<<31 - 1) * time.Second

func (v *validator) dnsServer() {
	d := &v.c.DNS
	var listen netip.AddrPort
	if d.Enabled() {
		listen = v.dnsListen(d.Listen)
	}
	switch d.Upstream {
	case UpstreamSystem, UpstreamOff:
	default:
		ap, err := UpstreamAddr(d.Upstream)
		switch {
		case err != nil:
			v.errf("dns.upstream", "%v", err)
		case ap.Port() == 0:
			v.errf("dns.upstream", "port 0 is not a resolver's port")
		case ap == listen:
			v.errf("dns.upstream", "%s is privlink's own dns.listen: queries would loop", ap)
		}
	}
	if d.TTL.D() > maxTTL {
		v.errf("dns.ttl", "%s is above DNS's maximum TTL of 2147483647s", secs(d.TTL.D()))
	}
}

// dnsListen checks dns.listen and records its socket; it returns the
// address when it is an IP:PORT.
func (v *validator) dnsListen(listen string) netip.AddrPort {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		v.errf("dns.listen", "must be host:port or \"off\", got %q", listen)
		return netip.AddrPort{}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.errf("dns.listen", "port %q is out of range 0-65535", port)
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return netip.AddrPort{}
	}
	v.socket("dns.listen", ap, "DNS server")
	return ap
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// azNames fills subnets[].az_name from the AZ ID where it is omitted, and
// requires it where an endpoint interface needs it and it cannot be derived.
func (v *validator) azNames() {
	hostsInterface := map[string]bool{}
	for _, e := range v.c.Endpoints {
		for _, in := range e.Interfaces {
			hostsInterface[in.Subnet] = true
		}
	}
	named := map[string]*Subnet{} // AZ ID → the first subnet that names it
	for i := range v.c.Subnets {
		s, p := &v.c.Subnets[i], idx("", "subnets", i)
		if s.AZName != "" {
			if !dnsLabelRE.MatchString(s.AZName) {
				v.errf(p+".az_name", "%q is not a DNS label (lowercase letters, digits and -, e.g. us-east-1a)", s.AZName)
				continue
			}
		} else if name, ok := AZName(v.c.Region, s.AZ); ok {
			s.AZName = name
		} else {
			if hostsInterface[s.ID] && s.AZ != "" {
				v.errf(p+".az", "%q is not an AZ ID of region %s (like %s-az1), so the AZ name of its endpoint DNS names cannot be derived: give az_name (e.g. %sa)",
					s.AZ, v.c.Region, RegionCode(v.c.Region), v.c.Region)
			}
			continue
		}
		if o := named[s.AZ]; o != nil && o.AZName != s.AZName {
			v.errf(p+".az_name", "%s is named %s by subnet %s: one AZ has one name", s.AZ, o.AZName, o.ID)
		} else if o == nil {
			named[s.AZ] = s
		}
	}
}

var (
	awsServiceRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	hostnameRE   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func (v *validator) servicePrivateDNS(path string, s *Service) {
	if s.AWSService != "" && !awsServiceRE.MatchString(s.AWSService) {
		v.errf(path+".aws_service", "%q is not an AWS service label such as ssm, ssmmessages, ec2 or sts", s.AWSService)
	}
	switch {
	case s.AWSService != "" && s.PrivateDNSName != "":
		v.errf(path+".private_dns_name", "give either aws_service (the AWS service's own name) or private_dns_name, not both")
	case s.PrivateDNSName != "":
		v.privateDNSName(path+".private_dns_name", s)
	}
	if s.PrivateDNSVerification == "" || s.AWSService != "" {
		s.PrivateDNSVerification = Verified // AWS owns the names of its services
	}
}

func (v *validator) privateDNSName(path string, s *Service) {
	name := strings.ToLower(strings.TrimSuffix(s.PrivateDNSName, "."))
	switch {
	case len(name) > 253 || !hostnameRE.MatchString(name):
		v.errf(path, "%q is not a DNS name of two or more labels (letters, digits and -)", s.PrivateDNSName)
	case name == "vpce.amazonaws.com" || strings.HasSuffix(name, ".vpce.amazonaws.com"):
		v.errf(path, "%s is inside vpce.amazonaws.com, where AWS (and privlink) keep the endpoint-specific names", name)
	default:
		s.PrivateDNSName = name
	}
}

// endpointPrivateDNS checks private_dns_enabled as CreateVpcEndpoint does.
func (v *validator) endpointPrivateDNS(path string, e *Endpoint, svcPaths, owners map[string]string) {
	s := v.svcs[e.Service]
	if !e.PrivateDNSEnabled || s == nil {
		return
	}
	key := path + ".private_dns_enabled"
	name := s.PrivateName(v.c.Region)
	switch {
	case name == "":
		v.errf(key, "InvalidParameter: Private DNS can't be enabled because the service %s does not provide a private DNS name (give %s.private_dns_name, or set private_dns_enabled: false)",
			s.ServiceName(v.c.Region), svcPaths[s.ID])
	case s.PrivateDNSVerification != Verified:
		v.errf(key, "private DNS can't be enabled: the private DNS name %s of service %s is %s, and only a verified name can be enabled (set %s.private_dns_verification: verified once the provider's TXT record is in place)",
			name, s.ID, s.PrivateDNSVerification, svcPaths[s.ID])
	case !v.c.VPC.PrivateDNS():
		v.errf(key, "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true: set vpc.enable_dns_support and vpc.enable_dns_hostnames to true (now %t and %t)",
			v.c.VPC.EnableDNSSupport, v.c.VPC.EnableDNSHostnames)
	case owners[name] != "":
		v.errf(key, "InvalidParameter: private-dns-enabled cannot be set because there is already a conflicting DNS domain for %s in the VPC (%s enables it)", name, owners[name])
	default:
		owners[name] = path
	}
}
