package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options tune a Server. Listen is required.
type Options struct {
	// Listen is the host:port of the UDP and TCP sockets; port 0 picks one
	// port free for both.
	Listen string
	// Upstream is "system", "off" or a resolver's IP[:PORT] (config.DNS).
	Upstream string
	// ResolvConf is the file "system" reads (default /etc/resolv.conf).
	ResolvConf string
	// ForwardTimeout bounds one exchange with an upstream server (default 2s).
	ForwardTimeout time.Duration
	// MaxForwards bounds the queries forwarded at once; past it a query
	// gets SERVFAIL at once, so a flood cannot pile up goroutines
	// (default 256).
	MaxForwards int
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// Registerer receives privlink_dns_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Server answers one Zone at a time over UDP and TCP.
type Server struct {
	opts Options
	log  *zap.Logger
	m    *metrics

	zone atomic.Pointer[Zone]
	down atomic.Pointer[map[Outage]bool] // interfaces out of answers (SetOutages)
	up   atomic.Pointer[upstream]
	fwd  chan struct{} // one token per forwarded query in flight

	ctx    context.Context // cancelled by Close: ends forwarded exchanges
	cancel context.CancelFunc

	mu      sync.Mutex
	addr    netip.AddrPort
	servers []*mdns.Server
	serving sync.WaitGroup // the servers' serve loops
}

// Defaults of Options.
const (
	DefaultResolvConf     = "/etc/resolv.conf"
	DefaultForwardTimeout = 2 * time.Second
	DefaultMaxForwards    = 256
)

// New prepares a server for z without opening sockets.
func New(z *Zone, opts Options) (*Server, error) {
	if z == nil {
		return nil, errors.New("dns: nil zone")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = DefaultResolvConf
	}
	if opts.ForwardTimeout <= 0 {
		opts.ForwardTimeout = DefaultForwardTimeout
	}
	if opts.MaxForwards <= 0 {
		opts.MaxForwards = DefaultMaxForwards
	}
	s := &Server{opts: opts, log: opts.Logger, m: newMetrics(opts.Registerer), fwd: make(chan struct{}, opts.MaxForwards)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.zone.Store(z)
	s.down.Store(&map[Outage]bool{})
	if err := s.SetUpstream(opts.Upstream); err != nil {
		return nil, err
	}
	return s, nil
}

// Start opens the sockets of a new server and serves z.
func Start(z *Zone, opts Options) (*Server, error) {
	s, err := New(z, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start binds UDP and TCP on Options.Listen and serves until Close.
func (s *Server) Start() error {
	s.mu.Lock()
	started := s.addr.IsValid()
	s.mu.Unlock()
	if started || s.ctx.Err() != nil {
		return errors.New("dns: server already started or closed")
	}
	pc, ln, err := bind(s.opts.Listen)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.addr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	s.mu.Unlock()
	s.dropSelf()
	up := make(chan struct{}, 2)
	notify := func() { up <- struct{}{} }
	for _, srv := range []*mdns.Server{
		{PacketConn: pc, Handler: s, NotifyStartedFunc: notify, MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid},
		{Listener: ln, Handler: s, NotifyStartedFunc: notify, MsgAcceptFunc: s.accept, MsgInvalidFunc: s.invalid},
	} {
		s.mu.Lock()
		s.servers = append(s.servers, srv)
		s.mu.Unlock()
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Error("DNS server stopped", zap.Error(err))
			}
		}()
	}
	<-up
	<-up
	return nil
}

// bind opens UDP and TCP on one address; with port 0 it retries until the
// port the UDP socket got is free for TCP too.
func bind(listen string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", listen, err)
	}
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || try == 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
	}
}

// Addr is the address the server answers on (UDP and TCP).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Update swaps in the names of a new configuration generation.
func (s *Server) Update(z *Zone) {
	if z != nil {
		s.zone.Store(z)
	}
}

// Zone is the zone being answered.
func (s *Server) Zone() *Zone { return s.zone.Load() }

// Outage names the interfaces of one endpoint in one AZ (an AZ ID) that
// are out of DNS answers.
type Outage struct{ Endpoint, AZ string }

// SetOutages makes outs the whole set of interfaces out of the regional
// and private answers (nil: none); the caller computes it from every
// outage in effect, so that two outages of one AZ keep it out until both
// ended. Zonal names keep answering: the name exists, its address just
// does not answer. When every interface of a name is out, the answer
// fails open with all of them, as Route 53 answers with every record when
// all are unhealthy.
func (s *Server) SetOutages(outs []Outage) {
	down := make(map[Outage]bool, len(outs))
	for _, o := range outs {
		down[o] = true
	}
	s.down.Store(&down)
}

// Resolver returns a resolver that asks this server (see NewResolver).
func (s *Server) Resolver() *net.Resolver { return NewResolver(s.Addr()) }

// NewResolver returns a *net.Resolver that sends every query to the DNS
// server at addr, over UDP and, for truncated answers, TCP. Go's resolver
// still reads /etc/hosts first.
func NewResolver(addr netip.AddrPort) *net.Resolver {
	server := addr.String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// Close stops answering, ends forwarded exchanges and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.ShutdownContext(ctx))
	}
	s.serving.Wait()
	return errors.Join(errs...)
}
