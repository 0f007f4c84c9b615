package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/loadtest"
	"github.com/privlink/privlink/proxy/dns"
	"github.com/privlink/privlink/proxy/gateway"
	"github.com/privlink/privlink/proxy/notify"
	"github.com/privlink/privlink/proxy/relay"
)

// Options tunes a Server. The zero value is usable.
type Options struct {
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// Registry receives the metrics; nil creates one with the Go and
	// process collectors, served at /metrics.
	Registry *prometheus.Registry
	// DialTimeout bounds the connection to a target (default 10s, about
	// what NLB's SYN retries take before the client is reset).
	DialTimeout time.Duration
	// Loader loads the configuration again for ReloadFromSource (SIGHUP,
	// file changes, POST /v1/reload); nil disables those reloads.
	Loader func() (*config.Config, error)
	// Notify tunes the webhook notifier (tests shorten its back-off).
	Notify notify.Options
	// DenyHold bounds how long a denied connection is held silent when
	// deny_action is drop (default DefaultDenyHold).
	DenyHold time.Duration
	// MaxHeld bounds the denied connections held silent at once (each
	// holds a socket and a goroutine for up to DenyHold), so a client
	// retrying in a loop cannot exhaust file descriptors; past it, denials
	// reset (default DefaultMaxHeld).
	MaxHeld int
}

// DefaultDialTimeout is the default Options.DialTimeout.
const DefaultDialTimeout = 10 * time.Second

// ErrServerClosed is returned by Start after Shutdown or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Server is a running PrivateLink stand-in: endpoint listeners, built-in
// targets and the admin API of one configuration.
type Server struct {
	opts Options
	log  *zap.Logger
	reg  *prometheus.Registry
	m    *metrics
	top  atomic.Pointer[topology]
	// rules are the compiled SGs and NACLs of the current generation plus
	// the targets registered over the API.
	rules atomic.Pointer[acl.Evaluator]

	ports       *conntrack.Ports
	poolService sync.Map // target AddrPort → service ID, for the port gauge
	table       *conntrack.Table
	flowLog     *conntrack.FlowLogger // nil without flow logs
	flowLogFile io.WriteCloser

	ctx    context.Context // cancelled when the server force-closes
	cancel context.CancelFunc

	// hurry is closed by a Shutdown (or Close) that comes while another
	// runs and whose context ends first: the running one force-closes.
	// stopped is closed when the running one has returned.
	hurry     chan struct{}
	hurryOnce sync.Once
	stopped   chan struct{}

	mu             sync.Mutex
	started        bool
	closing        bool
	listeners      map[netip.AddrPort]*listener
	eng            *relay.Engine
	builtinTargets map[netip.AddrPort]builtin
	// retiring are built-in targets a reload removed that still accept
	// for their drain (a flow that chose one just before the reload may
	// dial it yet; a real target goes on running after it is
	// deregistered); retired ones accept no more and serve their
	// connections until those end or the server stops (then they are
	// forgotten: retireLocked).
	retiring  map[netip.AddrPort]*retiringBuiltin
	retired   map[*loadtest.Target]struct{}
	admin     *http.Server
	adminAddr net.Addr
	dns       *dns.Server     // nil when dns.listen is off
	gw        *gateway.Server // the S3 front of gateway endpoints

	held     map[*socket]struct{} // denied connections held silent
	onHold   func()               // tests: runs once a connection is held (visible in held)
	onBound  func()               // tests: runs when Start has bound the listeners, before targets register
	heldInc  heldIncident         // the hold is full: logged once per incident
	dials    dialing              // sockets of dials in progress
	reloadMu sync.Mutex           // serialises reloads, and them with Shutdown
	notifier *notify.Notifier
	faults   faultRegistry // faults.go

	// rtMu guards the runtime state that outlives generations.
	rtMu      sync.Mutex
	groups    map[string]*targetGroup // by groupKey
	pruned    []*targetGroup          // groups a reload removed that have orphans
	endpoints map[string]*endpoint

	builtins sync.WaitGroup // built-in target servers
	handlers sync.WaitGroup // connection goroutines
	adminWG  sync.WaitGroup // the admin HTTP server
	checkers sync.WaitGroup // health checkers
}

// New compiles cfg into a server without opening any socket.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("proxy: nil config")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.DenyHold <= 0 {
		opts.DenyHold = DefaultDenyHold
	}
	if opts.MaxHeld <= 0 {
		opts.MaxHeld = DefaultMaxHeld
	}
	s := &Server{
		opts: opts, log: opts.Logger, reg: opts.Registry,
		listeners:      map[netip.AddrPort]*listener{},
		builtinTargets: map[netip.AddrPort]builtin{},
		retiring:       map[netip.AddrPort]*retiringBuiltin{},
		retired:        map[*loadtest.Target]struct{}{},
		groups:         map[string]*targetGroup{},
		endpoints:      map[string]*endpoint{},
		held:           map[*socket]struct{}{},
		hurry:          make(chan struct{}),
		stopped:        make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.m = newMetrics(s.reg)
	s.faults.initMetrics(s.reg)
	s.ports = conntrack.NewPorts(nil)
	s.table = conntrack.NewTable(conntrack.TableOptions{})
	s.reg.MustRegister(portCollector{s})
	top := s.compile(cfg)
	s.top.Store(top)
	s.rules.Store(top.rules)
	s.m.reloadOK.Set(1)
	return s, nil
}

