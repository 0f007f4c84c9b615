package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/privlink/privlink/loadtest"
)

func newEchoCmd() *cobra.Command {
	var listen, mode string
	var trust []string
	cmd := &cobra.Command{
		Use:   "echo --listen ADDR [--mode echo|sink|source] [--trust CIDR,...]",
		Short: "Run a simple target server (strips a PROXY v1/v2 header from trusted peers)",
		Long: `echo serves TCP connections: echo writes back what it reads, sink discards it,
source sends until the peer goes away. A connection from a peer in --trust may
start with a PROXY v1 or v2 header, which is read and stripped (without --trust
every peer is trusted: the usual place of a test target is behind privlink or an
NLB with proxy_protocol_v2); from any other peer a header is data like the rest. Set --trust to the NLB node IPs to
see what a client-sent header looks like behind them: NLB passes it on after its
own (headers stack).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadtest.ParseMode(mode)
			if err != nil {
				return usageErr("--mode: %v", err)
			}
			opts, err := echoOptions(trust)
			if err != nil {
				return err
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usageErr("--listen: %q is not host:port", listen)
			}
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			defer log.Sync()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("--listen: %w", err)}
			}
			t := loadtest.NewTargetWith(m, log, opts)
			fmt.Fprintf(cmd.OutOrStdout(), "privlink echo: %s server on %s (Ctrl-C to stop)\n", m, ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			served := make(chan error, 1)
			go func() { served <- t.Serve(ln) }()
			select {
			case err := <-served:
				return &exitError{code: 1, err: err}
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			t.Shutdown(sctx)
			if err := <-served; !errors.Is(err, loadtest.ErrTargetClosed) {
				log.Warn("serve", zap.Error(err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9443", "address to listen on")
	cmd.Flags().StringVar(&mode, "mode", "echo", "echo (write back), sink (discard) or source (send until closed)")
	cmd.Flags().StringSliceVar(&trust, "trust", nil, "CIDRs or IPs whose PROXY headers are stripped; from other peers a header is data (default: every peer)")
	return cmd
}

// echoOptions turns --trust into target options (none: every peer is
// trusted).
func echoOptions(trust []string) (loadtest.TargetOptions, error) {
	if len(trust) == 0 {
		return loadtest.TargetOptions{}, nil
	}
	var prefixes []netip.Prefix
	for _, s := range trust {
		p, err := parseTrust(s)
		if err != nil {
			return loadtest.TargetOptions{}, usageErr("--trust: %q is not a CIDR or IP address", s)
		}
		prefixes = append(prefixes, p)
	}
	return loadtest.TargetOptions{TrustHeader: loadtest.TrustPrefixes(prefixes)}, nil
}
