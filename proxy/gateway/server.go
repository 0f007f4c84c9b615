package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// Options tunes a Server. The zero value is usable.
type Options struct {
	Logger *zap.Logger
	// Registerer receives privlink_policy_decisions_total (nil: none).
	Registerer prometheus.Registerer
	// Rejected is privlink_rejected_flows_total{service,hop}, shared with
	// the data plane (nil: an unregistered one).
	Rejected *prometheus.CounterVec
	// Table lists the connections (nil: a table of the server's own).
	Table *conntrack.Table
	// FlowLog receives the REJECT records of denied connections (records
	// of accepted ones come through Table); nil for none.
	FlowLog *conntrack.FlowLogger
	// DenyHold and MaxHeld bound the denied connections held silent when
	// deny_action is drop (defaults 2 minutes and 4096, as the data plane).
	DenyHold time.Duration
	MaxHeld  int
	// Transport reaches a URL backend (nil: a transport of the server's own).
	Transport http.RoundTripper
	// Now is the clock of aws:CurrentTime (nil: time.Now).
	Now func() time.Time
}

// Server is the S3 and DynamoDB front of one configuration at a time.
type Server struct {
	opts      Options
	log       *zap.Logger
	decisions *prometheus.CounterVec
	table     *conntrack.Table
	ownTable  bool

	snap    atomic.Pointer[snapshot]
	back    atomic.Pointer[backend]
	dynBack atomic.Pointer[backend] // the DynamoDB backend (nil: none)

	mu      sync.Mutex
	closing bool
	srv     [numServices]*http.Server
	addr    [numServices]netip.AddrPort
	ifaces  map[netip.AddrPort]*http.Server // S3 interface endpoints' listeners
	held    map[net.Conn]struct{}
	wg      sync.WaitGroup // Serve, held connections, replaced servers
}

// ErrClosed is returned by Start and Reload after Shutdown.
var ErrClosed = errors.New("gateway: server closed")

// New compiles cfg without opening a socket.
func New(cfg *config.Config, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.DenyHold <= 0 {
		opts.DenyHold = 2 * time.Minute
	}
	if opts.MaxHeld <= 0 {
		opts.MaxHeld = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rejected == nil {
		opts.Rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "privlink_rejected_flows_total"}, []string{"service", "hop"})
	}
	s := &Server{opts: opts, log: opts.Logger, table: opts.Table, held: map[net.Conn]struct{}{}, ifaces: map[netip.AddrPort]*http.Server{}}
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "policy_decisions_total",
		Help: "Requests through gateway and S3 interface endpoints decided by the endpoint policy, by endpoint and decision (allow, implicit_deny, explicit_deny)."},
		[]string{"endpoint", "decision"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.decisions)
	}
	if s.table == nil {
		s.table, s.ownTable = conntrack.NewTable(conntrack.TableOptions{}), true
	}
	s.snap.Store(s.compile(cfg))
	return s
}

// Start opens the S3 and DynamoDB endpoints (those the configuration has)
// and their backends. The error names the configuration key at fault.
func (s *Server) Start() error {
	cfg := s.snap.Load().cfg
	if err := s.setBackend(cfg); err != nil {
		return err
	}
	s.setDynamoDBBackend(cfg)
	s.registerFlowLogs(cfg)
	p, err := s.openNew(cfg)
	if err != nil {
		return err
	}
	s.commit(p, cfg)
	return nil
}

// serveOn serves a service on ln, a listener on addr; a server on another
// address is shut down gracefully.
func (s *Server) serveOn(sv service, addr netip.AddrPort, ln net.Listener) {
	srv := s.httpServer(strings.ToLower(sv.String()))
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return
	}
	old := s.srv[sv]
	s.srv[sv], s.addr[sv] = srv, addr
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(&gateListener{Listener: ln, s: s, sv: sv}); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(sv.String()+" endpoint stopped", zap.Stringer("listen", addr), zap.Error(err))
		}
	}()
	if old != nil {
		s.retire(old)
	}
}

// httpServer is an HTTP server of the front, logging as name.
func (s *Server) httpServer(name string) *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		ConnContext: connContext, ErrorLog: zap.NewStdLog(s.log.Named(name))}
}

// retire shuts a replaced server down in the background, letting its
// requests finish for up to a minute.
func (s *Server) retire(old *http.Server) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if old.Shutdown(ctx) != nil {
			old.Close()
		}
	}()
}

// Reload swaps in a new configuration: new connections and requests use
// it at once (routes and policies apply to the next request, as in AWS).
// Every address the configuration adds (a moved s3.listen or
// dynamodb.listen, a new S3 interface endpoint's interfaces) is opened
// first: if one cannot be, the reload changes nothing, neither listeners
// nor policies, routes and backends.
func (s *Server) Reload(cfg *config.Config) error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrClosed
	}
	snap := s.compile(cfg)
	p, err := s.openNew(cfg)
	if err != nil {
		return err
	}
	if err := s.setBackend(cfg); err != nil {
		p.close()
		return err
	}
	s.setDynamoDBBackend(cfg)
	s.snap.Store(snap)
	s.commit(p, cfg)
	s.registerFlowLogs(cfg)
	return nil
}

