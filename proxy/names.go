package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/dns"
)

// errDNSOff is what the resolver of a server without DNS answers.
var errDNSOff = errors.New("privlink: the DNS server is off (dns.listen)")

// startDNS opens the DNS server of the configuration.
func (s *Server) startDNS(top *topology) error {
	cfg := top.cfg
	if !cfg.DNS.Enabled() {
		return nil
	}
	d, err := dns.Start(top.names, dns.Options{Listen: cfg.DNS.Listen, Upstream: cfg.DNS.Upstream,
		Logger: s.log.Named("dns"), Registerer: s.reg})
	if err != nil {
		return fmt.Errorf("%s: dns.listen: %w%s", cfg.Source, err, dnsHint(cfg, err))
	}
	s.mu.Lock()
	s.dns = d
	s.mu.Unlock()
	return nil
}

func dnsHint(cfg *config.Config, err error) string {
	if errors.Is(err, syscall.EADDRINUSE) && cfg.DNS.Listen == config.DefaultDNSListen {
		return fmt.Sprintf(" (another privlink running? choose another address with dns.listen, --dns or %s, or \"off\")", config.EnvName("dns.listen"))
	}
	return ""
}

func (s *Server) dnsServer() *dns.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dns
}

func (s *Server) stopDNS() {
	s.mu.Lock()
	d := s.dns
	s.dns = nil
	s.mu.Unlock()
	if d != nil {
		if err := d.Close(); err != nil {
			s.log.Warn("DNS server did not stop cleanly", zap.Error(err))
		}
	}
}

// reloadDNS makes the DNS server answer a new generation's names.
func (s *Server) reloadDNS(old, top *topology) {
	oc, nc := old.cfg.DNS, top.cfg.DNS
	if oc.Listen != nc.Listen {
		s.log.Warn("dns.listen changed: the DNS server keeps its address until restart",
			zap.String("listening", oc.Listen), zap.String("configured", nc.Listen))
	}
	d := s.dnsServer()
	if d == nil {
		return
	}
	d.Update(top.names)
	s.syncOutages() // the endpoints an outage covers may have changed
	if oc.Upstream != nc.Upstream {
		if err := d.SetUpstream(nc.Upstream); err != nil {
			s.log.Error("dns.upstream not changed", zap.Error(err))
		}
	}
}

// DNSAddr is the address of the DNS server (UDP and TCP), or the zero
// AddrPort when it is off.
func (s *Server) DNSAddr() netip.AddrPort {
	if d := s.dnsServer(); d != nil {
		return d.Addr()
	}
	return netip.AddrPort{}
}

// Resolver returns a *net.Resolver that asks privlink's DNS server, so a
// Go test can dial an endpoint by name:
//
//	d := net.Dialer{Resolver: srv.Resolver()}
//	conn, err := d.DialContext(ctx, "tcp", name+":8443")
//
// With DNS off, every lookup fails saying so.
func (s *Server) Resolver() *net.Resolver {
	if d := s.dnsServer(); d != nil {
		return d.Resolver()
	}
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errDNSOff
	}}
}

// syncOutagesLocked gives the DNS server the endpoint interfaces the
// active az_outage faults take out of its answers, computed afresh from
// all of them: a fault that ends leaves out what another still covers.
// Called with the fault registry locked; without a DNS server it does
// nothing.
func (s *Server) syncOutagesLocked() {
	if d := s.dnsServer(); d != nil {
		d.SetOutages(dnsOutages(s.top.Load(), s.faults.list))
	}
}

// syncOutages is syncOutagesLocked for a new generation's routes.
func (s *Server) syncOutages() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.syncOutagesLocked()
}
