package dns

import (
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// FuzzAnswer feeds the query handler arbitrary packets: whatever parses as
// a DNS message (miekg drops or FORMERRs the rest before any handler) gets
// a reply that packs, keeps the query's ID, fits the transport, and never
// holds more records than the zone has — no panic, no amplification.
func FuzzAnswer(f *testing.F) {
	seed := func(m *mdns.Msg, tcp bool) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, tcp)
	}
	seed(new(mdns.Msg).SetQuestion(name(regionalName)+".", mdns.TypeA), false)
	seed(new(mdns.Msg).SetQuestion("api.partner.example.", mdns.TypeAAAA), true)
	seed(new(mdns.Msg).SetQuestion("x.vpce.amazonaws.com.", mdns.TypeANY).SetEdns0(65535, true), false)
	two := new(mdns.Msg).SetQuestion("a.", mdns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	seed(two, false)
	resp := new(mdns.Msg).SetQuestion("a.", mdns.TypeA)
	resp.Response, resp.Opcode = true, mdns.OpcodeUpdate
	seed(resp, false)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, false) // a self-pointing name
	f.Add([]byte{}, false)

	s, err := New(Compile(testConfig(f)), Options{Upstream: "off"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	most := 0
	for _, r := range s.Zone().Records() {
		most = max(most, len(r.Addrs))
	}
	f.Fuzz(func(t *testing.T, raw []byte, tcp bool) {
		req := new(mdns.Msg)
		if req.Unpack(raw) != nil {
			return
		}
		r := s.Answer(context.Background(), req, tcp)
		out, err := r.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, r)
		}
		switch {
		case r.Id != req.Id || !r.Response:
			t.Fatalf("reply id %d response %v to query %d", r.Id, r.Response, req.Id)
		case len(out) > replySize(req, tcp):
			t.Fatalf("reply of %d bytes over a transport taking %d", len(out), replySize(req, tcp))
		case len(r.Answer) > most || len(r.Ns) > 1 || len(r.Extra) > 1:
			t.Fatalf("reply with %d/%d/%d records", len(r.Answer), len(r.Ns), len(r.Extra))
		}
	})
}

// FuzzServeUDP sends arbitrary datagrams to a running server over a real
// UDP socket: the bytes miekg cannot even parse (the path FuzzAnswer never
// reaches) included. Whatever comes back is a DNS message no larger than
// the transport allows the query (no amplification), and the server still
// answers the next query, with no goroutines left behind (bounded memory).
func FuzzServeUDP(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}) // a self-pointing name
	f.Add([]byte{0xff, 0xff, 0x80})                                           // shorter than a header
	f.Add([]byte{0, 2, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0})                   // 65535 questions, none there
	big, err := new(mdns.Msg).SetQuestion(name(regionalName)+".", mdns.TypeANY).SetEdns0(65535, true).Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(big)
	f.Add(append(big, 0xde, 0xad)) // trailing garbage

	s, err := Start(Compile(testConfig(f)), Options{Listen: testNet() + ".1:0", Upstream: "off", Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	base := runtime.NumGoroutine()
	var probeID uint16
	buf := make([]byte, 1<<16)
	// limits: the largest reply each query ID sent so far allows; a reply
	// may come after the next iteration's probe (miekg answers each
	// datagram on its own goroutine).
	limits := map[uint16]int{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4096 {
			return
		}
		limit := mdns.MinMsgSize
		req := new(mdns.Msg)
		if req.Unpack(raw) == nil {
			limit = replySize(req, false)
		}
		if len(raw) >= 2 {
			id := binary.BigEndian.Uint16(raw)
			limits[id] = max(limits[id], limit)
		}
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
		probeID++
		probe := new(mdns.Msg).SetQuestion(name(regionalName)+".", mdns.TypeA)
		probe.Id = 0xf000 | probeID&0x0fff
		p, _ := probe.Pack()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("no answer to a query after %x: %v", raw, err)
			}
			r := new(mdns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatalf("reply that does not parse (%d bytes): %v", n, err)
			}
			if r.Id == probe.Id && r.Response && len(r.Question) == 1 && r.Question[0].Name == probe.Question[0].Name {
				break
			}
			if lim, ok := limits[r.Id]; !ok || n > lim {
				t.Fatalf("reply of %d bytes with ID %d (sent: %x), over the %d its query allows", n, r.Id, raw, lim)
			}
		}
		if g := runtime.NumGoroutine(); g > base+50 {
			t.Fatalf("%d goroutines after the query, %d before the fuzzing", g, base)
		}
	})
}
