package inspect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultHeaderTimeout = 5 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	DefaultRingSize      = 1000
)

// Emit values: the PROXY header version re-sent to the upstream.
const (
	EmitNone = ""
	EmitV1   = "v1"
	EmitV2   = "v2"
)

// Options configure a Server. The zero value of every field but Listen is
// usable.
type Options struct {
	Listen   string         // address to accept connections on, e.g. 127.0.0.1:0
	Upstream string         // host:port to forward to; empty: echo the stream back
	Trust    []netip.Prefix // sources whose headers are trusted; empty: every source
	Require  bool           // close connections that do not start with a header
	// Strict refuses a header that is not whole in the connection's first
	// read (ReasonSplit), as HAProxy 2.6 and nginx 1.22 do. By default the
	// sidecar waits for the rest, whatever the segmentation, and marks the
	// header ItemSplit.
	Strict bool
	// HeaderTimeout bounds the wait for the whole header, from the accept
	// (DefaultHeaderTimeout when 0). Without Require, a connection silent
	// that long is forwarded without a header (a client waiting for a
	// server that speaks first).
	HeaderTimeout time.Duration
	// EndpointAddrs are the endpoint interface addresses a PROXY header's
	// destination must be in (ItemDestination); empty: not judged.
	EndpointAddrs []netip.Prefix
	DialTimeout   time.Duration // bounds the upstream dial (DefaultDialTimeout when 0)
	Emit          string        // EmitNone, EmitV1 or EmitV2: re-send a header to the upstream
	RingSize      int           // headers kept for Headers and GET /v1/headers (DefaultRingSize when 0)
	Logger        *zap.Logger   // nil: no logs
	// Registerer receives the privlink_inspect_* metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Server is the sidecar: it accepts connections on Options.Listen, checks
// and records their PROXY header and forwards or echoes the stream.
type Server struct {
	opts    Options
	log     *zap.Logger
	policy  proxyproto.ConnPolicyFunc
	metrics *metrics
	tally   *tally
	ring    *ring
	dialer  net.Dialer
	ctx     context.Context // cancelled when Shutdown gives up waiting
	cancel  context.CancelFunc

	mu      sync.Mutex
	ln      *net.TCPListener
	conns   map[*net.TCPConn]struct{}
	closing bool
	quit    chan struct{} // closed by Shutdown: stops accept back-off
	wg      sync.WaitGroup
}

// New validates opts and returns a Server that is not yet listening.
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts: opts, log: opts.Logger, metrics: m, tally: newTally(m.items), ring: newRing(opts.RingSize),
		policy: Policy(opts.Trust, opts.Require),
		dialer: net.Dialer{Timeout: opts.DialTimeout},
		ctx:    ctx, cancel: cancel,
		conns: make(map[*net.TCPConn]struct{}),
		quit:  make(chan struct{}),
	}, nil
}

func (o *Options) validate() error {
	switch {
	case o.Listen == "":
		return errors.New("inspect: no listen address")
	case o.HeaderTimeout < 0:
		return fmt.Errorf("inspect: header timeout %v is negative", o.HeaderTimeout)
	case o.DialTimeout < 0:
		return fmt.Errorf("inspect: dial timeout %v is negative", o.DialTimeout)
	case o.RingSize < 0:
		return fmt.Errorf("inspect: ring size %d is negative", o.RingSize)
	case o.Emit != EmitNone && o.Emit != EmitV1 && o.Emit != EmitV2:
		return fmt.Errorf("inspect: emit %q is not v1 or v2", o.Emit)
	case o.Emit != EmitNone && o.Upstream == "":
		return fmt.Errorf("inspect: emit %s needs an upstream", o.Emit)
	}
	if o.Upstream != "" {
		if _, _, err := net.SplitHostPort(o.Upstream); err != nil {
			return fmt.Errorf("inspect: upstream %q: %w", o.Upstream, err)
		}
	}
	for _, p := range o.Trust {
		if !p.IsValid() {
			return fmt.Errorf("inspect: trusted prefix %v is not valid", p)
		}
	}
	for _, p := range o.EndpointAddrs {
		if !p.IsValid() {
			return fmt.Errorf("inspect: endpoint address prefix %v is not valid", p)
		}
	}
	return nil
}

func (o *Options) setDefaults() {
	if o.HeaderTimeout == 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Start binds Options.Listen and starts accepting connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closing {
		return errors.New("inspect: server already started or shut down")
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("inspect: %w", err) // net.OpError names the address
	}
	s.ln = ln.(*net.TCPListener)
	s.wg.Add(1)
	go s.acceptLoop(s.ln)
	return nil
}

// Addr is the address the server listens on, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Headers returns up to limit of the last headers accepted, oldest first;
// limit <= 0 returns all that are kept.
func (s *Server) Headers(limit int) []Record { return s.ring.last(limit) }

// Shutdown stops accepting, waits for open connections to finish until ctx
// is done, then closes them and waits for their goroutines. It returns
// ctx.Err() when it had to force connections closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.quit)
		if s.ln != nil {
			_ = s.ln.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.closeAll()
	<-done
	return ctx.Err()
}

func (s *Server) acceptLoop(ln *net.TCPListener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
			if !s.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		if !s.track(c) {
			_ = c.Close()
			continue
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

// sleep waits d, or reports false when Shutdown started.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

// track registers c for forced closing; false when shutting down.
func (s *Server) track(c *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && s.ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *net.TCPConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}
