package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/proxy"
)

func newExplainCmd() *cobra.Command {
	cf := &configFlags{}
	sf := &s3ExplainFlags{}
	var from, endpoint, to, admin string
	var port uint16
	var asJSON bool
	cmd := &cobra.Command{
		Use: "explain (-c FILE | --admin URL) --from IP[:PORT] (--endpoint ID | --to NAME[:PORT]) [--port P] [--json]\n" +
			"  privlink explain -c FILE --action s3:ACTION [--resource ARN] [--from IP] [--endpoint ID] [--principal ARN|--access-key AKID]",
		Short: "Explain whether a client can reach an endpoint, hop by hop (offline, or on a running privlink)",
		Long: "Evaluate security groups and network ACLs on every hop from a client to an endpoint and on to\n" +
			"its targets, as AWS would: the rule that decided each hop, the final verdict and, for a denial,\n" +
			"the rule that would fix it. Without :PORT the client's return path is checked for the whole\n" +
			"Linux ephemeral range 32768-60999. --to takes an endpoint DNS name instead of --endpoint: a\n" +
			"zonal name explains that AZ's interface only, a regional or private name every interface.\n" +
			"With --action, explain an S3 or DynamoDB request through a gateway endpoint (--action\n" +
			"s3:GetObject, dynamodb:GetItem): the client's route (with\n" +
			"--from), the endpoint policy's statements and the one that decided.\n" +
			"Exit 0 when allowed, 1 when denied.\n\n" +
			"Offline (-c FILE, or the embedded default) explains the configuration: the endpoint in the\n" +
			"state it starts in, every configured target. --admin URL asks a running privlink\n" +
			"(GET /v1/explain) and explains its running state: the endpoint's state (pendingAcceptance and\n" +
			"rejected deny at hop endpoint_state), the registered targets (from the file and the API) with\n" +
			"their health, draining, the target the flow hash picks for --from's port, and exhausted port pools.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			live := cmd.Flags().Changed("admin")
			if live && cf.path != "" {
				return usageErr("give -c FILE (offline) or --admin URL (a running privlink), not both")
			}
			if sf.action != "" {
				if live {
					return usageErr("--action explains offline (-c FILE); on a running privlink ask GET /v1/explain?action=...")
				}
				return sf.run(cmd, cf, from, endpoint, asJSON)
			}
			q, err := explainQuery(from, endpoint, to, port)
			if err != nil {
				return err
			}
			if live {
				r, allowed, err := explainLive(cmd.Context(), admin, q, to)
				if err != nil {
					return err
				}
				return report(cmd.OutOrStdout(), r, asJSON, allowed)
			}
			return explainOffline(cmd, cf, q, to, asJSON)
		},
	}
	cf.register(cmd, false)
	sf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "client address IP or IP:PORT (required)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint ID, e.g. vpce-0c1308d7312217abc (or --to)")
	cmd.Flags().StringVar(&to, "to", "", "an endpoint DNS name (regional, zonal or private), optionally NAME:PORT, instead of --endpoint")
	cmd.Flags().Uint16Var(&port, "port", 0, "listener port (default: every listener)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&admin, "admin", "", "explain on a running privlink: its admin API URL or host:port (e.g. "+DefaultAdminURL+")")
	return cmd
}

// explainOffline explains q on the configuration file (or the embedded
// default); a gateway endpoint gets the S3 path's report.
func explainOffline(cmd *cobra.Command, cf *configFlags, q acl.Query, to string, asJSON bool) error {
	cfg, err := cf.load(cmd)
	if err != nil {
		return err
	}
	if to != "" {
		if q, err = resolveTo(cfg, q, to); err != nil {
			return err
		}
	}
	r, err := acl.Explain(acl.Compile(cfg), q)
	if errors.Is(err, acl.ErrGatewayEndpoint) {
		return explainGatewayPath(cmd, cfg, q, asJSON)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	proxy.ExplainFaults(r, cfg.Faults)
	return report(cmd.OutOrStdout(), r, asJSON, r.Allowed)
}

// explainLive asks a running privlink's GET /v1/explain; a DNS name (to)
// is resolved there, on the running configuration. A gateway endpoint
// answers with the S3 path's report (it has a route table).
func explainLive(ctx context.Context, admin string, q acl.Query, to string) (textReport, bool, error) {
	base, err := adminURL(admin)
	if err != nil {
		return nil, false, err
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
		return nil, false, err
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, false, &exitError{code: 1, err: fmt.Errorf("/v1/explain: unexpected answer: %w", err)}
	}
	body, _ := json.Marshal(raw)
	if _, ok := raw["route_table"]; ok {
		var r acl.GatewayReport
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, false, &exitError{code: 1, err: fmt.Errorf("/v1/explain: unexpected answer: %w", err)}
		}
		return &r, r.Allowed, nil
	}
	var r acl.Report
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, &exitError{code: 1, err: fmt.Errorf("/v1/explain: unexpected answer: %w", err)}
	}
	return &r, r.Allowed, nil
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
