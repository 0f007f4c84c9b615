package privlinktest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/conntrack"
	"github.com/privlink/privlink/proxy"
)

// WaitHealthy waits until every registered target is healthy (targets of
// groups without health checks are healthy at once); draining targets
// (deregistered) and unused ones (in an AZ without a node) never will be,
// and are not waited for. It polls the
// instance's state, so nothing needs to sleep; when ctx ends first, the
// error lists each target that is not healthy with its state and AWS
// reason code.
func (in *Instance) WaitHealthy(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		sick := unhealthy(in.srv.Targets())
		if len(sick) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("privlinktest: targets not healthy: %s: %w", strings.Join(sick, "; "), ctx.Err())
		case <-tick.C:
		}
	}
}

func unhealthy(ts []proxy.TargetInfo) []string {
	var out []string
	for _, t := range ts {
		switch t.State {
		case proxy.StateHealthy, proxy.StateDraining, proxy.StateUnused:
		default:
			out = append(out, fmt.Sprintf("%s %s %s (%s %s)", t.TargetGroup, t.Target, t.AZ, t.State, t.Reason))
		}
	}
	return out
}

// Addr returns the address a client connects to for endpoint's interface
// in az (an AZ ID such as use1-az1; "" = the first interface) on listener
// port (0 = the first listener). The error names what does not exist: the
// endpoint, an interface in az, or a listener on port.
func (in *Instance) Addr(endpoint, az string, port uint16) (netip.AddrPort, error) {
	ap, err := in.srv.EndpointAddr(endpoint, az, port)
	if err != nil {
		return ap, fmt.Errorf("privlinktest: %w", err)
	}
	return ap, nil
}

// DialOption tunes Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	from string
	az   string
}

// From dials from the client address ip, as the topology writes it
// ("127.0.1.50"). The default client is the last address of the endpoint
// interface's subnet (127.0.1.254 for 127.0.1.0/24): a host beside the
// endpoint.
func From(ip string) DialOption { return func(o *dialOptions) { o.from = ip } }

// InAZ dials the endpoint's interface in az (an AZ ID) instead of its first.
func InAZ(az string) DialOption { return func(o *dialOptions) { o.az = az } }

// Dial connects to endpoint's listener port (0 = its first) as a client
// would, and t.Cleanup closes the connection. A denied client sees what
// the topology's deny_action says: with reset, Dial or the first read
// fails with "connection reset" (the RST may follow the handshake); with
// drop (AWS's), the connection opens and stays silent: a read blocks until
// its deadline.
func (in *Instance) Dial(ctx context.Context, endpoint string, port uint16, opts ...DialOption) (*net.TCPConn, error) {
	var o dialOptions
	for _, f := range opts {
		f(&o)
	}
	addr, err := in.Addr(endpoint, o.az, port)
	if err != nil {
		return nil, err
	}
	from, err := in.clientAddr(o, endpoint, addr)
	if err != nil {
		return nil, err
	}
	c, err := dialer(from).DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("privlinktest: dial %s from %s: %w", addr, from, err)
	}
	in.t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), nil
}

// clientAddr is the address Dial connects from.
func (in *Instance) clientAddr(o dialOptions, endpoint string, iface netip.AddrPort) (netip.Addr, error) {
	if o.from != "" {
		return in.moveAddr(o.from)
	}
	cfg := in.Config()
	for _, ep := range in.srv.Endpoints() {
		for _, ii := range ep.Interfaces {
			if ep.ID == endpoint && ii.IP == iface.Addr() {
				if sn := cfg.Subnet(ii.Subnet); sn != nil {
					return lastHost(sn.CIDR), nil
				}
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("privlinktest: endpoint %s: no subnet for interface %s", endpoint, iface.Addr())
}

// lastHost is the last address of p before its broadcast address.
func lastHost(p netip.Prefix) netip.Addr {
	return offset(p.Masked(), 1<<(32-p.Bits())-2)
}

// Resolver returns a resolver that asks the instance's DNS server, so a
// test can dial an endpoint by name (net.Dialer{Resolver: in.Resolver()}).
// With DNS off, every lookup fails saying so.
func (in *Instance) Resolver() *net.Resolver { return in.srv.Resolver() }

// DNSAddr is the DNS server's address, or the zero AddrPort when it is off.
func (in *Instance) DNSAddr() netip.AddrPort { return in.srv.DNSAddr() }

// Conns returns the tracked connections, as GET /v1/connections lists
// them, in ID order.
func (in *Instance) Conns() []conntrack.View { return in.srv.Conns(conntrack.Filter{}) }

// Explain reports, hop by hop, whether the client from (an IP or IP:PORT
// as the topology writes it) reaches endpoint's listener port (0 = every
// listener), weighing the running state, as `privlink explain` and GET
// /v1/explain do. A denial's report names the rule that denied and, in
// Suggestions, the rule that would fix it.
func (in *Instance) Explain(from, endpoint string, port uint16) (*acl.Report, error) {
	q := acl.Query{Endpoint: endpoint, Port: port}
	ip := from
	if ap, err := netip.ParseAddrPort(from); err == nil {
		ip, q.FromPort = ap.Addr().String(), ap.Port()
	}
	a, err := in.moveAddr(ip)
	if err != nil {
		return nil, err
	}
	q.From = a
	rep, err := in.srv.Explain(q)
	if err != nil {
		return nil, fmt.Errorf("privlinktest: explain: %w (endpoints: %s)", err, strings.Join(in.endpointIDs(), ", "))
	}
	return rep, nil
}

func (in *Instance) endpointIDs() []string {
	var ids []string
	for _, e := range in.srv.Endpoints() {
		ids = append(ids, e.ID)
	}
	return slices.Clip(ids)
}
