package privlinktest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// Mode is what a Target does with the bytes of a connection after its
// PROXY header.
type Mode string

// Target modes, those of privlink's built-in targets (`privlink echo`).
const (
	Echo   Mode = "echo"   // write back every byte read
	Sink   Mode = "sink"   // read and discard everything
	Source Mode = "source" // write data until the peer goes away
)

// Header is a decoded PROXY protocol header as a target behind NLB
// receives it.
type Header struct {
	// Local is the LOCAL command: NLB's health checks send it, with no
	// addresses. Otherwise the command is PROXY.
	Local bool
	// Source is the client's address, Destination the endpoint interface
	// and listener port it connected to (PROXY command only).
	Source, Destination netip.AddrPort
	// EndpointID is the VPC endpoint ID of TLV 0xEA subtype 0x01 ("" when
	// the header has none, or its value is not an ID: go-proxyproto admits
	// [A-Za-z0-9-] only; TLVs has it still).
	EndpointID string
	// TLVs are every TLV of the header, EndpointID's included.
	TLVs []proxyproto.TLV
}

// Conn is what a Target saw of one accepted connection.
type Conn struct {
	// Peer is the TCP peer: the NLB node's IP and the port privlink
	// allocated for the flow (SNAT), not the client.
	Peer netip.AddrPort
	// Local is the target's own address the connection reached.
	Local netip.AddrPort
	// Header is the connection's PROXY header, nil when its first bytes
	// were not one (proxy_protocol_v2 off), or when it closed before
	// sending any.
	Header *Header
	// Err is why the header could not be decoded (a malformed header).
	Err error
}

// HealthCheck reports whether the connection was a health check: its
// header is the LOCAL command NLB's health checks send. (With PROXY
// protocol off, a health check is a bare connect, which a target cannot
// tell from a client that sends nothing; neither can a real one.)
func (c Conn) HealthCheck() bool { return c.Header != nil && c.Header.Local }

