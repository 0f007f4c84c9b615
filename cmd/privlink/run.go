package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

func newRunCmd() *cobra.Command {
	cf := &configFlags{}
	var drain, dialTimeout time.Duration
	var watch bool
	cmd := &cobra.Command{
		Use:   "run [-c FILE]",
		Short: "Start the data plane and the admin API (the embedded default topology without -c)",
		Long: "Start listeners on every endpoint interface, the built-in targets and the admin API.\n" +
			"SIGINT/SIGTERM: stop accepting, let connections drain for --drain-timeout, exit 0\n" +
			"(a second signal stops at once). SIGHUP, a change of the -c file or POST /v1/reload:\n" +
			"reload the configuration; live connections survive, a bad configuration is refused\n" +
			"and the running one stays. SIGHUP also reopens the flow-log file (logrotate).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			defer log.Sync()
			// Signals are caught before the server starts: a SIGHUP or
			// SIGTERM during start-up is handled once it runs, not fatal.
			sigs := catchSignals()
			defer sigs.stop()
			if cf.path != "" && watch {
				// The watcher starts before the file is read, so an edit
				// made while privlink starts is not missed: it is
				// reloaded once the server runs. Editors replace files
				// in several steps: wait for quiet.
				w, err := config.Watch(cf.path, 300*time.Millisecond, func() {
					select {
					case sigs.changed <- struct{}{}:
					default: // a reload is already due
					}
				})
				if err != nil {
					log.Warn("cannot watch the configuration file; reload with SIGHUP or POST /v1/reload", zap.Error(err))
				} else {
					defer w.Close()
				}
			}
			cfg, err := cf.load(cmd)
			if err != nil {
				return err
			}
			for _, w := range cfg.Warnings {
				log.Warn("configuration", zap.String("warning", w.Error()))
			}
			loader := func() (*config.Config, error) { return cf.load(cmd) }
			srv, err := proxy.Start(cfg, proxy.Options{Logger: log, DialTimeout: dialTimeout, Loader: loader})
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			printBanner(cmd.OutOrStdout(), cfg, srv)
			log.Info("privlink started", zap.String("config", cfg.Source), zap.String("admin", srv.AdminAddr()))
			if testHookStarted != nil {
				testHookStarted(cf.path)
			}
			return waitAndShutdown(cmd.Context(), log, srv, drain, sigs)
		},
	}
	cf.register(cmd, true)
	cmd.Flags().DurationVar(&drain, "drain-timeout", 10*time.Second, "how long connections may drain on shutdown")
	cmd.Flags().BoolVar(&watch, "watch", true, "reload when the configuration file changes (SIGHUP and POST /v1/reload always work)")
	cmd.Flags().DurationVar(&dialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "timeout of the connection from the NLB node to a target")
	return cmd
}

// testHookStarted, when set by a test, runs once the server has started
// and before run waits for signals and file changes.
var testHookStarted func(path string)

// runSignals are the events privlink run acts on.
type runSignals struct {
	sig     chan os.Signal // SIGINT, SIGTERM: drain, then stop
	hup     chan os.Signal // SIGHUP: reopen the flow log and reload
	changed chan struct{}  // the -c file changed: reload
}

func catchSignals() runSignals {
	s := runSignals{sig: make(chan os.Signal, 2), hup: make(chan os.Signal, 1), changed: make(chan struct{}, 1)}
	signal.Notify(s.sig, syscall.SIGINT, syscall.SIGTERM)
	signal.Notify(s.hup, syscall.SIGHUP)
	return s
}

func (s runSignals) stop() {
	signal.Stop(s.sig)
	signal.Stop(s.hup)
}

