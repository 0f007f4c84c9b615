package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/privlink/privlink/proxy/acceptor"
	"go.uber.org/zap"
)

// Mode is what a Target does with a connection.
type Mode string

// Target modes.
const (
	// ModeEcho writes back every byte it reads.
	ModeEcho Mode = "echo"
	// ModeSink reads and discards everything.
	ModeSink Mode = "sink"
	// ModeSource writes data until the peer goes away, ignoring what it sends.
	ModeSource Mode = "source"
)

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeEcho, ModeSink, ModeSource:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (use echo, sink or source)", s)
}

// ErrTargetClosed is returned by Serve after Shutdown.
var ErrTargetClosed = errors.New("loadtest: target closed")

// Target is a TCP server for tests and benchmarks. Its zero value is not
// usable; create it with NewTarget.
type Target struct {
	mode  Mode
	log   *zap.Logger
	trust func(netip.Addr) bool // nil: every peer

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewTarget returns a target server in the given mode that strips a PROXY
// header from any peer; log may be nil.
func NewTarget(mode Mode, log *zap.Logger) *Target {
	return NewTargetWith(mode, log, TargetOptions{})
}

// TargetOptions tune a Target.
type TargetOptions struct {
	// TrustHeader decides, per connection, whether the peer at that
	// address may send a PROXY header, which is then read and stripped;
	// from any other peer a header is data like the rest (echoed back in
	// echo mode). Nil trusts every peer.
	TrustHeader func(peer netip.Addr) bool
}

// NewTargetWith returns a target server in the given mode with options;
// log may be nil.
func NewTargetWith(mode Mode, log *zap.Logger, opts TargetOptions) *Target {
	if log == nil {
		log = zap.NewNop()
	}
	return &Target{mode: mode, log: log, trust: opts.TrustHeader, lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// TrustPrefixes is a TargetOptions.TrustHeader that trusts the peers in
// any of prefixes (none: no peer).
func TrustPrefixes(prefixes []netip.Prefix) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}

// Serve accepts connections on ln until Shutdown; it always returns a
// non-nil error, ErrTargetClosed after Shutdown.
func (t *Target) Serve(ln net.Listener) error {
	if !add(t, t.lns, ln) {
		ln.Close()
		return ErrTargetClosed
	}
	defer remove(t, t.lns, ln)
	err := acceptor.Loop(ln, t.accept, t.isClosed, nil)
	if err == nil {
		return ErrTargetClosed
	}
	return fmt.Errorf("accept: %w", err)
}

func (t *Target) accept(c net.Conn) {
	if !add(t, t.conns, c) {
		c.Close()
		return
	}
	t.wg.Add(1)
	go t.serveConn(c)
}

// add registers a listener or connection unless the target is closed.
func add[K comparable](t *Target, set map[K]struct{}, k K) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	set[k] = struct{}{}
	return true
}

func remove[K comparable](t *Target, set map[K]struct{}, k K) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(set, k)
}

func (t *Target) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Shutdown closes the listeners and every open connection, then waits for
// the connection goroutines until ctx is done.
func (t *Target) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	for ln := range t.lns {
		ln.Close()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait waits until the connections being served have ended. Call it once
// Serve has returned: no connection is added after that.
func (t *Target) Wait() { t.wg.Wait() }

func (t *Target) serveConn(c net.Conn) {
	defer t.wg.Done()
	defer remove(t, t.conns, c)
	defer c.Close()
	switch t.mode {
	case ModeSource:
		t.source(c)
	case ModeSink:
		t.sink(c)
	default:
		t.echo(c)
	}
}

// readHeader consumes an optional PROXY v1/v2 header and returns the reader
// to continue from (its buffered bytes come before the connection's).
func (t *Target) readHeader(c net.Conn) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(c, 1024)
	if t.trust != nil && !t.trust(peerAddr(c)) {
		return br, nil
	}
	h, err := proxyproto.Read(br)
	switch {
	case err == nil:
		src, dst := h.SourceAddr, h.DestinationAddr
		t.log.Debug("proxy protocol header", zap.Stringer("peer", c.RemoteAddr()), zap.Any("source", src),
			zap.Any("destination", dst), zap.Uint8("version", h.Version), zap.Bool("local", h.Command.IsLocal()))
		return br, nil
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return br, nil
	}
	return nil, err
}

func (t *Target) echo(c net.Conn) {
	br, err := t.readHeader(c)
	if err != nil {
		t.log.Debug("bad proxy protocol header", zap.Stringer("peer", c.RemoteAddr()), zap.Error(err))
		return
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := c.Write(b); err != nil {
			return
		}
	}
	// Raw connection to itself: Linux splices.
	if _, err := io.Copy(c, rawReader(c)); err != nil {
		return
	}
	closeWrite(c)
}

func (t *Target) sink(c net.Conn) {
	if _, err := t.readHeader(c); err != nil {
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.log.Warn("open "+os.DevNull, zap.Error(err))
		return
	}
	defer null.Close()
	// A TCP connection copied into a file splices.
	if _, err := io.Copy(null, rawReader(c)); err == nil {
		closeWrite(c)
	}
}

func (t *Target) source(c net.Conn) {
	done := make(chan struct{})
	go discard(c, done)
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	c.Close()
	<-done
}

// discard reads and drops what the peer of a source connection sends; it
// returns when the connection is closed.
func discard(c net.Conn, done chan<- struct{}) {
	defer close(done)
	io.Copy(io.Discard, rawReader(c)) //nolint:errcheck // ends with the connection
}

// peerAddr is c's remote IP (unmapped), or the zero Addr.
func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// rawReader returns c in a form io.Copy splices from (the concrete
// *net.TCPConn), so no wrapper disables splice.
func rawReader(c net.Conn) io.Reader {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc
	}
	return c
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
