package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/privlink/privlink/loadtest"
)

func newEchoCmd() *cobra.Command {
	var listen, mode string
	cmd := &cobra.Command{
		Use:   "echo --listen ADDR [--mode echo|sink|source]",
		Short: "Run a simple target server (accepts an optional PROXY v1/v2 header)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadtest.ParseMode(mode)
			if err != nil {
				return usageErr("--mode: %v", err)
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
			t := loadtest.NewTarget(m, log)
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
	return cmd
}
