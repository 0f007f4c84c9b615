package privlinktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Instance is a privlink running in-process for one test, on the test's
// own block of addresses. Its methods take addresses as the topology
// writes them (127.0.1.50) and return the addresses they moved to.
type Instance struct {
	t    testing.TB
	srv  *proxy.Server
	reg  *prometheus.Registry
	blk  *block
	opts options

	mu      sync.Mutex
	cfg     *config.Config // the running configuration, moved
	mv      *mover         // of the running configuration
	targets []*Target      // the kit's targets, in the order they started
	byAddr  map[netip.AddrPort]*Target
	admin   string // the admin and DNS listen strings of the first generation
	dns     string
}

// Option tunes Start.
type Option func(*options)

type options struct {
	log         *zap.Logger
	dialTimeout time.Duration
}

// WithLogger sends the instance's logs to log (default: none).
func WithLogger(log *zap.Logger) Option { return func(o *options) { o.log = log } }

// WithDialTimeout bounds privlink's connection to a target (default 5s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// Start runs privlink in-process on topo for the test t, like
// httptest.NewServer: topo is YAML text (a string or []byte), a
// *TopologyBuilder or a *config.Config. The topology is validated (a bad
// one fails the test with every error, as FILE:LINE: key: message with
// FILE the test's name), moved onto a block of addresses no other test
// uses (see BlockBits), and started:
//
//   - the admin API on 127.0.0.1 and a free port (or off, if the topology
//     says admin.listen: off);
//   - the DNS server on the block's first address and a free port, with
//     dns.upstream off unless the topology sets it (or off, if it says
//     dns.listen: off);
//   - every target declared builtin (echo, sink or source) served by a
//     recording Target of that mode instead of privlink's built-in server;
//     other targets are the test's to serve (NewTarget, or its own server,
//     at the moved address: IP).
//
// t.Cleanup stops everything and waits for every goroutine.
func Start(t testing.TB, topo any, opts ...Option) *Instance {
	t.Helper()
	in, err := start(t, topo, opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func start(t testing.TB, topo any, opts []Option) (*Instance, error) {
	in := &Instance{t: t, byAddr: map[netip.AddrPort]*Target{}, opts: options{dialTimeout: 5 * time.Second}}
	for _, o := range opts {
		o(&in.opts)
	}
	cfg, err := configOf(topo, t.Name()+".yaml")
	if err != nil {
		return nil, invalid(err)
	}
	t.Cleanup(in.stop)
	var taken []string // blocks left because something else holds an address of them
	for try := 1; ; try++ {
		err = in.startOnABlock(cfg)
		switch {
		case err == nil:
			return in, nil
		case len(taken) > 0 && !errors.Is(err, syscall.EADDRINUSE):
			return in, fmt.Errorf("%w\nafter leaving the blocks where something outside the kit holds an address of the topology:\n%s", err, strings.Join(taken, "\n"))
		case !errors.Is(err, syscall.EADDRINUSE):
			return in, err
		case try == blockTries:
			return in, fmt.Errorf("privlinktest: %d blocks tried; in each, something outside the kit (a privlink run or another server in %s?) holds an address of the topology:\n%s\n%w",
				blockTries, blocks.rng, strings.Join(taken, "\n"), err)
		}
		// Something outside the kit (a privlink run whose topology is in
		// the kit's range, say) holds an address of this block: leave it
		// to its owner and move on.
		taken = append(taken, err.Error())
		in.abandonBlock()
	}
}

// blockTries is how many blocks Start tries when addresses of a block are
// taken by something that holds no block lock.
const blockTries = 4

// startOnABlock takes a block, moves cfg onto it and starts the server.
func (in *Instance) startOnABlock(orig *config.Config) error {
	var err error
	if in.blk, err = blocks.take(); err != nil {
		return err
	}
	cfg, err := in.prepare(orig, true)
	if err != nil {
		return err
	}
	in.reg = prometheus.NewRegistry()
	srv, err := proxy.Start(cfg, proxy.Options{Registry: in.reg, Logger: in.opts.log, DialTimeout: in.opts.dialTimeout})
	if err != nil {
		return fmt.Errorf("privlinktest: start on block %s: %w", in.blk.prefix, err)
	}
	in.mu.Lock()
	in.srv, in.cfg = srv, cfg
	in.mu.Unlock()
	return nil
}

// abandonBlock closes the targets started on the block and gives up the
// block for the rest of the process.
func (in *Instance) abandonBlock() {
	in.mu.Lock()
	targets := in.targets
	in.targets, in.byAddr = nil, map[netip.AddrPort]*Target{}
	in.mu.Unlock()
	for _, tg := range targets {
		tg.Close()
	}
	blocks.abandon(in.blk)
	in.blk = nil
}

// invalid introduces the errors of a topology (a config.Errors).
func invalid(err error) error {
	var es config.Errors
	if errors.As(err, &es) {
		return fmt.Errorf("privlinktest: invalid topology:\n%w", err)
	}
	return err
}

// configOf reads a topology argument.
func configOf(topo any, name string) (*config.Config, error) {
	switch v := topo.(type) {
	case string:
		return config.Parse(name, []byte(v))
	case []byte:
		return config.Parse(name, v)
	case *TopologyBuilder:
		return v.Config()
	case *config.Config:
		return v, nil
	}
	return nil, fmt.Errorf("privlinktest: a topology is YAML (string or []byte), a *TopologyBuilder or a *config.Config, not %T", topo)
}

// prepare moves a copy of cfg onto the block, sets the kit's admin, DNS
// and targets, and validates it.
func (in *Instance) prepare(orig *config.Config, first bool) (*config.Config, error) {
	cfg := deepCopy(orig)
	mv := newMover(cfg, in.blk.prefix)
	if err := mv.move(cfg); err != nil {
		return nil, invalid(err)
	}
	in.kitListeners(cfg, first)
	if err := in.serveBuiltins(cfg); err != nil {
		return nil, err
	}
	if err := config.Validate(cfg); err != nil {
		return nil, fmt.Errorf("privlinktest: the topology moved onto block %s:\n%w", in.blk.prefix, err)
	}
	in.mu.Lock()
	in.mv = mv
	in.mu.Unlock()
	return cfg, nil
}

// kitListeners sets the admin and DNS addresses: free ports, chosen once
// (a reload keeps the first generation's).
func (in *Instance) kitListeners(cfg *config.Config, first bool) {
	if first {
		if cfg.Admin.Enabled() {
			in.admin = "127.0.0.1:0"
		} else {
			in.admin = "off"
		}
		if cfg.DNS.Enabled() {
			in.dns = netip.AddrPortFrom(in.blk.prefix.Addr().Next(), 0).String()
		} else {
			in.dns = "off"
		}
	}
	cfg.Admin.Listen, cfg.DNS.Listen = in.admin, in.dns
	if cfg.Line("dns.upstream") == 0 && cfg.DNS.Upstream == config.DefaultDNSUpstream {
		cfg.DNS.Upstream = config.UpstreamOff
	}
}

// serveBuiltins starts a recording Target for every built-in target not
// served yet and turns it into an ordinary target of the configuration.
func (in *Instance) serveBuiltins(cfg *config.Config) error {
	for i := range cfg.Services {
		for j := range cfg.Services[i].TargetGroups {
			tg := &cfg.Services[i].TargetGroups[j]
			for k := range tg.Targets {
				if err := in.serveBuiltin(&tg.Targets[k], tg.Port); err != nil {
					return fmt.Errorf("privlinktest: services[%d].target_groups[%d].targets[%d]: %w", i, j, k, err)
				}
			}
		}
	}
	return nil
}

func (in *Instance) serveBuiltin(t *config.Target, groupPort uint16) error {
	if t.Builtin == config.BuiltinNone {
		return nil
	}
	mode := Mode(t.Builtin)
	t.Builtin = config.BuiltinNone
	if t.Port == 0 {
		t.Port = groupPort
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.byAddr[t.AddrPort()] != nil {
		return nil
	}
	tg, err := ListenTarget(t.AddrPort(), mode)
	if err != nil {
		return err
	}
	in.targets = append(in.targets, tg)
	in.byAddr[t.AddrPort()] = tg
	return nil
}

// stop closes the server, then the targets, then gives the block back.
func (in *Instance) stop() {
	in.mu.Lock()
	srv, targets := in.srv, in.targets
	in.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, proxy.ErrServerClosed) {
			in.t.Errorf("privlinktest: shutdown: %v", err)
			srv.Close()
		}
		cancel()
	}
	for _, tg := range targets {
		tg.Close()
	}
	if in.blk != nil {
		blocks.release(in.blk)
	}
}

// Server is the running proxy.Server, for what the kit does not wrap.
func (in *Instance) Server() *proxy.Server { return in.srv }

// Config is the running configuration, its addresses moved onto the block.
func (in *Instance) Config() *config.Config {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cfg
}

// Block is the test's block of addresses.
func (in *Instance) Block() netip.Prefix { return in.blk.prefix }

// AdminURL is the admin API's base URL (http://127.0.0.1:PORT), or "" when
// the topology turns it off.
func (in *Instance) AdminURL() string {
	if a := in.srv.AdminAddr(); a != "" {
		return "http://" + a
	}
	return ""
}

// IP returns where the topology's address ip (as written, e.g.
// "127.0.1.50") runs in this test. An address that is not an IP or lies
// outside the topology's net fails the test.
func (in *Instance) IP(ip string) netip.Addr {
	in.t.Helper()
	a, err := in.moveAddr(ip)
	if err != nil {
		in.t.Fatal(err)
	}
	return a
}

func (in *Instance) moveAddr(ip string) (netip.Addr, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return a, fmt.Errorf("privlinktest: %q is not an IP address", ip)
	}
	in.mu.Lock()
	mv := in.mv
	in.mu.Unlock()
	moved, ok := mv.addr(a)
	if !ok {
		return a, fmt.Errorf("privlinktest: %s is outside the topology's net %s", a, mv.from)
	}
	return moved, nil
}

