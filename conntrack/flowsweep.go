package conntrack

import (
	"net/netip"
	"sync"
	"time"
)

// Per-packet header bytes added to payload bytes in flow-log records (flow
// logs count whole IP packets): IPv4 or IPv6 header, TCP header with the
// timestamp option Linux sends. An approximation: SYNs carry more options.
const (
	headerBytes4 = 20 + 32
	headerBytes6 = 40 + 32
)

// flowState is what the flow logger has reported of an entry; mu orders
// the interval sweep against the final records of Remove.
type flowState struct {
	mu       sync.Mutex
	done     bool
	reported Sample
	since    time.Time // the start of the next record (zero: the entry's start)
}

// Track makes fl log t's flows: every interval each live flow gets a record
// per direction and interface with the traffic of the interval, and on
// Remove the rest. A table has at most one logger.
func (fl *FlowLogger) Track(t *Table) {
	fl.mu.Lock()
	fl.tables = append(fl.tables, t)
	fl.mu.Unlock()
	t.fl.Store(fl)
}

// Register makes an interface known before it carries traffic, so it gets
// NODATA records. owner and az name it as ENIID does.
func (fl *FlowLogger) Register(owner, subnet, az string) {
	fl.Write(Record{Owner: owner, Subnet: subnet, AZ: az, kind: kindInterest})
}

// Sweep writes the interval records of every tracked live flow and ends
// the interval (NODATA for quiet interfaces). The logger calls it every
// Interval; tests call it directly.
func (fl *FlowLogger) Sweep() {
	fl.mu.Lock()
	tables := append([]*Table(nil), fl.tables...)
	fl.mu.Unlock()
	now := fl.opts.Now()
	var es []*Entry
	for _, t := range tables {
		es = t.entries(Filter{}, es[:0])
		for _, e := range es {
			fl.record(e, e.sample(), now, false, 0)
		}
	}
	fl.Write(Record{End: now, kind: kindTick})
}

// final writes e's last records on Remove.
func (fl *FlowLogger) final(e *Entry, s Sample, prev State) {
	fl.record(e, s, fl.opts.Now(), true, prev)
}

// record writes the traffic of e since its last records, per direction on
// the endpoint interface and the node interface.
func (fl *FlowLogger) record(e *Entry, s Sample, now time.Time, last bool, prev State) {
	e.fl.mu.Lock()
	defer e.fl.mu.Unlock()
	if e.fl.done || e.State() == StateDenied || prev == StateDenied {
		return
	}
	e.fl.done = last
	first := e.fl.since.IsZero()
	start := e.fl.since
	if first {
		start = e.Start
	}
	d := delta(s, e.fl.reported)
	e.fl.reported, e.fl.since = s, now
	var fin uint8
	if last && prev != StateExpired {
		fin = FlagFIN
	}
	syn, synack := uint8(0), uint8(0)
	if first {
		syn, synack = FlagSYN, FlagSYN|FlagACK
	}
	base := Record{Start: start, End: now, Action: ActionAccept, AZ: e.AZ}
	iface, node := base, base
	iface.Owner, iface.Subnet = e.Endpoint, e.Subnet
	node.Owner, node.Subnet = e.Service, e.NodeSubnet
	fl.dir(iface, e.Client, e.Iface, Ingress, d.Client.PktsIn, d.Client.BytesIn, syn|fin)
	fl.dir(iface, e.Iface, e.Client, Egress, d.Client.PktsOut, d.Client.BytesOut, synack|fin)
	if e.Node.Addr().IsValid() {
		fl.dir(node, e.Node, e.Target, Egress, d.Target.PktsOut, d.Target.BytesOut, syn|fin)
		fl.dir(node, e.Target, e.Node, Ingress, d.Target.PktsIn, d.Target.BytesIn, synack|fin)
	}
}

// dir writes one direction's record unless nothing moved.
func (fl *FlowLogger) dir(r Record, src, dst netip.AddrPort, dir FlowDirection, pkts, payload uint64, flags uint8) {
	if pkts == 0 && payload == 0 {
		return
	}
	r.Src, r.Dst, r.Direction, r.Packets, r.TCPFlags = src, dst, dir, pkts, flags
	r.Bytes = payload + pkts*headerBytes(src)
	fl.Write(r)
}

func headerBytes(ap netip.AddrPort) uint64 {
	if ap.Addr().Unmap().Is4() {
		return headerBytes4
	}
	return headerBytes6
}

// synBytes is the size of a SYN: 40 bytes of TCP header with options
// (60 bytes over IPv4).
func synBytes(ap netip.AddrPort) uint64 { return headerBytes(ap) - 32 + 40 }

func delta(now, before Sample) Sample {
	sub := func(a, b Counters) Counters {
		return Counters{
			BytesIn: a.BytesIn - min(a.BytesIn, b.BytesIn), BytesOut: a.BytesOut - min(a.BytesOut, b.BytesOut),
			PktsIn: a.PktsIn - min(a.PktsIn, b.PktsIn), PktsOut: a.PktsOut - min(a.PktsOut, b.PktsOut),
		}
	}
	return Sample{Client: sub(now.Client, before.Client), Target: sub(now.Target, before.Target)}
}

// Hop is where a flow was denied, as far as flow logs show it: the
// endpoint interface (consumer-side rules) or the node interface
// (provider-side rules; the target's own interface is not logged).
type Hop uint8

const (
	HopInterface Hop = iota + 1
	HopNode
)

// Reject writes the REJECT record of a flow denied at hop. With reply set,
// the request was allowed and its reply denied (a stateless NACL without
// the return rule): an ACCEPT record for the request, a REJECT for the
// reply, as AWS shows it. One packet (the SYN or SYN-ACK) each.
func (fl *FlowLogger) Reject(e *Entry, hop Hop, reply bool) {
	now := fl.opts.Now()
	r := Record{Start: now, End: now, AZ: e.AZ, Packets: 1}
	// The request arrives at the endpoint interface, or leaves the node.
	out, back := e.Client, e.Iface
	reqDir, respDir := Ingress, Egress
	r.Owner, r.Subnet = e.Endpoint, e.Subnet
	if hop == HopNode {
		out, back = e.Node, e.Target
		reqDir, respDir = Egress, Ingress
		r.Owner, r.Subnet = e.Service, e.NodeSubnet
	}
	req := r
	req.Src, req.Dst, req.Direction, req.TCPFlags = out, back, reqDir, FlagSYN
	req.Bytes = synBytes(out)
	req.Action = ActionReject
	if reply {
		req.Action = ActionAccept
		resp := req
		resp.Src, resp.Dst, resp.Direction, resp.TCPFlags, resp.Action = back, out, respDir, FlagSYN|FlagACK, ActionReject
		fl.Write(req)
		fl.Write(resp)
		return
	}
	fl.Write(req)
}

// PortAllocationError writes the record of a connection that found no
// free source port for its target: a REJECT of the node's SYN on the node
// interface, from the node IP with no port ("-") to the target.
func (fl *FlowLogger) PortAllocationError(e *Entry) {
	now := fl.opts.Now()
	src := netip.AddrPortFrom(e.Node.Addr(), 0)
	fl.Write(Record{
		Owner: e.Service, Subnet: e.NodeSubnet, AZ: e.AZ, Src: src, Dst: e.Target,
		Packets: 1, Bytes: synBytes(src), Start: now, End: now,
		Action: ActionReject, Direction: Egress, TCPFlags: FlagSYN,
	})
}