// Start opens every socket of the configuration — built-in targets, endpoint
// listeners, the admin API — and starts serving. If any cannot be opened,
// everything opened so far is closed again and the error names the
// configuration key at fault: nothing is left half-started.
func Start(cfg *config.Config, opts Options) (*Server, error) {
	s, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start opens the sockets and serves (see the package function Start).
func (s *Server) Start() error {
	s.mu.Lock()
	if s.started || s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.started = true
	s.mu.Unlock()
	if err := s.open(); err != nil {
		s.Close()
		return err
	}
	return nil
}

// open opens the sockets and starts serving. It holds reloadMu, so a
// Shutdown that starts meanwhile waits for every listener to be in place.
func (s *Server) open() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	eng, err := relay.New(relay.Options{})
	if err != nil {
		return err
	}
	s.eng = eng
	top := s.top.Load()
	if err := s.startFlowLogs(top.cfg); err != nil {
		return err
	}
	if err := s.bindAll(top); err != nil {
		return err
	}
	// Always: a reload may add notifications (webhooks start goroutines
	// only when there are subscriptions).
	no := s.opts.Notify
	if no.Logger == nil {
		no.Logger = s.log.Named("notify")
	}
	if no.Registerer == nil {
		no.Registerer = s.reg
	}
	s.notifier = notify.New(subscriptions(top.cfg), no)
	if s.onBound != nil {
		s.onBound()
	}
	s.apply(top)
	s.loadFaults(top.cfg)
	// Only now, with the targets registered, do the loops accept: a client
	// that connected earlier waits in the listen backlog instead of being
	// reset for want of a target.
	s.mu.Lock()
	lns := maps.Clone(s.listeners)
	s.mu.Unlock()
	for addr, ln := range lns {
		s.startAccepting(addr, ln)
	}
	return nil
}

func (s *Server) bindAll(top *topology) error {
	for _, b := range top.builtins {
		if err := s.startBuiltin(b); err != nil {
			return err
		}
	}
	if err := s.startDNS(top); err != nil { // names answer before the endpoints accept
		return err
	}
	for addr, key := range sortedKeys(top.listenKeys) {
		ln, err := listen(addr)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", top.cfg.Source, key, err)
		}
		s.mu.Lock()
		s.listeners[addr] = ln
		s.mu.Unlock()
	}
	if err := s.startGateway(top.cfg); err != nil {
		return err
	}
	return s.startAdmin(top.cfg)
}

// listenTCP listens without TCP keepalives on accepted connections: NLB
// sends none, and they would keep idle flows from expiring.
func listenTCP(addr netip.AddrPort) (*net.TCPListener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr.String())
	if err != nil {
		return nil, bindError(addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// startAccepting makes the engine's loops accept on ln.
func (s *Server) startAccepting(addr netip.AddrPort, ln *listener) {
	ln.start(s.eng, s.accepted, func(err error, d time.Duration) {
		s.log.Warn("accept failed; backing off", zap.Stringer("listener", addr), zap.Duration("backoff", d), zap.Error(err))
	})
}

// accepted starts the pipeline for a new client connection, on the loop
// that accepted it.
func (s *Server) accepted(l *relay.Loop, client *socket, local, remote netip.AddrPort) {
	r := s.top.Load().routes[local]
	if r == nil || !s.flowStarted() { // a listener being removed, or shutting down
		resetConn(client)
		l.Release()
		return
	}
	f := &flow{s: s, r: r, l: l}
	f.ct = conntrack.Entry{Client: remote, Path: &r.path, Start: time.Now()}
	f.serve(client)
}

// flowStarted counts a new flow unless the server is closing.
func (s *Server) flowStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *Server) flowEnded() { s.handlers.Done() }

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// startFlowLogs opens the flow-log destination; a path that cannot be
// written fails the start with the path and the reason.
func (s *Server) startFlowLogs(cfg *config.Config) error {
	if !cfg.FlowLogs.Enabled() {
		s.flowLogMetrics(nil)
		return nil
	}
	w, err := conntrack.OpenFlowLogFile(cfg.FlowLogs.Path)
	if err != nil {
		return fmt.Errorf("%s: flow_logs.path: %w", cfg.Source, err)
	}
	fl, err := conntrack.NewFlowLogger(w, conntrack.FlowLogOptions{
		AccountID: cfg.AccountID, Region: cfg.Region, Interval: cfg.FlowLogs.Interval.D(),
		Format: cfg.FlowLogs.Format, QueueSize: cfg.FlowLogs.QueueSize,
		WriteError: s.flowLogIncident(cfg.FlowLogs.Path),
	})
	if err != nil {
		w.Close()
		return fmt.Errorf("%s: flow_logs.format: %w", cfg.Source, err)
	}
	s.flowLogMetrics(fl)
	fl.Track(s.table)
	for _, ep := range cfg.Endpoints {
		for _, in := range ep.Interfaces {
			fl.Register(ep.ID, in.Subnet, in.AZ)
		}
	}
	for _, sv := range cfg.Services {
		for _, n := range sv.LoadBalancer.Nodes {
			fl.Register(sv.ID, n.Subnet, n.AZ)
		}
	}
	s.flowLog, s.flowLogFile = fl, w
	return nil
}

// pool returns the port pool of the route's node towards a target.
func (s *Server) pool(r *route, t *target) (*conntrack.Pool, error) {
	tg := r.tg.cfg.Load()
	if _, ok := s.poolService.Load(t.addr); !ok {
		s.poolService.Store(t.addr, r.serviceID)
	}
	budget := tg.PortBudget
	if fs := s.faults.active.Load(); fs != nil {
		budget, _ = faultBudget(*fs, r, t, budget)
	}
	return s.ports.Pool(r.node, t.addr, budget, tg.PortReuseDelay.D())
}
