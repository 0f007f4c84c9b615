package inspect

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/proxy/ppv2"
)

// proxy forwards the session to the upstream, or echoes it without one.
func (s *Server) proxy(ss *session) error {
	if s.opts.Upstream == "" {
		if err := writePrelude(ss, ss.client, nil); err != nil {
			return err
		}
		return s.pumpUp(ss, ss.client)
	}
	up, err := s.dial()
	if err != nil {
		return err
	}
	defer s.untrack(up)
	defer up.Close()
	if err := writePrelude(ss, up, s.emitHeader(ss)); err != nil {
		return err
	}
	return s.pipe(ss, up)
}

func (s *Server) dial() (*net.TCPConn, error) {
	c, err := s.dialer.DialContext(s.ctx, "tcp", s.opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrUpstreamDial, s.opts.Upstream, err)
	}
	up := c.(*net.TCPConn)
	if !s.track(up) {
		_ = up.Close()
		return nil, net.ErrClosed
	}
	return up, nil
}

// writePrelude sends the re-emitted header and the client's bytes already
// read and checked, in one write.
func writePrelude(ss *session, dst *net.TCPConn, hdr []byte) error {
	if ss.sniffed {
		hdr = append(hdr, ss.first...)
		ss.first = nil
	}
	if len(hdr) == 0 {
		return nil
	}
	_, err := dst.Write(hdr)
	return err
}

// pipe copies both ways until both sides have closed, propagating
// half-close; an error on either side closes both.
func (s *Server) pipe(ss *session, up *net.TCPConn) error {
	var once sync.Once
	abort := func() {
		once.Do(func() { _ = ss.client.Close(); _ = up.Close() })
	}
	errc := make(chan error, 1)
	go func() { errc <- pumpDown(ss.client, up, abort) }()
	err := s.pumpUp(ss, up)
	if err != nil {
		abort()
	}
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

// pumpDown copies upstream → client. Both are raw *net.TCPConn, so io.Copy
// splices.
func pumpDown(client, up *net.TCPConn, abort func()) error {
	if _, err := io.Copy(client, up); err != nil {
		abort()
		return err
	}
	_ = client.CloseWrite()
	return nil
}

// pumpUp copies client → dst (the upstream, or the client itself when
// echoing), checking the first data for a second header when the header
// phase could not.
func (s *Server) pumpUp(ss *session, dst *net.TCPConn) error {
	if !ss.sniffed {
		if err := s.firstData(ss, dst); err != nil {
			return err
		}
	}
	if _, err := io.Copy(dst, ss.client); err != nil {
		return err
	}
	_ = dst.CloseWrite()
	return nil
}

// firstData reads the client's first data after a header that came alone,
// refuses a stacked header in it and forwards it.
func (s *Server) firstData(ss *session, dst *net.TCPConn) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := ss.client.Read(*bp)
	if n == 0 {
		if err == io.EOF {
			return nil
		}
		return err
	}
	ss.first = (*bp)[:n]
	if err := s.sniffFirst(ss); err != nil {
		return err
	}
	_, err = dst.Write(ss.first)
	ss.first = nil
	return err
}

// emitHeader is the header re-sent to the upstream (Options.Emit): the
// client the received header names, LOCAL for a health check, or the
// socket's own addresses when no header came.
func (s *Server) emitHeader(ss *session) []byte {
	peer, local := addrPortOf(ss.client.RemoteAddr()), addrPortOf(ss.client.LocalAddr())
	src, dst, proxied := peer, local, true
	vpce := ""
	if ss.rec != nil {
		src, dst, vpce = ss.rec.Source, ss.rec.Destination, ss.rec.VPCEndpoint
		proxied = ss.rec.Command == CommandProxy && ss.rec.Transport.IsTCP()
	}
	switch s.opts.Emit {
	case EmitV2:
		if !proxied {
			return ppv2.AppendLocal(nil)
		}
		return ppv2.AppendProxy(nil, src, dst, vpce)
	case EmitV1:
		return emitV1(src, dst, proxied)
	}
	return nil
}

func emitV1(src, dst netip.AddrPort, proxied bool) []byte {
	if proxied {
		h := proxyproto.HeaderProxyFromAddrs(1, net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
		if b, err := h.Format(); err == nil {
			return b
		}
	}
	return []byte("PROXY UNKNOWN\r\n")
}