// opened are the listeners a configuration adds, opened but not served
// yet, and the services it turns off.
type opened struct {
	svc    [numServices]net.Listener // nil: the service's listener stays as it is
	addr   [numServices]netip.AddrPort
	off    [numServices]bool
	ifaces map[netip.AddrPort]net.Listener
}

func (p *opened) close() {
	for _, ln := range p.svc {
		if ln != nil {
			ln.Close()
		}
	}
	for _, ln := range p.ifaces {
		ln.Close()
	}
}

// openNew opens every address cfg adds to the running ones; on an error
// (naming the key at fault) it closes what it opened.
func (s *Server) openNew(cfg *config.Config) (*opened, error) {
	p := &opened{ifaces: map[netip.AddrPort]net.Listener{}}
	for sv := range numServices {
		s.mu.Lock()
		addr, running := s.addr[sv], s.srv[sv] != nil
		s.mu.Unlock()
		want, on := sv.listen(cfg)
		switch {
		case on && (!running || want != addr):
			ln, err := net.Listen("tcp", want.String())
			if err != nil {
				p.close()
				return nil, fmt.Errorf("%s: %s: %w", cfg.Source, sv.key(), err)
			}
			p.svc[sv], p.addr[sv] = ln, want
		case !on && running:
			p.off[sv] = true
		}
	}
	for _, addr := range cfg.S3InterfaceAddrs() {
		s.mu.Lock()
		_, running := s.ifaces[addr]
		s.mu.Unlock()
		if running || p.ifaces[addr] != nil {
			continue
		}
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			p.close()
			return nil, fmt.Errorf("%s: S3 interface endpoint %s (s3.interface_port %d): %w", cfg.Source, addr, cfg.S3.InterfacePort, err)
		}
		p.ifaces[addr] = ln
	}
	return p, nil
}

// commit serves what openNew opened and shuts down, gracefully, what cfg
// no longer has.
func (s *Server) commit(p *opened, cfg *config.Config) {
	for sv := range numServices {
		switch {
		case p.svc[sv] != nil:
			s.serveOn(sv, p.addr[sv], p.svc[sv])
		case p.off[sv]:
			s.stopServing(sv)
		}
	}
	for addr, ln := range p.ifaces {
		s.serveIface(addr, ln)
	}
	s.retireIfaces(cfg)
}

func (s *Server) stopServing(sv service) {
	s.mu.Lock()
	old := s.srv[sv]
	s.srv[sv], s.addr[sv] = nil, netip.AddrPort{}
	s.mu.Unlock()
	if old != nil {
		s.retire(old)
	}
}

// Addr is the address the S3 endpoint listens on (zero when none).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr[serviceS3]
}

// DynamoDBAddr is the address the DynamoDB endpoint listens on (zero when
// none).
func (s *Server) DynamoDBAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr[serviceDynamoDB]
}

// Shutdown stops accepting, lets requests finish until ctx is done, then
// closes what is left, held connections included. Every goroutine of the
// server has returned when it returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	srvs := append([]*http.Server(nil), s.srv[:]...)
	for _, srv := range s.ifaces {
		srvs = append(srvs, srv)
	}
	for c := range s.held {
		c.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	var err error
	for _, srv := range srvs {
		if srv == nil {
			continue
		}
		if e := srv.Shutdown(ctx); e != nil {
			srv.Close()
			err = e
		}
	}
	s.wg.Wait()
	if s.ownTable {
		s.table.Close()
	}
	return err
}

// registerFlowLogs makes the stand-in interfaces of gateway endpoints and
// the interfaces of S3 interface endpoints known to the flow logger
// (NODATA records while quiet).
func (s *Server) registerFlowLogs(cfg *config.Config) {
	fl := s.opts.FlowLog
	if fl == nil {
		return
	}
	for _, e := range cfg.Endpoints {
		if e.IsS3Interface() {
			for _, in := range e.Interfaces {
				fl.Register(e.ID, in.Subnet, in.AZ)
			}
		}
	}
	for _, sn := range cfg.Subnets {
		rt := cfg.RouteTableOf(sn.ID)
		if rt == nil {
			continue
		}
		for _, pl := range []string{config.S3PrefixList(cfg.Region), config.DynamoDBPrefixList(cfg.Region)} {
			if r := rt.Route(pl); r != nil {
				fl.Register(r.GatewayEndpoint, sn.ID, sn.AZ)
			}
		}
	}
}
