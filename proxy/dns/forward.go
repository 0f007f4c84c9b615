package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
)

// upstream is where names outside privlink's zones are asked.
type upstream struct {
	spec    string   // system, off or IP[:PORT]
	servers []string // ip:port, in order
	problem string   // why there is no server (system mode), for the log
}

// SetUpstream changes where other names are forwarded: "system" (the
// nameservers of Options.ResolvConf, read now), "off" (REFUSED) or a
// resolver's IP[:PORT].
func (s *Server) SetUpstream(spec string) error {
	up := &upstream{spec: spec}
	switch spec {
	case config.UpstreamOff, "":
		up.spec = config.UpstreamOff
	case config.UpstreamSystem:
		up.servers, up.problem = systemServers(s.opts.ResolvConf)
	default:
		ap, err := config.UpstreamAddr(spec)
		if err != nil {
			return fmt.Errorf("dns: upstream: %w", err)
		}
		up.servers = []string{ap.String()}
	}
	up.servers = s.withoutSelf(up.servers)
	if up.spec == config.UpstreamSystem && len(up.servers) == 0 && up.problem == "" {
		up.problem = "no nameserver in " + s.opts.ResolvConf + " other than privlink itself"
	}
	if up.problem != "" {
		s.log.Warn("DNS: names outside privlink's zones will get SERVFAIL", zap.String("upstream", spec), zap.String("reason", up.problem))
	}
	s.up.Store(up)
	return nil
}

// dropSelf removes the server's own address, now known, from the upstreams.
func (s *Server) dropSelf() {
	up := *s.up.Load()
	n := len(up.servers)
	if up.servers = s.withoutSelf(up.servers); len(up.servers) == 0 && n > 0 {
		up.problem = "the only nameserver is privlink itself"
		s.log.Warn("DNS: names outside privlink's zones will get SERVFAIL", zap.String("upstream", up.spec), zap.String("reason", up.problem))
	}
	s.up.Store(&up)
}

// systemServers reads the nameservers of a resolv.conf file.
func systemServers(path string) (servers []string, problem string) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read the system resolver: %v", err)
	}
	for _, h := range cc.Servers {
		servers = append(servers, net.JoinHostPort(h, cc.Port))
	}
	if len(servers) == 0 {
		return nil, "no nameserver in " + path
	}
	return servers, ""
}

// withoutSelf drops privlink's own address from servers: forwarding to
// itself would loop.
func (s *Server) withoutSelf(servers []string) []string {
	self := s.Addr()
	out := servers[:0:0]
	for _, sv := range servers {
		ap, err := netip.ParseAddrPort(sv)
		if err == nil && self.IsValid() && ap.Port() == self.Port() &&
			(ap.Addr() == self.Addr() || self.Addr().IsUnspecified() && ap.Addr().IsLoopback()) {
			continue
		}
		out = append(out, sv)
	}
	return out
}

// forward asks the upstream servers in turn, over the client's transport.
func (s *Server) forward(ctx context.Context, req *mdns.Msg, tcp bool) *mdns.Msg {
	up := s.up.Load()
	if up.spec == config.UpstreamOff {
		return fail(req, mdns.RcodeRefused)
	}
	if len(up.servers) == 0 {
		return fail(req, mdns.RcodeServerFailure)
	}
	select {
	case s.fwd <- struct{}{}:
		defer func() { <-s.fwd }()
	default:
		s.log.Warn("DNS: too many queries forwarded at once; answering SERVFAIL", zap.Int("max_forwards", cap(s.fwd)))
		return fail(req, mdns.RcodeServerFailure)
	}
	c := &mdns.Client{Net: "udp", Timeout: s.opts.ForwardTimeout}
	if tcp {
		c.Net = "tcp"
	}
	for _, server := range up.servers {
		r, _, err := c.ExchangeContext(ctx, req, server)
		if err == nil {
			return r
		}
		s.log.Debug("DNS upstream failed", zap.String("server", server), zap.Error(err))
	}
	return fail(req, mdns.RcodeServerFailure)
}
