package acl

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/privlink/privlink/config"
)

// ErrGatewayEndpoint is returned by Explain for a gateway endpoint: its
// path is explained by ExplainGateway.
var ErrGatewayEndpoint = errors.New("acl: a gateway endpoint")

// ErrNoS3 is returned by ExplainGateway when the configuration has no S3
// endpoint.
var ErrNoS3 = errors.New("acl: no S3 endpoint (s3.listen) is configured")

// GatewayReport answers whether a client reaches the S3 (or DynamoDB)
// endpoint, and through which gateway endpoint.
type GatewayReport struct {
	From        string      `json:"from"`
	Service     string      `json:"service"`            // S3 or DynamoDB
	S3          string      `json:"s3,omitempty"`       // the S3 endpoint's address
	DynamoDB    string      `json:"dynamodb,omitempty"` // the DynamoDB endpoint's address
	PrefixList  string      `json:"prefix_list"`
	Subnet      string      `json:"subnet"`
	AZ          string      `json:"az"`
	RouteTable  string      `json:"route_table"`
	Endpoint    string      `json:"endpoint"` // the gateway endpoint ("" when there is no route)
	ClientPorts string      `json:"client_ports"`
	Allowed     bool        `json:"allowed"`
	Hops        []HopReport `json:"hops"`
	Suggestions []string    `json:"suggestions"`
}

// ExplainGateway evaluates every hop from a client (fromPort 0: the Linux
// ephemeral range) to the S3 endpoint.
func ExplainGateway(e *Evaluator, from netip.Addr, fromPort uint16) (*GatewayReport, error) {
	if e.gateway == nil {
		return nil, ErrNoS3
	}
	return ExplainGatewayPath(e, e.gateway, from, fromPort)
}

// ExplainGatewayPath evaluates every hop from a client to the endpoint of
// a compiled gateway path (Gateway, DynamoDBGateway).
func ExplainGatewayPath(e *Evaluator, p *GatewayPath, from netip.Addr, fromPort uint16) (*GatewayReport, error) {
	if !from.IsValid() {
		return nil, errors.New("acl: the source address (from) is required")
	}
	from = from.Unmap()
	rt := p.Route(from)
	r := &GatewayReport{From: from.String(), Service: p.Service, PrefixList: p.PrefixList, Subnet: rt.Subnet, AZ: rt.AZ,
		RouteTable: rt.RouteTable, Endpoint: rt.Endpoint, Allowed: true, Suggestions: []string{}}
	if p.Service == "DynamoDB" {
		r.DynamoDB = p.Addr.String()
	} else {
		r.S3 = p.Addr.String()
	}
	cFrom, cTo := LinuxEphemeralFrom, LinuxEphemeralTo
	if fromPort != 0 {
		cFrom, cTo = fromPort, fromPort
		r.From = netip.AddrPortFrom(from, fromPort).String()
	}
	r.ClientPorts = portsText(cFrom, cTo)
	c := &p.class[p.classes.lookup(from)]
	s3, port := p.Addr.Addr(), p.Addr.Port()
	flows := [len(gatewayHops)]flow{{from, port, port}, {s3, port, port}, {s3, port, port}, {s3, cFrom, cTo}}
	nums := newRuleNumbers()
	for i, h := range c.hops {
		hr := e.explainHop(h, gatewayHops[i], flows[i], nil, nums)
		if hr.Verdict == Deny {
			r.Allowed = false
			hr.Suggestion = e.gatewaySuggestion(h, hr, p, rt)
		}
		r.Hops = append(r.Hops, hr)
		if hr.Suggestion != "" {
			r.Suggestions = append(r.Suggestions, hr.Suggestion)
		}
	}
	return r, nil
}

// gatewaySuggestion replaces the generic fix where the gateway path has a
// better one: a route, or an egress rule naming the prefix list.
func (e *Evaluator) gatewaySuggestion(h *hopEval, hr HopReport, p *GatewayPath, rt GatewayRoute) string {
	switch hr.Hop {
	case HopRouteTable:
		gw := "vpce-..."
		for _, ep := range e.cfg.Endpoints {
			if ep.IsGateway() && e.GatewayOf(ep.ID) == p {
				gw = ep.ID
				break
			}
		}
		list := strings.ToLower(p.Service)
		switch {
		case rt.Subnet == "":
			return "put the client's address in a subnet whose route table leads to a gateway endpoint"
		case rt.RouteTable == "":
			return fmt.Sprintf("associate %s with a route table (route_tables[].subnets) that has {prefix_list: %s, gateway_endpoint: %s}", rt.Subnet, list, gw)
		}
		return fmt.Sprintf("add %s to the route_tables of gateway endpoint %s (or the route {prefix_list: %s, gateway_endpoint: %s} to %s)",
			rt.RouteTable, gw, list, gw, rt.RouteTable)
	case HopClientSGEgress:
		res := h.eval(netip.Addr{}, 0)
		group, _, _ := strings.Cut(res.Object, ",")
		return fmt.Sprintf("no rule of %s allows traffic to %s (%s) on port %d; add to security group %s egress: {protocol: tcp, ports: \"%d\", destination_prefix_list: %s}",
			res.Object, p.Service, p.Addr.Addr(), p.Addr.Port(), group, p.Addr.Port(), p.PrefixList)
	}
	return hr.Suggestion
}

// WriteText writes the report as an aligned table with the verdict.
func (r *GatewayReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	via := "no gateway endpoint"
	if r.Endpoint != "" {
		via = "gateway endpoint " + r.Endpoint
	}
	addr, service := r.S3, r.Service
	if r.DynamoDB != "" {
		addr = r.DynamoDB
	}
	if service == "" {
		service = "S3"
	}
	fmt.Fprintf(ew, "from %s to %s %s (%s) through %s\n", r.From, service, addr, r.PrefixList, via)
	fmt.Fprintf(ew, "client subnet %s (%s), route table %s, client ports %s\n", dash(r.Subnet), dash(r.AZ), dash(r.RouteTable), r.ClientPorts)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOP\tSUBNET/CLIENT\tRULE\tVERDICT")
	rows(tw, r.Hops, "  ")
	tw.Flush()
	fmt.Fprintf(ew, "path: %s\n", word(r.Allowed))
	for _, s := range r.Suggestions {
		fmt.Fprintf(ew, "suggestion: %s\n", s)
	}
	return ew.err
}

// isGateway reports whether id names a gateway endpoint of cfg.
func isGateway(cfg *config.Config, id string) bool {
	for i := range cfg.Endpoints {
		if cfg.Endpoints[i].ID == id {
			return cfg.Endpoints[i].IsGateway()
		}
	}
	return false
}
