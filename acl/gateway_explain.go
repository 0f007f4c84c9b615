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

// GatewayReport answers whether a client reaches the S3 endpoint, and
// through which gateway endpoint.
type GatewayReport struct {
	From        string      `json:"from"`
	S3          string      `json:"s3"`
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
	p := e.gateway
	if p == nil {
		return nil, ErrNoS3
	}
	if !from.IsValid() {
		return nil, errors.New("acl: the source address (from) is required")
	}
	from = from.Unmap()
	rt := p.Route(from)
	r := &GatewayReport{From: from.String(), S3: p.S3.String(), PrefixList: p.PrefixList, Subnet: rt.Subnet, AZ: rt.AZ,
		RouteTable: rt.RouteTable, Endpoint: rt.Endpoint, Allowed: true, Suggestions: []string{}}
	cFrom, cTo := LinuxEphemeralFrom, LinuxEphemeralTo
	if fromPort != 0 {
		cFrom, cTo = fromPort, fromPort
		r.From = netip.AddrPortFrom(from, fromPort).String()
	}
	r.ClientPorts = portsText(cFrom, cTo)
	c := &p.class[p.classes.lookup(from)]
	s3, port := p.S3.Addr(), p.S3.Port()
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
			if ep.IsGateway() {
				gw = ep.ID
				break
			}
		}
		switch {
		case rt.Subnet == "":
			return "put the client's address in a subnet whose route table leads to a gateway endpoint"
		case rt.RouteTable == "":
			return fmt.Sprintf("associate %s with a route table (route_tables[].subnets) that has {prefix_list: s3, gateway_endpoint: %s}", rt.Subnet, gw)
		}
		return fmt.Sprintf("add %s to the route_tables of gateway endpoint %s (or the route {prefix_list: s3, gateway_endpoint: %s} to %s)",
			rt.RouteTable, gw, gw, rt.RouteTable)
	case HopClientSGEgress:
		res := h.eval(netip.Addr{}, 0)
		group, _, _ := strings.Cut(res.Object, ",")
		return fmt.Sprintf("no rule of %s allows traffic to S3 (%s) on port %d; add to security group %s egress: {protocol: tcp, ports: \"%d\", destination_prefix_list: %s}",
			res.Object, p.S3.Addr(), p.S3.Port(), group, p.S3.Port(), p.PrefixList)
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
	fmt.Fprintf(ew, "from %s to S3 %s (%s) through %s\n", r.From, r.S3, r.PrefixList, via)
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
