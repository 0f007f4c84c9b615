package inspect_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/privlink/privlink/proxy/inspect"
)

// benchSidecar starts a sidecar for a benchmark, forwarding to upstream
// (echo mode when empty).
func benchSidecar(b *testing.B, upstream string) *inspect.Server {
	b.Helper()
	srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0", Upstream: upstream, Require: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// sink accepts connections and discards what they send.
func sink(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	b.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// BenchmarkConnectEcho is one connection per op: header and 64 bytes in,
// 64 bytes echoed, close.
func BenchmarkConnectEcho(b *testing.B) {
	srv := benchSidecar(b, "")
	msg := append(privlinkProxy(), make([]byte, 64)...)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}

// BenchmarkUpload streams 64 KiB writes through the sidecar to a sink, and
// directly to the sink for comparison.
func BenchmarkUpload(b *testing.B) {
	chunk := make([]byte, 64<<10)
	for _, via := range []string{"direct", "sidecar"} {
		b.Run(via, func(b *testing.B) {
			addr := sink(b)
			if via == "sidecar" {
				addr = benchSidecar(b, addr).Addr().String()
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if via == "sidecar" {
				if _, err := c.Write(privlinkProxy()); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSlowSenderMemory parks 1,000 senders inside their header (10 of
// 54 bytes sent) and reports the heap and stack they hold per sender.
func BenchmarkSlowSenderMemory(b *testing.B) {
	const n = 1000
	for b.Loop() {
		core, logs := observer.New(zap.DebugLevel)
		srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0", HeaderTimeout: time.Minute, Logger: zap.New(core)})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		before := inUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			if _, err := c.Write(privlinkProxy()[:10]); err != nil {
				b.Fatal(err)
			}
		}
		for deadline := time.Now().Add(time.Minute); logs.FilterMessage("PROXY header incomplete; waiting for the rest").Len() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("senders not parked")
			}
		}
		logs.TakeAll()
		b.ReportMetric(float64(inUse()-before)/n, "B/sender")
		for _, c := range conns {
			_ = c.Close()
		}
		_ = srv.Shutdown(context.Background())
	}
}

// inUse is the heap and stack memory in use after a collection.
func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