// waitAndShutdown blocks until SIGINT/SIGTERM, then drains; a second signal
// closes at once.
func waitAndShutdown(ctx context.Context, log *zap.Logger, srv *proxy.Server, drain time.Duration, sigs runSignals) error {
	sig, hup := sigs.sig, sigs.hup
wait:
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reopening the flow-log file and reloading the configuration")
			if err := srv.ReopenFlowLogs(); err != nil {
				log.Error("SIGHUP: cannot reopen the flow-log file; writing on to the old one", zap.Error(err))
			}
			srv.ReloadFromSource()
		case <-sigs.changed:
			log.Info("configuration file changed: reloading")
			srv.ReloadFromSource()
		case s := <-sig:
			log.Info("shutting down: draining connections", zap.Stringer("signal", s), zap.Duration("drain_timeout", drain))
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go func() {
		select {
		case <-sig:
			log.Warn("second signal: closing every connection now")
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain deadline reached; remaining connections were closed", zap.Error(err))
	}
	log.Info("stopped")
	return nil
}

// printBanner tells a human where to connect.
func printBanner(w io.Writer, cfg *config.Config, srv *proxy.Server) {
	what := cfg.Source
	if what == config.EmbeddedName {
		what = "the embedded default topology (privlink run -c FILE for your own)"
	}
	fmt.Fprintf(w, "privlink is running %s\n", what)
	for _, ep := range srv.Endpoints() {
		fmt.Fprintf(w, "  endpoint %s → service %s\n", ep.ID, ep.Service)
		if len(ep.DNSEntries) > 0 {
			fmt.Fprintf(w, "    DNS name   %s\n", ep.DNSEntries[0].DNSName)
		}
		for _, in := range ep.Interfaces {
			for _, l := range in.Listeners {
				if !in.Node.IsValid() { // an S3 interface endpoint: S3 answers there
					fmt.Fprintf(w, "    %-10s S3 at http://%s (endpoint policy; aws --endpoint-url http://%s s3 ls)\n", in.AZ, l, l)
					continue
				}
				fmt.Fprintf(w, "    %-10s connect to %-21s (NLB node %s)\n", in.AZ, l, in.Node)
			}
		}
	}
	for _, s := range cfg.Services {
		for _, tg := range s.TargetGroups {
			for _, t := range tg.Targets {
				kind := ""
				if t.Builtin != config.BuiltinNone {
					kind = fmt.Sprintf(" (built-in %s server)", t.Builtin)
				}
				fmt.Fprintf(w, "  target %s %s in %s%s\n", tg.Name, t.AddrPort(), t.AZ, kind)
			}
		}
	}
	s3 := cmp.Or(printS3Banner(w, cfg, srv), printDynamoDBBanner(w, cfg, srv))
	if a := srv.AdminAddr(); a != "" {
		fmt.Fprintf(w, "  admin API: http://%s  (/metrics /v1/connections /v1/targets /v1/endpoints /v1/explain)\n", a)
		fmt.Fprintf(w, "  dashboard: http://%s/\n", a)
	}
	printDNSBanner(w, srv)
	if try := cmp.Or(tryLine(cfg, srv), s3); try != "" {
		fmt.Fprintf(w, "Try: %s\n", try)
	}
}

// tryLine is a command that connects through the topology as printed: to
// the first listener of an available endpoint, from a client address its
// rules admit (nc binds it with -s unless it is 127.0.0.1, the source a
// plain nc uses). Without one it says what to do instead.
func tryLine(cfg *config.Config, srv *proxy.Server) string {
	rules := acl.Compile(cfg)
	var pending, denied string
	for _, ep := range srv.Endpoints() {
		if ep.Service == config.S3Service(cfg.Region) {
			continue // an S3 interface endpoint: the banner shows its aws command
		}
		for _, in := range ep.Interfaces {
			for _, l := range in.Listeners {
				client, ok := rules.AdmittedClient(cfg, l, bindable)
				switch {
				case ep.State != proxy.EndpointAvailable:
					pending = cmp.Or(pending, fmt.Sprintf("endpoint %s is %s: accept it with curl -XPOST http://%s/v1/endpoints/%s/accept",
						ep.ID, ep.State, cmp.Or(srv.AdminAddr(), "ADMIN"), ep.ID))
				case !ok:
					denied = cmp.Or(denied, fmt.Sprintf("privlink explain%s --from 127.0.0.1 --endpoint %s   (the rules admit no local client address privlink could find)",
						configFlag(cfg), ep.ID))
				case client.Compare(netip.MustParseAddr("127.0.0.1")) == 0:
					return fmt.Sprintf("nc %s %d   (Ctrl-C to stop)", l.Addr(), l.Port())
				default:
					return fmt.Sprintf("nc -s %s %s %d   (a client address the rules admit; Ctrl-C to stop)", client, l.Addr(), l.Port())
				}
			}
		}
	}
	return cmp.Or(pending, denied)
}

// bindable reports whether a client can bind a on this host (every
// 127.0.0.0/8 address can on Linux).
func bindable(a netip.Addr) bool {
	if a.Is4() && a.As4()[0] == 127 {
		return true
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// configFlag is " -c FILE" for a configuration read from a file.
func configFlag(cfg *config.Config) string {
	if cfg.Source == config.EmbeddedName {
		return ""
	}
	return " -c " + cfg.Source
}
