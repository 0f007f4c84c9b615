package gateway

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// gateListener admits a connection to the S3 endpoint only when the
// client has a path (acl.GatewayPath): a client without one gets
// deny_action and never reaches the HTTP server.
type gateListener struct {
	net.Listener
	s     *Server
	sv    service
	iface netip.AddrPort // an S3 interface endpoint's interface (zero: the regional endpoint)
}

// Accept returns the next admitted connection; denied ones are handled on
// the way, and one bad peer never stops accepting.
func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.iface.IsValid() {
			if gc := l.s.admitIface(l.iface, c.(*net.TCPConn)); gc != nil {
				return gc, nil
			}
			continue
		}
		if gc := l.s.admit(l.sv, c.(*net.TCPConn)); gc != nil {
			return gc, nil
		}
	}
}

// gateConn is an admitted client connection: its entry in the connection
// table, with TCP_INFO counters for the flow logs.
type gateConn struct {
	*net.TCPConn
	s      *Server
	sv     service
	client netip.AddrPort
	iface  netip.AddrPort // the S3 interface endpoint's interface (zero: the regional endpoint)
	ct     conntrack.Entry
	st     conntrack.ConnStats
	once   sync.Once
}

// Sockets gives the flow's client socket to conntrack.ConnStats.
func (c *gateConn) Sockets() (client, target syscall.Conn) { return c.TCPConn, nil }

// Close samples the final counters and removes the entry (writing its
// last flow-log records) before the socket closes.
func (c *gateConn) Close() error {
	c.once.Do(func() {
		c.st.Sample()
		c.s.table.Remove(&c.ct)
	})
	return c.TCPConn.Close()
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// admit decides a new connection with the current snapshot.
func (s *Server) admit(sv service, c *net.TCPConn) *gateConn {
	snap, client := s.snap.Load(), remoteOf(c)
	ep, rt := snap.route(sv, client.Addr())
	var v acl.Verdict
	if snap.paths[sv] == nil || !snap.paths[sv].Check(client, &v) {
		s.logDenied(sv, &v, rt.Subnet)
		s.deny(sv, c, snap, snap.tablePath(sv, ep, rt.Subnet), ep != nil, client, &v)
		return nil
	}
	return s.track(&gateConn{TCPConn: c, s: s, sv: sv, client: client}, snap.tablePath(sv, ep, rt.Subnet))
}

// remoteOf is a connection's client address (IPv4 unmapped).
func remoteOf(c *net.TCPConn) netip.AddrPort {
	client := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
}

// track enters an admitted connection in the connection table on path.
func (s *Server) track(gc *gateConn, path *conntrack.Path) *gateConn {
	gc.ct = conntrack.Entry{Client: gc.client, Path: path, Start: time.Now(), Stats: &gc.st}
	gc.st.Src = gc
	s.table.Insert(&gc.ct)
	s.table.SetState(&gc.ct, conntrack.StateEstablished)
	return gc
}

// logDenied logs a denied connection's hop and rule (debug).
func (s *Server) logDenied(sv service, v *acl.Verdict, subnet string) {
	if by := v.DeniedBy(); by != nil {
		if ce := s.log.Check(zap.DebugLevel, sv.String()+" connection denied"); ce != nil {
			ce.Write(zap.String("hop", v.Denied.String()), zap.String("rule", by.RuleText()), zap.String("subnet", subnet))
		}
	}
}

// deny applies deny_action to a connection without a path: reset answers
// with an RST; drop (AWS: the packets go nowhere) holds it silent. The
// denial counts in privlink_rejected_flows_total with its hop and, when
// it reached an endpoint (logged), a REJECT flow-log record on path.
func (s *Server) deny(sv service, c *net.TCPConn, snap *snapshot, path *conntrack.Path, logged bool, client netip.AddrPort, v *acl.Verdict) {
	hop := v.Denied
	s.opts.Rejected.WithLabelValues(snap.services[sv], hop.String()).Inc()
	e := &conntrack.Entry{Client: client, Path: path, Start: time.Now()}
	if fl := s.opts.FlowLog; fl != nil && logged {
		fl.Reject(e, conntrack.HopInterface, hop == acl.HopClientNACLIngressReturn || hop == acl.HopEndpointNACLEgressReturn)
	}
	if snap.cfg.DenyAction == config.DenyReset {
		c.SetLinger(0)
		c.Close()
		return
	}
	s.table.InsertAs(e, conntrack.StateDenied)
	if !s.startHold(c) {
		s.table.Remove(e)
		c.SetLinger(0)
		c.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		s.hold(c)
		s.table.Remove(e)
	}()
}

// startHold registers a connection to hold; false when closing or full.
func (s *Server) startHold(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.held) >= s.opts.MaxHeld {
		if !s.closing {
			s.log.Warn("too many denied S3 connections held silent; resetting this one instead", zap.Int("held", s.opts.MaxHeld))
		}
		return false
	}
	s.held[c] = struct{}{}
	c.SetReadDeadline(time.Now().Add(s.opts.DenyHold)) // under s.mu: Shutdown's deadline comes after
	s.wg.Add(1)
	return true
}

// hold reads and discards what the client sends until it closes, the hold
// ends or Shutdown ends it.
func (s *Server) hold(c net.Conn) {
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.held, c)
	s.mu.Unlock()
	c.Close()
}
