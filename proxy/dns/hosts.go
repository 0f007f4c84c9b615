package dns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

// WriteHosts writes an /etc/hosts block of every name in z: one line per
// interface IP with every name that answers it (its zonal name, its
// endpoint's regional name and private name).
func WriteHosts(w io.Writer, z *Zone) error {
	var order []netip.Addr
	names := map[netip.Addr][]string{}
	for _, r := range z.Records() {
		for _, a := range r.Addrs {
			if names[a] == nil {
				order = append(order, a)
			}
			names[a] = append(names[a], r.Name)
		}
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# BEGIN privlink endpoint DNS names")
	for _, a := range order {
		fmt.Fprintf(bw, "%-15s %s\n", a, strings.Join(names[a], " "))
	}
	fmt.Fprintln(bw, "# END privlink endpoint DNS names")
	return bw.Flush()
}

// ErrUnknownName is returned by Resolve for a name no endpoint answers.
var ErrUnknownName = errors.New("dns: not a name of an endpoint")

// Resolve finds the record of name in cfg, offline. When no endpoint
// answers the name, the error says why (a private name whose endpoint has
// private DNS off, an unknown endpoint name, a name outside privlink's zones).
func Resolve(cfg *config.Config, name string) (*Record, error) {
	z := Compile(cfg)
	r, _, owned := z.Lookup(name)
	if r != nil {
		return r, nil
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if why := privateNameProblem(cfg, name); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnknownName, why)
	}
	if owned {
		return nil, fmt.Errorf("%w: no endpoint has the name %s (privlink answers NXDOMAIN); names: %s", ErrUnknownName, name, strings.Join(regionalNames(z), ", "))
	}
	return nil, fmt.Errorf("%w: %s is outside privlink's zones (it is forwarded to the upstream resolver); endpoint names: %s", ErrUnknownName, name, strings.Join(regionalNames(z), ", "))
}

// ExplainTo points an explain query at the endpoint a DNS name
// (NAME[:PORT]) resolves to in cfg: a zonal name limits it to that AZ, a
// port given with the name sets the listener port. Errors other than
// ErrUnknownName are malformed input.
func ExplainTo(cfg *config.Config, q acl.Query, to string) (acl.Query, error) {
	name := to
	if host, port, err := net.SplitHostPort(to); err == nil {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return q, fmt.Errorf("%q has no valid port after the name", to)
		}
		if q.Port != 0 && q.Port != uint16(p) {
			return q, fmt.Errorf("%s and port %d disagree on the port", to, q.Port)
		}
		name, q.Port = host, uint16(p)
	}
	r, err := Resolve(cfg, name)
	if err != nil {
		return q, err
	}
	q.Endpoint = r.Endpoint
	if r.Kind == Zonal {
		q.AZ = r.AZ
	}
	return q, nil
}

// privateNameProblem explains why a service's private name is not answered.
func privateNameProblem(cfg *config.Config, name string) string {
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		if svc.PrivateName(cfg.Region) != name {
			continue
		}
		if !cfg.VPC.PrivateDNS() {
			return fmt.Sprintf("%s is the private DNS name of %s, but vpc.enable_dns_support and vpc.enable_dns_hostnames are not both true, so it resolves publicly", name, svc.ID)
		}
		return fmt.Sprintf("%s is the private DNS name of %s, but no endpoint of it has private_dns_enabled: true, so it resolves publicly, not to an endpoint", name, svc.ID)
	}
	return ""
}

func regionalNames(z *Zone) []string {
	var out []string
	for _, r := range z.Records() {
		if r.Kind == Regional {
			out = append(out, r.Name)
		}
	}
	return out
}
