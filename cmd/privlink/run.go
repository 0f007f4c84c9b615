package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

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
			"and the running one stays.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			defer log.Sync()
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
			if cf.path != "" && watch {
				// Editors replace files in several steps: wait for quiet.
				w, err := config.Watch(cf.path, 300*time.Millisecond, func() {
					log.Info("configuration file changed: reloading", zap.String("config", cf.path))
					srv.ReloadFromSource()
				})
				if err != nil {
					log.Warn("cannot watch the configuration file; reload with SIGHUP or POST /v1/reload", zap.Error(err))
				} else {
					defer w.Close()
				}
			}
			return waitAndShutdown(cmd.Context(), log, srv, drain)
		},
	}
	cf.register(cmd, true)
	cmd.Flags().DurationVar(&drain, "drain-timeout", 10*time.Second, "how long connections may drain on shutdown")
	cmd.Flags().BoolVar(&watch, "watch", true, "reload when the configuration file changes (SIGHUP and POST /v1/reload always work)")
	cmd.Flags().DurationVar(&dialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "timeout of the connection from the NLB node to a target")
	return cmd
}

// waitAndShutdown blocks until SIGINT/SIGTERM, then drains; a second signal
// closes at once.
func waitAndShutdown(ctx context.Context, log *zap.Logger, srv *proxy.Server, drain time.Duration) error {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading the configuration")
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
	var example string
	for _, ep := range srv.Endpoints() {
		fmt.Fprintf(w, "  endpoint %s → service %s\n", ep.ID, ep.Service)
		for _, in := range ep.Interfaces {
			for _, l := range in.Listeners {
				fmt.Fprintf(w, "    %-10s connect to %-21s (NLB node %s)\n", in.AZ, l, in.Node)
				if example == "" {
					example = fmt.Sprintf("nc %s %d", l.Addr(), l.Port())
				}
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
	if s3 := printS3Banner(w, cfg, srv); example == "" {
		example = s3
	}
	if a := srv.AdminAddr(); a != "" {
		fmt.Fprintf(w, "  admin API: http://%s  (/metrics /v1/connections /v1/targets /v1/endpoints /v1/explain)\n", a)
	}
	if example != "" {
		fmt.Fprintf(w, "Try: %s   (Ctrl-C to stop)\n", example)
	}
}