// Target is a TCP target server for tests that records what each
// connection carried before its data: the TCP peer and the decoded PROXY
// header. It answers like privlink's built-in targets (Mode), so a test can
// assert "my service saw the client IP and the endpoint ID" without
// parsing PROXY headers itself. Its methods are safe for concurrent use.
type Target struct {
	addr netip.AddrPort
	mode Mode
	ln   *net.TCPListener

	mu      sync.Mutex
	conns   []Conn
	changed chan struct{} // closed and replaced when a Conn is recorded
	next    int           // Next's cursor into conns
	open    map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// NewTarget starts a Target on addr (port 0: a free port) that serves
// connections in mode; t.Cleanup closes it. A failure to listen fails the
// test.
func NewTarget(t testing.TB, addr netip.AddrPort, mode Mode) *Target {
	t.Helper()
	tg, err := ListenTarget(addr, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// ListenTarget starts a Target on addr without a test to clean up after
// it: the caller closes it.
func ListenTarget(addr netip.AddrPort, mode Mode) (*Target, error) {
	switch mode {
	case Echo, Sink, Source:
	default:
		return nil, fmt.Errorf("privlinktest: target mode %q (use echo, sink or source)", mode)
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("privlinktest: target: %w", err)
	}
	tg := &Target{addr: addrOf(ln.Addr()), mode: mode, ln: ln, changed: make(chan struct{}), open: map[net.Conn]struct{}{}}
	tg.wg.Add(1)
	go tg.accept()
	return tg, nil
}

// Addr is the address the target listens on.
func (tg *Target) Addr() netip.AddrPort { return tg.addr }

// Mode is the target's mode.
func (tg *Target) Mode() Mode { return tg.mode }

// String names a target in messages.
func (tg *Target) String() string { return fmt.Sprintf("%s (%s)", tg.addr, tg.mode) }

// Close stops listening, closes every open connection and waits for the
// target's goroutines to end.
func (tg *Target) Close() error {
	tg.mu.Lock()
	if tg.closed {
		tg.mu.Unlock()
		return nil
	}
	tg.closed = true
	err := tg.ln.Close()
	for c := range tg.open {
		c.Close()
	}
	tg.mu.Unlock()
	tg.wg.Wait()
	return err
}

func (tg *Target) accept() {
	defer tg.wg.Done()
	for {
		c, err := tg.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a bad peer never stops the target
		}
		tg.mu.Lock()
		if tg.closed {
			tg.mu.Unlock()
			c.Close()
			return
		}
		tg.open[c] = struct{}{}
		tg.wg.Add(1)
		tg.mu.Unlock()
		go tg.serve(c)
	}
}

func (tg *Target) serve(c *net.TCPConn) {
	defer tg.wg.Done()
	defer func() {
		tg.mu.Lock()
		delete(tg.open, c)
		tg.mu.Unlock()
		c.Close()
	}()
	if tg.mode == Source {
		tg.wg.Add(1)
		go func() {
			defer tg.wg.Done()
			io.Copy(c, zeros{}) //nolint:errcheck // ends when c is closed
		}()
	}
	br := bufio.NewReader(c)
	rec := Conn{Peer: addrOf(c.RemoteAddr()), Local: addrOf(c.LocalAddr())}
	rec.Header, rec.Err = readHeader(br)
	tg.record(rec)
	if rec.Err != nil {
		return
	}
	switch tg.mode {
	case Echo:
		if _, err := br.WriteTo(c); err == nil {
			c.CloseWrite()
		}
	default:
		br.WriteTo(io.Discard) //nolint:errcheck // ends with the connection
	}
}

// readHeader decodes the PROXY header at the start of br; nil without one.
func readHeader(br *bufio.Reader) (*Header, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, nil // closed before sending anything
	}
	h, err := proxyproto.Read(br)
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("privlinktest: PROXY header: %w", err)
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return nil, fmt.Errorf("privlinktest: PROXY header TLVs: %w", err)
	}
	out := &Header{Local: h.Command.IsLocal(), TLVs: tlvs, EndpointID: tlvparse.FindAWSVPCEndpointID(tlvs)}
	if !out.Local {
		out.Source, out.Destination = addrOf(h.SourceAddr), addrOf(h.DestinationAddr)
	}
	return out, nil
}

func (tg *Target) record(c Conn) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.conns = append(tg.conns, c)
	close(tg.changed)
	tg.changed = make(chan struct{})
}

// Conns returns every connection recorded so far, health checks included,
// in the order their headers arrived. A connection is recorded once its
// first bytes (or its end) told whether it carries a PROXY header: with
// proxy_protocol_v2_placement first_data, that is when the client sends.
func (tg *Target) Conns() []Conn {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]Conn(nil), tg.conns...)
}

// HealthChecks counts the health-check connections recorded so far.
func (tg *Target) HealthChecks() int {
	n := 0
	for _, c := range tg.Conns() {
		if c.HealthCheck() {
			n++
		}
	}
	return n
}

// Next waits for the next client connection (health checks are skipped)
// that Next has not returned yet, and returns it. It fails when ctx ends
// first, saying what the target did see.
func (tg *Target) Next(ctx context.Context) (Conn, error) {
	for {
		tg.mu.Lock()
		for ; tg.next < len(tg.conns); tg.next++ {
			if c := tg.conns[tg.next]; !c.HealthCheck() {
				tg.next++
				tg.mu.Unlock()
				return c, nil
			}
		}
		changed, seen := tg.changed, len(tg.conns)
		tg.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Conn{}, fmt.Errorf("privlinktest: target %s: no new client connection (%d connections recorded, %d of them health checks): %w",
				tg.addr, seen, tg.HealthChecks(), ctx.Err())
		}
	}
}

// zeros is an endless reader of zero bytes (Source mode).
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// addrOf converts a net.Addr of a TCP socket, unmapped.
func addrOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
