package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/loadtest"
)

// The copy-path benchmarks compare, in one run, a direct connection to a
// built-in target with the same traffic through privlink (PROXY v2 on).
// Read them as ratios: privlink/direct (make bench prints both).

type benchRig struct {
	direct, proxied netip.AddrPort
	stop            func()
}

func newBenchRig(b *testing.B, mode loadtest.Mode) *benchRig {
	b.Helper()
	p := labNet()
	y := fmt.Sprintf(`
admin: {listen: "off"}
dns: {listen: "off"}
deny_action: reset
subnets:
  - {id: subnet-c1, az: use1-az1, cidr: %[1]s.1.0/24}
  - {id: subnet-p1, az: use1-az1, cidr: %[1]s.10.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-p1, ip: %[1]s.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        proxy_protocol_v2: true
        health_check: {enabled: false}
        # Runs of BenchmarkConnect open tens of thousands of connections in
        # seconds: the whole port range, reused after 2 s, so the budget
        # (55,000 per 60 s by default, as on AWS) is not what is measured.
        port_budget: 64512
        port_reuse_delay: 2s
        targets: [{ip: %[1]s.10.20, subnet: subnet-p1, builtin: %[2]s}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: %[1]s.1.10}]
`, p, mode)
	cfg, err := config.Parse("bench.yaml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := Start(cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	return &benchRig{
		direct:  netip.MustParseAddrPort(p + ".10.20:9443"),
		proxied: netip.MustParseAddrPort(p + ".1.10:8443"),
		stop:    func() { srv.Close() },
	}
}

func (r *benchRig) each(b *testing.B, fn func(b *testing.B, addr netip.AddrPort)) {
	defer r.stop()
	for _, c := range []struct {
		name string
		addr netip.AddrPort
	}{{"direct", r.direct}, {"privlink", r.proxied}} {
		b.Run(c.name, func(b *testing.B) { fn(b, c.addr) })
	}
}

// BenchmarkConnect: connect, 64-byte echo, close — the connection rate.
// The benchmarks below run the client in the proxy's process: the relay's
// loops block in epoll_pwait holding processors the client's goroutines
// then wait for, so their latency is higher than a separate client sees
// (docs/performance.md); they are for allocations and code-path changes.
func BenchmarkConnect(b *testing.B) {
	newBenchRig(b, loadtest.ModeEcho).each(b, func(b *testing.B, addr netip.AddrPort) {
		b.SetParallelism(4)
		var next atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			msg, buf := make([]byte, 64), make([]byte, 64)
			for pb.Next() {
				// Clients spread over 127.95.0.0/16 so that TIME_WAIT sockets
				// of one address never run out its ports across runs.
				n := next.Add(1)
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 95, byte(n>>8), byte(n))}}
				c, err := d.Dial("tcp", addr.String())
				if err != nil {
					b.Error(err)
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
				}
				c.Close()
			}
		})
	})
}

// BenchmarkEcho: 64-byte request/response on persistent connections.
func BenchmarkEcho(b *testing.B) {
	newBenchRig(b, loadtest.ModeEcho).each(b, func(b *testing.B, addr netip.AddrPort) {
		b.SetParallelism(2) // 4 connections on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			for pb.Next() {
				c.Write(msg)
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkUpload: bulk bytes client → target (a sink) over 4 connections.
func BenchmarkUpload(b *testing.B) {
	const chunk = 256 << 10
	newBenchRig(b, loadtest.ModeSink).each(b, func(b *testing.B, addr netip.AddrPort) {
		b.SetBytes(chunk)
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		work := make(chan struct{}, 64)
		for range 4 {
			c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, chunk)
				for {
					select {
					case <-ctx.Done():
						return
					case _, ok := <-work:
						if !ok {
							return
						}
						if _, err := c.Write(buf); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}()
		}
		b.ResetTimer()
		for range b.N {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
	})
}
