package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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

// Server is the S3 front of one configuration at a time.
type Server struct {
	opts      Options
	log       *zap.Logger
	decisions *prometheus.CounterVec
	table     *conntrack.Table
	ownTable  bool

	snap atomic.Pointer[snapshot]
	back atomic.Pointer[backend]

	mu      sync.Mutex
	closing bool
	srv     *http.Server
	addr    netip.AddrPort
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
	s := &Server{opts: opts, log: opts.Logger, table: opts.Table, held: map[net.Conn]struct{}{}}
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "policy_decisions_total",
		Help: "Requests through gateway endpoints decided by the endpoint policy, by endpoint and decision (allow, implicit_deny, explicit_deny)."},
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

// Start opens the S3 endpoint (when the configuration has one) and its
// backend. The error names the configuration key at fault.
func (s *Server) Start() error {
	cfg := s.snap.Load().cfg
	if err := s.setBackend(cfg); err != nil {
		return err
	}
	s.registerFlowLogs(cfg)
	if !cfg.S3.Enabled() {
		return nil
	}
	return s.serve(cfg)
}

// serve listens on the configuration's S3 address and serves it; a server
// on another address is shut down gracefully.
func (s *Server) serve(cfg *config.Config) error {
	addr := cfg.S3.Addr()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return fmt.Errorf("%s: s3.listen: %w", cfg.Source, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		ConnContext: connContext, ErrorLog: zap.NewStdLog(s.log.Named("s3"))}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	old := s.srv
	s.srv, s.addr = srv, addr
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(&gateListener{Listener: ln, s: s}); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("S3 endpoint stopped", zap.Stringer("listen", addr), zap.Error(err))
		}
	}()
	if old != nil {
		s.retire(old)
	}
	return nil
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
// it at once (routes and policies apply to the next request, as in AWS). A
// changed s3.listen opens the new address first; if it cannot be opened
// nothing changes.
func (s *Server) Reload(cfg *config.Config) error {
	s.mu.Lock()
	closing, addr, running := s.closing, s.addr, s.srv != nil
	s.mu.Unlock()
	if closing {
		return ErrClosed
	}
	snap := s.compile(cfg)
	if err := s.setBackend(cfg); err != nil {
		return err
	}
	switch {
	case cfg.S3.Enabled() && (!running || cfg.S3.Addr() != addr):
		s.snap.Store(snap)
		if err := s.serve(cfg); err != nil {
			return err
		}
	case !cfg.S3.Enabled() && running:
		s.snap.Store(snap)
		s.stopServing()
	default:
		s.snap.Store(snap)
	}
	s.registerFlowLogs(cfg)
	return nil
}

func (s *Server) stopServing() {
	s.mu.Lock()
	old := s.srv
	s.srv, s.addr = nil, netip.AddrPort{}
	s.mu.Unlock()
	if old != nil {
		s.retire(old)
	}
}

// Addr is the address the S3 endpoint listens on (zero when none).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting, lets requests finish until ctx is done, then
// closes what is left, held connections included. Every goroutine of the
// server has returned when it returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	srv := s.srv
	for c := range s.held {
		c.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	s.wg.Wait()
	if s.ownTable {
		s.table.Close()
	}
	return err
}

// registerFlowLogs makes the stand-in interfaces of gateway endpoints
// known to the flow logger (NODATA records while quiet).
func (s *Server) registerFlowLogs(cfg *config.Config) {
	fl := s.opts.FlowLog
	if fl == nil {
		return
	}
	for _, sn := range cfg.Subnets {
		rt := cfg.RouteTableOf(sn.ID)
		if rt == nil {
			continue
		}
		if r := rt.Route(config.S3PrefixList(cfg.Region)); r != nil {
			fl.Register(r.GatewayEndpoint, sn.ID, sn.AZ)
		}
	}
}
