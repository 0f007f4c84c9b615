package dns

import (
	"context"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"
	"go.uber.org/zap"
)

// advertisedUDPSize is the EDNS0 payload size privlink offers (the DNS
// flag day 2020 value, which fits any path's MTU).
const advertisedUDPSize = 1232

// maxUDPSize bounds the size of a UDP answer whatever a client advertises.
const maxUDPSize = 4096

// ServeDNS answers one query (mdns.Handler).
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	reply := s.Answer(s.ctx, req, tcp)
	s.m.count(reply.Rcode) // before the write: a client that has its answer sees it counted
	if err := w.WriteMsg(reply); err != nil {
		s.m.writeErrors.Inc()
		s.log.Warn("DNS answer not sent", zap.Bool("tcp", tcp), zap.Error(err))
	}
}

// Answer computes the reply to req, received over TCP or UDP: from the
// zone for privlink's names, else from the upstream. The reply fits the
// transport (UDP: 512 bytes, or the client's EDNS0 size up to 4096; the
// TC bit tells the client to ask again over TCP).
func (s *Server) Answer(ctx context.Context, req *mdns.Msg, tcp bool) *mdns.Msg {
	reply := s.answer(ctx, req, tcp)
	reply.Truncate(replySize(req, tcp))
	return reply
}

func (s *Server) answer(ctx context.Context, req *mdns.Msg, tcp bool) *mdns.Msg {
	switch {
	case req.Response:
		return fail(req, mdns.RcodeFormatError)
	case req.Opcode != mdns.OpcodeQuery:
		return fail(req, mdns.RcodeNotImplemented)
	case len(req.Question) != 1:
		return fail(req, mdns.RcodeFormatError)
	}
	z := s.zone.Load()
	q := req.Question[0]
	r, zone, owned := z.Lookup(q.Name)
	if !owned {
		return s.forward(ctx, req, tcp)
	}
	m := reply(req)
	m.Authoritative = true
	switch {
	case q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY:
		m.Rcode = mdns.RcodeRefused
	case r == nil:
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{soa(zone, z.ttl)}
	case q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY:
		m.Answer = s.records(q.Name, r, z.ttl)
	default: // AAAA and the rest: the name exists, the type does not (NODATA)
		m.Ns = []mdns.RR{soa(zone, z.ttl)}
	}
	return m
}

// reply starts a reply to req, with an OPT record when req has one.
func reply(req *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg).SetReply(req)
	m.RecursionAvailable = true
	if req.IsEdns0() != nil {
		m.SetEdns0(advertisedUDPSize, false)
	}
	return m
}

func fail(req *mdns.Msg, rcode int) *mdns.Msg {
	m := reply(req)
	m.Rcode = rcode
	return m
}

// records are the A records of r, named as the question asked (case kept),
// without the interfaces that are out (SetOutages; unless all are).
func (s *Server) records(qname string, r *Record, ttl uint32) []mdns.RR {
	down := *s.down.Load()
	rrs := make([]mdns.RR, 0, len(r.Addrs))
	for pass := 0; pass < 2 && len(rrs) == 0; pass++ {
		for i, a := range r.Addrs {
			if pass == 0 && r.Kind != Zonal && down[Outage{r.Endpoint, r.AZs[i]}] {
				continue
			}
			rrs = append(rrs, aRecord(qname, a, ttl))
		}
	}
	return rrs
}

func aRecord(name string, a netip.Addr, ttl uint32) mdns.RR {
	return &mdns.A{Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl}, A: a.AsSlice()}
}

// soa is the zone's SOA for negative answers; its minimum (the negative
// caching TTL of RFC 2308) is the zone's TTL, so that a name added by a
// reload is seen as soon as a positive answer would be.
func soa(zone string, ttl uint32) mdns.RR {
	return &mdns.SOA{Hdr: mdns.RR_Header{Name: mdns.Fqdn(zone), Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns: "privlink.invalid.", Mbox: "hostmaster.privlink.invalid.", Serial: 1,
		Refresh: 7200, Retry: 900, Expire: 1209600, Minttl: ttl}
}

// replySize is the largest reply the client can take on its transport.
func replySize(req *mdns.Msg, tcp bool) int {
	if tcp {
		return mdns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		return min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDPSize)
	}
	return mdns.MinMsgSize
}

// accept wraps miekg's checks of a query's header and counts the queries
// it refuses before the handler sees them.
func (s *Server) accept(h mdns.Header) mdns.MsgAcceptAction {
	act := mdns.DefaultMsgAcceptFunc(h)
	switch act {
	case mdns.MsgReject:
		s.m.count(mdns.RcodeFormatError)
	case mdns.MsgRejectNotImplemented:
		s.m.count(mdns.RcodeNotImplemented)
	}
	return act
}

// invalid counts a message that could not be parsed; miekg answers it
// FORMERR unless it is shorter than a header (no answer then).
func (s *Server) invalid(m []byte, err error) {
	if len(m) >= 12 {
		s.m.count(mdns.RcodeFormatError)
	}
	s.log.Debug("malformed DNS message", zap.Int("bytes", len(m)), zap.Error(err))
}
