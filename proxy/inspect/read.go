package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/zap"
)

// gathered is what a connection's header phase read.
type gathered struct {
	rec   Record
	hlen  int   // the header's length when err is nil
	err   error // Decode's verdict on the bytes read
	rerr  error // the read error that ended the phase; nil when the bytes decided it
	n     int   // bytes read
	reads int   // reads that returned bytes
}

// gather reads r into buf until the bytes hold a whole header or bytes that
// cannot become one, or a read fails (the caller's deadline passes, the
// peer closes); with strict it stops after the first read that returns
// bytes. It calls wait, when not nil, with the bytes so far after each read
// that leaves a header incomplete. buf holds MaxHeaderLen bytes, so every
// header Decode accepts fits: a slow sender costs one buffer and a
// goroutine parked in the poller, never a read per byte it did not send.
func gather(r io.Reader, buf []byte, strict bool, wait func(have []byte)) gathered {
	var g gathered
	for g.n < len(buf) {
		m, err := r.Read(buf[g.n:])
		g.n += m
		if m > 0 {
			g.reads++
			g.rec, g.hlen, g.err = Decode(buf[:g.n])
			if strict || !errors.Is(g.err, ErrSplit) {
				return g
			}
		}
		if err != nil {
			g.rerr = err
			return g
		}
		if m > 0 && wait != nil {
			wait(buf[:g.n])
		}
	}
	return g
}

// readHeader runs the header phase: it waits up to the header timeout for
// a whole header, whatever its segmentation (only the first read with
// Options.Strict), and decodes it.
func (s *Server) readHeader(ss *session) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	_ = ss.client.SetReadDeadline(time.Now().Add(s.opts.HeaderTimeout))
	g := gather(ss.client, *bp, s.opts.Strict, ss.waitFunc())
	_ = ss.client.SetReadDeadline(time.Time{})
	if g.n == 0 {
		return s.nothingRead(ss, g.rerr)
	}
	b := (*bp)[:g.n]
	if errors.Is(g.err, ErrSplit) && !s.opts.Strict {
		if err := s.incomplete(ss, b, g.rerr); err != nil {
			return err
		}
		g.err = ErrNoHeader // a prefix of a signature, then the end
	}
	return s.useHeader(ss, b, g)
}

// useHeader applies the policy to the header phase's outcome g over the
// bytes b and keeps the client's bytes after the header.
func (s *Server) useHeader(ss *session, b []byte, g gathered) error {
	rec := &g.rec
	rec.Received, rec.Peer = time.Now(), addrPortOf(ss.client.RemoteAddr())
	if g.reads > 1 {
		rec.Conformance = rec.Conformance.with(ItemSplit)
	}
	rec.judgeDestination(s.opts.EndpointAddrs)
	switch {
	case errors.Is(g.err, ErrNoHeader):
		if ss.policy == proxyproto.REQUIRE {
			return fmt.Errorf("%w: the first %d bytes are not a PROXY signature (%q)", ErrMissing, len(b), b[:min(len(b), 16)])
		}
	case g.err != nil:
		ss.headerRefused = true
		return withHeader(rec, g.err)
	case ss.policy == proxyproto.REJECT:
		return withHeader(rec, fmt.Errorf("%w: a PROXY header from a source outside the trusted prefixes", ErrUntrusted))
	default:
		ss.rec = rec
	}
	ss.first = bytes.Clone(b[g.hlen:])
	return nil
}

// incomplete classifies a header phase that ended inside a header: the
// header timeout passed, or the client stopped sending. It returns nil
// when the bytes were only a prefix of a signature when the client closed:
// not a header.
func (s *Server) incomplete(ss *session, b []byte, rerr error) error {
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		ss.headerRefused = true
		return fmt.Errorf("%w: the header was not complete after %v: %s arrived", ErrTimeout, s.opts.HeaderTimeout, progress(b))
	}
	if sniff(b) == sniffPartial {
		return nil
	}
	ss.headerRefused = true
	return fmt.Errorf("%w: the connection ended (%v) after %s", ErrMalformed, rerr, progress(b))
}

// waitFunc logs each read that leaves a header incomplete, at debug level;
// nil when that level is off.
func (ss *session) waitFunc() func([]byte) {
	if !ss.log.Core().Enabled(zap.DebugLevel) {
		return nil
	}
	return func(have []byte) {
		ss.log.Debug("PROXY header incomplete; waiting for the rest", zap.Int("have", len(have)), zap.String("progress", progress(have)))
	}
}

// nothingRead classifies a header phase that read no byte.
func (s *Server) nothingRead(ss *session, err error) error {
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case timeout && ss.policy == proxyproto.REQUIRE:
		return fmt.Errorf("%w: nothing arrived in %v (a client waiting for the server to speak first?)", ErrTimeout, s.opts.HeaderTimeout)
	case timeout:
		ss.log.Info("no bytes within the header timeout; forwarding without a header", zap.Duration("header_timeout", s.opts.HeaderTimeout))
		return nil
	case ss.policy == proxyproto.REQUIRE:
		return fmt.Errorf("%w (%v): a data-less connection; NLB sends no header on one", ErrEmpty, err)
	}
	ss.log.Debug("connection closed before sending any byte", zap.Error(err))
	return errQuiet
}
