package dns

import (
	"context"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkAnswer is the handler's work for one A query of a regional
// name, without the socket.
func BenchmarkAnswer(b *testing.B) {
	s, err := New(Compile(testConfig(b)), Options{Upstream: "off"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	req := new(mdns.Msg).SetQuestion(name(regionalName)+".", mdns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Answer(ctx, req, false); len(r.Answer) != 2 {
			b.Fatal(r)
		}
	}
}
