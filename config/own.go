package config

import (
	"fmt"
	"net"
	"net/netip"
)

// OwnListener names the privlink socket a connection to ap would reach —
// an endpoint listener, the admin API, the DNS server (dns.listen, TCP as
// well as UDP), the S3 or DynamoDB gateway front (s3.listen,
// dynamodb.listen) or a built-in target server — or returns "" when ap is
// none of them. A target there would turn privlink
// into a relay to itself (a loop, or a way into its admin API), so the
// validator and runtime registration refuse it; a built-in server is a
// target only when declared with builtin.
func (c *Config) OwnListener(ap netip.AddrPort) string {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for i := range c.Endpoints {
		if what := c.endpointListener(i, ap); what != "" {
			return what
		}
	}
	for _, l := range []struct {
		on           bool
		listen, what string
	}{
		{c.Admin.Enabled(), c.Admin.Listen, "admin API (admin.listen %s)"},
		{c.DNS.Enabled(), c.DNS.Listen, "DNS server (dns.listen %s)"},
		{c.S3.Enabled(), c.S3.Listen, "S3 endpoint (s3.listen %s)"},
		{c.DynamoDB.Enabled(), c.DynamoDB.Listen, "DynamoDB endpoint (dynamodb.listen %s)"},
	} {
		if l.on && listenCovers(l.listen, ap) {
			return fmt.Sprintf(l.what, l.listen)
		}
	}
	for i, s := range c.Services {
		for j, tg := range s.TargetGroups {
			for k, t := range tg.Targets {
				if t.Builtin != BuiltinNone && t.AddrPort() == ap {
					return fmt.Sprintf("built-in %s target (services[%d].target_groups[%d].targets[%d])", t.Builtin, i, j, k)
				}
			}
		}
	}
	return ""
}

// endpointListener names endpoint i's listener at ap, or "".
func (c *Config) endpointListener(i int, ap netip.AddrPort) string {
	ep := &c.Endpoints[i]
	if ep.IsS3Interface() {
		for j, in := range ep.Interfaces {
			if in.IP.Unmap() == ap.Addr() && c.S3.InterfacePort == ap.Port() {
				return fmt.Sprintf("S3 interface endpoint (endpoints[%d].interfaces[%d] of %s)", i, j, ep.ID)
			}
		}
		return ""
	}
	for _, s := range c.Services {
		if s.ID != ep.Service {
			continue
		}
		for j, in := range ep.Interfaces {
			for _, l := range s.LoadBalancer.Listeners {
				if in.IP == ap.Addr() && l.Port == ap.Port() {
					return fmt.Sprintf("endpoint listener (endpoints[%d].interfaces[%d] of %s)", i, j, ep.ID)
				}
			}
		}
	}
	return ""
}

// listenCovers reports whether a socket listening on listen (host:port,
// the host an IP, "localhost" or empty) accepts connections to ap.
func listenCovers(listen string, ap netip.AddrPort) bool {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	var addrs []netip.Addr
	switch host {
	case "":
		addrs = []netip.Addr{netip.IPv6Unspecified()}
	case "localhost":
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	default:
		a, err := netip.ParseAddr(host)
		if err != nil {
			return false
		}
		addrs = []netip.Addr{a}
	}
	for _, a := range addrs {
		if lap, err := netip.ParseAddrPort(net.JoinHostPort(a.String(), port)); err == nil && ListenCovers(lap, ap) {
			return true
		}
	}
	return false
}

// ListenCovers reports whether a socket listening on listen accepts a
// connection to ap: the same address, or the same port on a wildcard
// address (0.0.0.0, ::) when ap is a loopback or wildcard address — the
// addresses every host has. The port 0 (not yet bound) covers nothing.
func ListenCovers(listen, ap netip.AddrPort) bool {
	l, a := listen.Addr().Unmap(), ap.Addr().Unmap()
	if listen.Port() == 0 || listen.Port() != ap.Port() {
		return false
	}
	if l.IsUnspecified() {
		return a.IsLoopback() || a.IsUnspecified()
	}
	return l == a
}

// ownTargets refuses targets at privlink's own listening sockets.
func (v *validator) ownTargets() {
	for i, s := range v.c.Services {
		for j, tg := range s.TargetGroups {
			for k, t := range tg.Targets {
				if t.Builtin != BuiltinNone || !t.IP.IsValid() || t.Port == 0 {
					continue
				}
				if what := v.c.OwnListener(t.AddrPort()); what != "" {
					v.errf(fmt.Sprintf("services[%d].target_groups[%d].targets[%d]", i, j, k),
						"%s is privlink's own %s; a target must be a server privlink does not run (or a built-in one, declared with builtin)", t.AddrPort(), what)
				}
			}
		}
	}
}
