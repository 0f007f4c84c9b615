package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/privlink/privlink/proxy/inspect"
)

// inspectDrain is how long SIGINT/SIGTERM waits for open connections.
const inspectDrain = 10 * time.Second

type inspectFlags struct {
	listen, upstream, admin, emit string
	trust, endpointAddrs          []string
	config                        string
	require, strict, check        bool
	headerTimeout, duration       time.Duration
	ring                          int
}

func newInspectCmd() *cobra.Command {
	f := &inspectFlags{}
	cmd := &cobra.Command{
		Use:   "inspect --listen ADDR [--upstream ADDR] [--trust CIDR,..] [--require] [--admin ADDR] [--strict] [--check [--duration D]]",
		Short: "PROXY protocol sidecar: show what a service behind the NLB receives",
		Long: `inspect accepts connections carrying a PROXY protocol v1 or v2 header, logs each header as
one JSON line, keeps the last ones at GET /v1/headers on --admin, counts them in
/metrics, and forwards the stream to --upstream with the header stripped (or echoes it).
A header split across reads is awaited (--strict refuses it, as HAProxy and nginx do), and
every header gets a conformance verdict against what an NLB sends; --check makes the exit
status say whether every header seen conformed. Refused connections are closed with a
logged reason. Every flag can also be set from the environment as PRIVLINK_INSPECT_<FLAG>,
e.g. PRIVLINK_INSPECT_UPSTREAM=app:8080.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInspect(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", "", "address to accept PROXY-protocol connections on (required)")
	fs.StringVar(&f.upstream, "upstream", "", "host:port to forward to with the header stripped; empty: echo server")
	fs.StringSliceVar(&f.trust, "trust", nil, "CIDRs or IPs allowed to send PROXY headers (default: every source)")
	fs.BoolVar(&f.require, "require", false, "close connections that do not start with a PROXY header")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:9481", `address of /v1/headers, /metrics and /healthz; "off" disables`)
	fs.StringVar(&f.emit, "emit", "", "re-send a PROXY header to the upstream: v1 or v2")
	fs.DurationVar(&f.headerTimeout, "header-timeout", inspect.DefaultHeaderTimeout, "wait this long for a connection's whole PROXY header")
	fs.BoolVar(&f.strict, "strict", false, "refuse a header not whole in the first read (reason split), as HAProxy 2.6 and nginx 1.22 do")
	fs.BoolVar(&f.check, "check", false, "on exit, print the conformance tally; exit 0 only if at least one header was seen and all conformed")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long, as on SIGTERM (0: run until a signal)")
	fs.StringSliceVar(&f.endpointAddrs, "endpoint-addrs", nil, "endpoint interface CIDRs or IPs a PROXY header's destination must be in (conformance item destination)")
	fs.StringVarP(&f.config, "config", "c", "", "read the endpoint interface addresses from this privlink topology (like --endpoint-addrs)")
	fs.IntVar(&f.ring, "ring", inspect.DefaultRingSize, "headers kept for GET /v1/headers")
	return cmd
}

func runInspect(cmd *cobra.Command, f *inspectFlags) error {
	if err := applyEnv(cmd.LocalNonPersistentFlags(), "PRIVLINK_INSPECT_"); err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	if opts.EndpointAddrs, err = f.endpoints(opts.EndpointAddrs); err != nil {
		return err
	}
	// Catch signals before announcing, so whoever reads the announcement may signal.
	ctx, stop := f.runContext(cmd.Context())
	defer stop()
	log, err := newLogger(cmd)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.Logger, opts.Registerer = log, reg
	srv, err := inspect.New(opts)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if err := srv.Start(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--listen: %w", err)}
	}
	admin, err := startAdmin(f.admin, srv, reg)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return &exitError{code: 1, err: fmt.Errorf("--admin: %w", err)}
	}
	announce(cmd, f, srv, admin, log)
	if err := serveUntil(ctx, srv, admin, log); err != nil {
		return err
	}
	if f.check {
		return reportCheck(cmd.OutOrStdout(), srv.Conformance())
	}
	return nil
}

// runContext is done on SIGINT or SIGTERM and, with --duration, once it
// has passed.
func (f *inspectFlags) runContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if f.duration <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, f.duration)
	return ctx, func() { cancel(); stop() }
}

// options turns the flags into inspect.Options; bad values are usage errors
// that name the flag.
func (f *inspectFlags) options() (inspect.Options, error) {
	opts := inspect.Options{Listen: f.listen, Upstream: f.upstream, Require: f.require, Strict: f.strict,
		HeaderTimeout: f.headerTimeout, Emit: f.emit, RingSize: f.ring}
	switch {
	case f.listen == "":
		return opts, usageErr("--listen is required: the address to accept PROXY-protocol connections on")
	case !validHostPort(f.listen):
		return opts, usageErr("--listen: %q is not host:port", f.listen)
	case f.upstream != "" && !validHostPort(f.upstream):
		return opts, usageErr("--upstream: %q is not host:port", f.upstream)
	case f.admin != "off" && !validHostPort(f.admin):
		return opts, usageErr(`--admin: %q is not host:port or "off"`, f.admin)
	case f.emit != "" && f.emit != inspect.EmitV1 && f.emit != inspect.EmitV2:
		return opts, usageErr("--emit: %q is not v1 or v2", f.emit)
	case f.emit != "" && f.upstream == "":
		return opts, usageErr("--emit %s needs --upstream: an echo server has no one to send a header to", f.emit)
	case f.headerTimeout <= 0:
		return opts, usageErr("--header-timeout: %v is not a positive duration", f.headerTimeout)
	case f.ring < 1:
		return opts, usageErr("--ring: %d is not a positive number of headers", f.ring)
	case f.duration < 0:
		return opts, usageErr("--duration: %v is negative", f.duration)
	}
	for _, s := range f.trust {
		p, err := parseTrust(s)
		if err != nil {
			return opts, usageErr("--trust: %q is not a CIDR or IP address", s)
		}
		opts.Trust = append(opts.Trust, p)
	}
	for _, s := range f.endpointAddrs {
		p, err := parseTrust(s)
		if err != nil {
			return opts, usageErr("--endpoint-addrs: %q is not a CIDR or IP address", s)
		}
		opts.EndpointAddrs = append(opts.EndpointAddrs, p)
	}
	return opts, nil
}

func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	return err == nil && port != ""
}

// parseTrust reads a CIDR or a bare IP (a /32 or /128).
func parseTrust(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// applyEnv sets every flag not given on the command line from the
// environment variable prefix+FLAG_NAME, if set.
func applyEnv(fs *pflag.FlagSet, prefix string) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		name := prefix + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || fl.Changed || err != nil || fl.Name == "help" {
			return
		}
		if e := fl.Value.Set(v); e != nil {
			err = usageErr("%s: %q: %v", name, v, e)
		}
	})
	return err
}

// adminServer serves /v1/headers, /metrics and /healthz.
type adminServer struct {
	http *http.Server
	addr net.Addr
	errc chan error
}

func startAdmin(addr string, srv *inspect.Server, reg *prometheus.Registry) (*adminServer, error) {
	if addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/headers", srv.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = fmt.Fprintf(w, "{\"error\":%q}\n", "no such endpoint: "+r.URL.Path+"; try /v1/headers, /metrics, /healthz")
	})
	a := &adminServer{http: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, addr: ln.Addr(), errc: make(chan error, 1)}
	go func() { a.errc <- a.http.Serve(ln) }()
	return a, nil
}

func announce(cmd *cobra.Command, f *inspectFlags, srv *inspect.Server, admin *adminServer, log *zap.Logger) {
	mode := "echo mode"
	if f.upstream != "" {
		mode = "forwarding to " + f.upstream
	}
	adminURL := "admin off"
	if admin != nil {
		adminURL = "admin http://" + admin.addr.String() + "/v1/headers"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "privlink inspect: listening on %s, %s, %s\n", srv.Addr(), mode, adminURL)
	log.Info("inspect started", zap.Stringer("listen", srv.Addr()), zap.String("upstream", f.upstream),
		zap.Strings("trust", f.trust), zap.Bool("require", f.require), zap.String("emit", f.emit),
		zap.Duration("header_timeout", f.headerTimeout), zap.Bool("strict", f.strict), zap.Bool("check", f.check))
	if len(f.trust) == 0 {
		log.Info("--trust not set: PROXY headers are trusted from every source")
	}
	if len(f.endpointAddrs) == 0 && f.config == "" {
		log.Info("--endpoint-addrs and --config not set: a header's destination is not judged")
	}
}

// serveUntil waits for ctx (SIGINT/SIGTERM) or an admin failure, then drains.
func serveUntil(ctx context.Context, srv *inspect.Server, admin *adminServer, log *zap.Logger) error {
	var adminErr error
	if admin != nil {
		select {
		case <-ctx.Done():
		case adminErr = <-admin.errc:
		}
	} else {
		<-ctx.Done()
	}
	log.Info("shutting down", zap.Duration("drain", inspectDrain))
	dctx, cancel := context.WithTimeout(context.Background(), inspectDrain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("connections still open after the drain were closed", zap.Error(err))
	}
	if admin != nil && adminErr == nil {
		_ = admin.http.Shutdown(dctx)
		if err := <-admin.errc; !errors.Is(err, http.ErrServerClosed) {
			adminErr = err
		}
	}
	if adminErr != nil {
		return &exitError{code: 1, err: fmt.Errorf("--admin: %w", adminErr)}
	}
	return nil
}
