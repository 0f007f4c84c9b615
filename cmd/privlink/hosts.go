package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
	"github.com/privlink/privlink/proxy/dns"
)

func newHostsCmd() *cobra.Command {
	cf := &configFlags{}
	cmd := &cobra.Command{
		Use:   "hosts [-c FILE]",
		Short: "Print an /etc/hosts block of every endpoint DNS name",
		Long: "Print the endpoints' DNS names (regional, zonal and, where private DNS is enabled, the\n" +
			"service's private name) as /etc/hosts lines, one per interface IP, for hosts and containers\n" +
			"that cannot use privlink's DNS server:  privlink hosts -c FILE | sudo tee -a /etc/hosts",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load(cmd)
			if err != nil {
				return err
			}
			if err := dns.WriteHosts(cmd.OutOrStdout(), dns.Compile(cfg)); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cf.register(cmd, false)
	return cmd
}

// resolveTo turns explain's --to NAME[:PORT] into the endpoint, AZ (for a
// zonal name) and port of the query, from the configuration offline.
func resolveTo(cfg *config.Config, q acl.Query, to string) (acl.Query, error) {
	q, err := dns.ExplainTo(cfg, q, to)
	switch {
	case errors.Is(err, dns.ErrUnknownName):
		return q, &exitError{code: 1, err: err}
	case err != nil:
		return q, usageErr("--to: %v", err)
	}
	return q, nil
}

// printDNSBanner tells a human how to ask privlink's DNS server.
func printDNSBanner(w io.Writer, srv *proxy.Server) {
	dnsBanner(w, srv.DNSAddr(), srv.Endpoints())
}

// dnsBanner names the first endpoint that has DNS names in its dig hint
// (an S3 interface endpoint has none).
func dnsBanner(w io.Writer, addr netip.AddrPort, eps []proxy.EndpointInfo) {
	if !addr.IsValid() {
		return
	}
	for _, ep := range eps {
		if len(ep.DNSEntries) > 0 {
			fmt.Fprintf(w, "  DNS server: %s (UDP and TCP)  try: dig @%s -p %d %s\n", addr, addr.Addr(), addr.Port(), ep.DNSEntries[0].DNSName)
			return
		}
	}
	fmt.Fprintf(w, "  DNS server: %s (UDP and TCP)\n", addr)
}
