package main

import (
	"encoding/json"
	"errors"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
)

func newExplainCmd() *cobra.Command {
	cf := &configFlags{}
	sf := &s3ExplainFlags{}
	var from, endpoint string
	var port uint16
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain -c FILE --from IP[:PORT] --endpoint ID [--port P] [--json] | --action s3:ACTION [--resource ARN] [--from IP] [--endpoint ID] [--principal ARN|--access-key AKID]",
		Short: "Explain offline whether a client can reach an endpoint, hop by hop",
		Long: "Evaluate security groups and network ACLs on every hop from a client to an endpoint and on to\n" +
			"its targets, as AWS would: the rule that decided each hop, the final verdict and, for a denial,\n" +
			"the rule that would fix it. Without :PORT the client's return path is checked for the whole\n" +
			"Linux ephemeral range 32768-60999. With --action, explain an S3 request through a gateway endpoint:\n" +
			"the client's route (with --from), the endpoint policy's statements and the one that decided.\n" +
			"Exit 0 when allowed, 1 when denied.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sf.action != "" {
				return sf.run(cmd, cf, from, endpoint, asJSON)
			}
			q, err := explainQuery(from, endpoint, port)
			if err != nil {
				return err
			}
			cfg, err := cf.load(cmd)
			if err != nil {
				return err
			}
			r, err := acl.Explain(acl.Compile(cfg), q)
			if errors.Is(err, acl.ErrGatewayEndpoint) {
				return explainGatewayPath(cmd, cfg, q, asJSON)
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(r)
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if !r.Allowed {
				return quiet(1)
			}
			return nil
		},
	}
	cf.register(cmd, false)
	sf.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "client address IP or IP:PORT (required)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint ID, e.g. vpce-0c1308d7312217abc (required)")
	cmd.Flags().Uint16Var(&port, "port", 0, "listener port (default: every listener)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// explainQuery checks the flags of explain; problems are usage errors.
func explainQuery(from, endpoint string, port uint16) (acl.Query, error) {
	if from == "" {
		return acl.Query{}, usageErr("--from is required (the client's IP or IP:PORT)")
	}
	if endpoint == "" {
		return acl.Query{}, usageErr("--endpoint is required (an endpoint ID from the configuration)")
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
