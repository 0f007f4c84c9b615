package main

import (
	"encoding/json"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/gateway"
)

// s3ExplainFlags are the flags of explain for S3 requests through gateway
// endpoints.
type s3ExplainFlags struct {
	action, resource, principal, accessKey string
}

func (sf *s3ExplainFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.action, "action", "", "S3 or DynamoDB action through a gateway endpoint, e.g. s3:GetObject or dynamodb:GetItem: explain the endpoint policy's decision")
	f.StringVar(&sf.resource, "resource", "", "resource ARN of --action, e.g. arn:aws:s3:::my-bucket/key or arn:aws:dynamodb:us-east-1:111122223333:table/Music (default *)")
	f.StringVar(&sf.principal, "principal", "", "caller of --action: an IAM ARN (default: anonymous)")
	f.StringVar(&sf.accessKey, "access-key", "", "caller of --action: an access key ID from principals")
}

// run explains an S3 request: with --from its path too. Exit 0 when
// allowed, 1 when denied.
func (sf *s3ExplainFlags) run(cmd *cobra.Command, cf *configFlags, from, endpoint string, asJSON bool) error {
	q := gateway.Query{Action: sf.action, Resource: sf.resource, Endpoint: endpoint, Principal: sf.principal, AccessKey: sf.accessKey}
	if from != "" {
		ap, err := parseFromFlag(from)
		if err != nil {
			return err
		}
		q.From = ap
	}
	if sf.principal != "" && sf.accessKey != "" {
		return usageErr("give --principal or --access-key, not both")
	}
	cfg, err := cf.load(cmd)
	if err != nil {
		return err
	}
	r, err := gateway.Explain(cfg, q)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return report(cmd.OutOrStdout(), r, asJSON, r.Allowed)
}

// explainGatewayPath answers --from with --endpoint of a gateway endpoint
// and no --action: the path to its service (S3 or DynamoDB).
func explainGatewayPath(cmd *cobra.Command, cfg *config.Config, q acl.Query, asJSON bool) error {
	ev := acl.Compile(cfg)
	r, err := acl.ExplainGateway(ev, q.From, q.FromPort)
	if p := ev.GatewayOf(q.Endpoint); p != nil {
		r, err = acl.ExplainGatewayPath(ev, p, q.From, q.FromPort)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if r.Allowed && r.Endpoint != q.Endpoint {
		r.Allowed = false
		r.Suggestions = append(r.Suggestions, "the client's route leads to "+r.Endpoint+", not to "+q.Endpoint)
	}
	return report(cmd.OutOrStdout(), r, asJSON, r.Allowed)
}

// textReport is a report that writes itself for people.
type textReport interface{ WriteText(io.Writer) error }

// report prints r as text or JSON; a denial exits 1.
func report(w io.Writer, r textReport, asJSON, allowed bool) error {
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
	if !allowed {
		return quiet(1)
	}
	return nil
}

func parseFromFlag(from string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(from); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(from)
	if err != nil {
		return netip.AddrPort{}, usageErr("--from: %q is not an IP address or IP:PORT", from)
	}
	return netip.AddrPortFrom(a, 0), nil
}