// Target returns the recording Target serving the topology's built-in
// target at addr ("127.0.10.20:9443", as the topology writes it). None
// there fails the test, naming those there are.
func (in *Instance) Target(addr string) *Target {
	in.t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	var moved netip.Addr
	if err == nil {
		moved, err = in.moveAddr(ap.Addr().String())
	}
	in.mu.Lock()
	tg := in.byAddr[netip.AddrPortFrom(moved, ap.Port())]
	in.mu.Unlock()
	if err != nil || tg == nil {
		in.t.Fatalf("privlinktest: no built-in target at %q (IP:PORT as the topology writes it); the kit serves %v", addr, in.Targets())
	}
	return tg
}

// Targets returns the kit's recording targets in the order they started
// (the topology's order of built-in targets).
func (in *Instance) Targets() []*Target {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*Target(nil), in.targets...)
}

// Reload swaps in a new topology (the same forms Start takes), moved onto
// the same block, as privlink's reload does: live connections stay. New
// built-in targets start; those the topology drops keep serving until the
// test ends. The error lists every problem of a bad topology, and the
// running one stays.
func (in *Instance) Reload(topo any) error {
	cfg, err := configOf(topo, in.t.Name()+".yaml")
	if err != nil {
		return invalid(err)
	}
	in.mu.Lock()
	prevMover := in.mv
	in.mu.Unlock()
	if cfg, err = in.prepare(cfg, false); err != nil {
		return err
	}
	if err := in.srv.Reload(cfg); err != nil {
		in.mu.Lock()
		in.mv = prevMover
		in.mu.Unlock()
		return fmt.Errorf("privlinktest: reload: %w", err)
	}
	in.mu.Lock()
	in.cfg = cfg
	in.mu.Unlock()
	return nil
}

// dialer is a TCP dialer from a client address.
func dialer(from netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
}
