package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
)

func newExplainCmd() *cobra.Command {
	cf := &configFlags{}
	var from, endpoint, to, admin string
	var port uint16
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain (-c FILE | --admin URL) --from IP[:PORT] (--endpoint ID | --to NAME[:PORT]) [--port P] [--json]",
		Short: "Explain whether a client can reach an endpoint, hop by hop (offline, or on a running privlink)",
		Long: "Evaluate security groups and network ACLs on every hop from a client to an endpoint and on to\n" +
			"its targets, as AWS would: the rule that decided each hop, the final verdict and, for a denial,\n" +
			"the rule that would fix it. Without :PORT the client's return path is checked for the whole\n" +
			"Linux ephemeral range 32768-60999. --to takes an endpoint DNS name instead of --endpoint: a\n" +
			"zonal name explains that AZ's interface only, a regional or private name every interface.\n" +
			"Exit 0 when allowed, 1 when denied.\n\n" +
			"Offline (-c FILE, or the embedded default) explains the configuration: the endpoint in the\n" +
			"state it starts in, every configured target. --admin URL asks a running privlink\n" +
			"(GET /v1/explain) and explains its running state: the endpoint's state (pendingAcceptance and\n" +
			"rejected deny at hop endpoint_state), the registered targets (from the file and the API) with\n" +
			"their health, draining, the target the flow hash picks for --from's port, and exhausted port pools.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := explainQuery(from, endpoint, to, port)
			if err != nil {
				return err
			}
			var r *acl.Report
			if cmd.Flags().Changed("admin") {
				if cf.path != "" {
					return usageErr("give -c FILE (offline) or --admin URL (a running privlink), not both")
				}
				r, err = explainLive(cmd.Context(), admin, q, to)
			} else {
				r, err = explainOffline(cmd, cf, q, to)
			}
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), r, asJSON)
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "client address IP or IP:PORT (required)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint ID, e.g. vpce-0c1308d7312217abc (or --to)")
	cmd.Flags().StringVar(&to, "to", "", "an endpoint DNS name (regional, zonal or private), optionally NAME:PORT, instead of --endpoint")
	cmd.Flags().Uint16Var(&port, "port", 0, "listener port (default: every listener)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&admin, "admin", "", "explain on a running privlink: its admin API URL or host:port (e.g. "+DefaultAdminURL+")")
	return cmd
}

func explainOffline(cmd *cobra.Command, cf *configFlags, q acl.Query, to string) (*acl.Report, error) {
	cfg, err := cf.load(cmd)
	if err != nil {
		return nil, err
	}
	if to != "" {
		if q, err = resolveTo(cfg, q, to); err != nil {
			return nil, err
		}
	}
	r, err := acl.Explain(acl.Compile(cfg), q)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return r, nil
}

// explainLive asks a running privlink's GET /v1/explain; a DNS name (to)
// is resolved there, on the running configuration.
func explainLive(ctx context.Context, admin string, q acl.Query, to string) (*acl.Report, error) {
	base, err := adminURL(admin)
	if err != nil {
		return nil, err
	}
	v := url.Values{"from": {q.From.String()}}
	if to != "" {
		v.Set("to", to)
	} else {
		v.Set("endpoint", q.Endpoint)
	}
	if q.FromPort != 0 {
		v.Set("from", netip.AddrPortFrom(q.From, q.FromPort).String())
	}
	if q.Port != 0 {
		v.Set("port", strconv.Itoa(int(q.Port)))
	}
	resp, err := get(ctx, base+"/v1/explain?"+v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r acl.Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, &exitError{code: 1, err: fmt.Errorf("/v1/explain: unexpected answer: %w", err)}
	}
	return &r, nil
}

// printReport writes the report (text or JSON); a denial exits 1.
func printReport(w io.Writer, r *acl.Report, asJSON bool) error {
	var err error
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteText(w)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if !r.Allowed {
		return quiet(1)
	}
	return nil
}

// explainQuery checks the flags of explain; problems are usage errors.
func explainQuery(from, endpoint, to string, port uint16) (acl.Query, error) {
	if from == "" {
		return acl.Query{}, usageErr("--from is required (the client's IP or IP:PORT)")
	}
	switch {
	case endpoint == "" && to == "":
		return acl.Query{}, usageErr("--endpoint is required (an endpoint ID from the configuration), or --to with an endpoint DNS name")
	case endpoint != "" && to != "":
		return acl.Query{}, usageErr("give --endpoint or --to, not both")
	}
	q := acl.Query{Endpoint: endpoint, Port: port}
	if ap, err := netip.ParseAddrPort(from); err == nil {
		q.From, q.FromPort = ap.Addr(), ap.Port()
	} else if a, err := netip.ParseAddr(from); err == nil {
		q.From = a
	} else {
		return acl.Query{}, usageErr("--from: %q is not an IP address or IP:PORT", from)
	}
	return q, nil
}
