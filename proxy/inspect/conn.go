package inspect

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/zap"
)

// session is one client connection after its header phase.
type session struct {
	client *net.TCPConn
	log    *zap.Logger
	policy proxyproto.Policy
	rec    *Record // the accepted header; nil when there was none
	first  []byte  // client bytes after the header, forwarded first
	// sniffed is set once first has been checked for a second header; when
	// the header phase read nothing more, the check runs on the first data.
	sniffed bool
	kept    bool // rec was logged, kept and counted
	// headerRefused is set when the connection is refused for a header that
	// could not be decoded (it counts against Conformance).
	headerRefused bool
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, MaxHeaderLen); return &b }}

func (s *Server) serve(c *net.TCPConn) {
	defer s.wg.Done()
	defer s.untrack(c)
	defer c.Close()
	s.metrics.conns.Inc()
	s.metrics.active.Inc()
	defer s.metrics.active.Dec()
	ss := &session{client: c, log: s.log.With(zap.Stringer("peer", addrPortOf(c.RemoteAddr())))}
	if err := s.admit(ss); err != nil {
		s.reject(ss, err)
		return
	}
	if err := s.proxy(ss); err != nil {
		s.reject(ss, err)
	}
}

// admit applies the policy and reads the header phase.
func (s *Server) admit(ss *session) error {
	pol, err := s.policy(proxyproto.ConnPolicyOptions{Upstream: ss.client.RemoteAddr(), Downstream: ss.client.LocalAddr()})
	if err != nil {
		return err
	}
	ss.policy = pol
	if err := s.readHeader(ss); err != nil {
		return err
	}
	if len(ss.first) > 0 {
		if err := s.sniffFirst(ss); err != nil {
			return err
		}
	}
	if ss.rec != nil {
		s.keep(ss)
	} else {
		ss.log.Info("connection without a PROXY header")
	}
	return nil
}

// errQuiet ends a connection without counting or logging an error.
var errQuiet = errors.New("inspect: closed quietly")

// headerError is a refusal with the header that was decoded, for the log.
type headerError struct {
	rec  Record
	err  error
	kept bool // the header was accepted and counted before the refusal
}

// withHeader attaches a decoded header (if any) to err.
func withHeader(rec *Record, err error) error {
	if rec == nil || rec.Version == 0 {
		return err
	}
	return headerError{rec: *rec, err: err}
}

func (e headerError) Error() string { return e.err.Error() }
func (e headerError) Unwrap() error { return e.err }

// sniffFirst refuses a second PROXY header at the start of the client's
// data, with the first header marked ItemStacked. A strict prefix of a
// signature is completed first, within the header timeout.
func (s *Server) sniffFirst(ss *session) error {
	ss.sniffed = true
	if sniff(ss.first) == sniffPartial {
		ss.first = s.readMore(ss.client, ss.first)
	}
	if r := sniff(ss.first); r != sniffV1 && r != sniffV2 {
		return nil
	}
	switch {
	case ss.rec != nil:
		rec := *ss.rec
		rec.Conformance = rec.Conformance.with(ItemStacked)
		err := fmt.Errorf("%w: the client's data starts with another PROXY signature; NLB never strips a client's own header", ErrStacked)
		return headerError{rec: rec, err: err, kept: ss.kept}
	case ss.policy == proxyproto.REJECT:
		return fmt.Errorf("%w: a PROXY header from a source outside the trusted prefixes", ErrUntrusted)
	}
	ss.headerRefused = true
	return fmt.Errorf("%w: a PROXY header arrived after %v", ErrTimeout, s.opts.HeaderTimeout)
}

// readMore reads until b is no longer a strict prefix of a signature, the
// header timeout passes or the client stops sending.
func (s *Server) readMore(c *net.TCPConn, b []byte) []byte {
	_ = c.SetReadDeadline(time.Now().Add(s.opts.HeaderTimeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var buf [16]byte
	for sniff(b) == sniffPartial {
		n, err := c.Read(buf[:len(sigV2)-len(b)])
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return b
}

// keep logs, counts and keeps an accepted header.
func (s *Server) keep(ss *session) {
	s.ring.add(*ss.rec)
	s.metrics.header(ss.rec)
	s.tally.header(ss.rec.Conformance, ReasonNone)
	ss.kept = true
	msg := "PROXY header"
	if ss.rec.HealthCheck {
		msg = "PROXY header: health check (LOCAL)"
	}
	ss.log.Info(msg, zap.Inline(ss.rec))
}

// reject logs and counts why a connection was closed.
func (s *Server) reject(ss *session, err error) {
	if errors.Is(err, errQuiet) {
		return
	}
	r := ReasonOf(err)
	if s.ctx.Err() != nil {
		ss.log.Debug("connection closed by shutdown", zap.Error(err))
		return
	}
	if r == ReasonNone {
		ss.log.Debug("connection ended", zap.Error(err))
		return
	}
	s.metrics.reject(r)
	fields := []zap.Field{zap.String("reason", r.String()), zap.Error(err)}
	var he headerError
	switch {
	case errors.As(err, &he) && he.kept:
		s.tally.late(he.rec.Conformance, ItemStacked, r)
		fields = append(fields, zap.Object("header", &he.rec))
	case errors.As(err, &he):
		s.tally.header(he.rec.Conformance, r)
		fields = append(fields, zap.Object("header", &he.rec))
	case ss.headerRefused:
		s.tally.header(nil, r)
	}
	ss.log.Warn("connection closed", fields...)
}
