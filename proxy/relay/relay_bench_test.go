package relay

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkRelayNoFault is the relay's path for flows without toxics,
// measured against its baseline in the same run: a direct loopback
// connection carrying the same traffic. Read it as the ratio relay/direct
// (the fault toxics must leave it unchanged: compare the ratio on
// main and on a branch, both printed by one command each).
//   - echo64: 64-byte request/response round trips on one connection;
//   - bulk: 256 KiB writes one way to a reader that discards them.
func BenchmarkRelayNoFault(b *testing.B) {
	for _, relayed := range []bool{false, true} {
		name := "direct"
		if relayed {
			name = "relay"
		}
		b.Run(name+"/echo64", func(b *testing.B) { benchEcho(b, benchConn(b, relayed, true)) })
		b.Run(name+"/bulk", func(b *testing.B) { benchBulk(b, benchConn(b, relayed, false)) })
	}
}

// benchConn is the client end of a connection whose far end echoes (or
// discards), directly or through a flow of a fresh engine.
func benchConn(b *testing.B, relayed, echo bool) *net.TCPConn {
	client, server := tcpPair(b)
	if relayed {
		a := server
		bb, s := tcpPair(b)
		server = s
		e, err := New(Options{Loops: 1})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan *Flow, 1)
		e.Start(&Flow{A: a, B: bb, Owner: benchOwner(done)})
		b.Cleanup(func() { client.Close(); server.Close(); <-done; e.Close() })
	} else {
		b.Cleanup(func() { client.Close() })
	}
	go func() {
		defer server.Close()
		if echo {
			io.Copy(server, server)
		} else {
			io.Copy(io.Discard, server)
		}
	}()
	client.SetDeadline(time.Now().Add(time.Minute))
	return client
}

type benchOwner chan *Flow

func (o benchOwner) AppendHeader(b []byte) []byte { return b }
func (o benchOwner) FlowDone(f *Flow)             { o <- f }
func (o benchOwner) FlowExpired(*Flow)            {}
func (o benchOwner) FlowELBReset(*Flow)           {}

func benchEcho(b *testing.B, c *net.TCPConn) {
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBulk(b *testing.B, c *net.TCPConn) {
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPump drives one direction of a flow by hand on a loop that is
// not running, so no goroutine hand-off blurs it: a 64-byte write into A,
// the direction's pump (read, write to B), the read at B's peer. Its
// baseline, in the same run, is the same write and read on a direct
// connection; pump/direct is the relay's own cost for a flow without
// toxics.
func BenchmarkPump(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		c, s := tcpPair(b)
		defer c.Close()
		defer s.Close()
		benchRoundTrip(b, c, s, func() {})
	})
	b.Run("pump", func(b *testing.B) {
		e := &Engine{opts: Options{Tick: 100 * time.Millisecond, MaxPipes: 4}}
		l, err := newLoop(e)
		if err != nil {
			b.Fatal(err)
		}
		defer l.close()
		client, a := tcpPair(b)
		bb, server := tcpPair(b)
		defer client.Close()
		defer server.Close()
		f := &Flow{A: a, B: bb, Owner: benchOwner(make(chan *Flow, 1))}
		f.l = l
		e.flows.Add(1) // as Engine.Start admits it
		l.start(f)
		defer f.abort(ErrClosed, false)
		benchRoundTrip(b, client, server, func() {
			f.a.readable = true
			f.ab.pump()
		})
	})
}

func benchRoundTrip(b *testing.B, in, out *net.TCPConn, step func()) {
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		in.Write(msg)
		step()
		if _, err := io.ReadFull(out, buf); err != nil {
			b.Fatal(err)
		}
	}
}
