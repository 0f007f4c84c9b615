package dns

import (
	"context"
	"testing"

	mdns "github.com/miekg/dns"
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
