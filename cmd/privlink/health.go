package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// DefaultHealthTimeout bounds one health check: below the one-second
// default of a Kubernetes exec probe would be too eager on a busy node, so
// the manifests set timeoutSeconds: 3.
const DefaultHealthTimeout = 2 * time.Second

func newHealthCmd() *cobra.Command {
	var admin string
	var live bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health [--admin ADDR] [--live] [--timeout D]",
		Short: "Exit 0 when a running privlink is ready (GET /readyz): the container probe",
		Long: `health asks the admin API of a running privlink whether it is ready (GET /readyz:
started and not shutting down) or, with --live, alive (GET /healthz), and exits 0 if so,
1 with the reason otherwise. The image has no shell and no curl: a Docker HEALTHCHECK or
a Kubernetes exec probe runs "privlink health" inside privlink's network namespace, where
the admin API listens on 127.0.0.1:9480 by default (docs/containers.md).
--admin defaults to $PRIVLINK_ADMIN_LISTEN (the environment override of privlink run's
admin.listen), else 127.0.0.1:9480; an unspecified address (0.0.0.0, [::]) is checked on
loopback. Every flag can also be set as PRIVLINK_HEALTH_<FLAG>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.LocalNonPersistentFlags(), "PRIVLINK_HEALTH_"); err != nil {
				return err
			}
			base, err := healthBase(admin)
			if err != nil {
				return err
			}
			path := "/readyz"
			if live {
				path = "/healthz"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return checkHealth(ctx, cmd.OutOrStdout(), base, path)
		},
	}
	def := strings.TrimPrefix(DefaultAdminURL, "http://")
	if v := os.Getenv("PRIVLINK_ADMIN_LISTEN"); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&admin, "admin", def, "admin API of the running privlink (host:port or URL; env PRIVLINK_ADMIN_LISTEN)")
	cmd.Flags().BoolVar(&live, "live", false, "check liveness (GET /healthz) instead of readiness (GET /readyz)")
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultHealthTimeout, "give up after this long")
	return cmd
}

// checkHealth performs one GET of base+path and reports the answer.
func checkHealth(ctx context.Context, w io.Writer, base, path string) error {
	resp, err := get(ctx, base+path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(w, "privlink at %s: %s ok\n", strings.TrimPrefix(base, "http://"), path)
	return nil
}

// healthBase turns --admin into a base URL. A listen address such as
// 0.0.0.0:9480 is reached on loopback; "off" means there is nothing to ask.
func healthBase(admin string) (string, error) {
	if admin == "off" || admin == "" {
		return "", usageErr("--admin: the admin API is off; privlink health needs it (set admin.listen, e.g. 127.0.0.1:9480)")
	}
	base := strings.TrimRight(admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || u.Port() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", usageErr("--admin: %q is not host:port or an http URL", admin)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.IsUnspecified() {
		loop := netip.IPv6Loopback()
		if ip.Is4() {
			loop = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		u.Host = net.JoinHostPort(loop.String(), u.Port())
	}
	return u.Scheme + "://" + u.Host, nil
}
