package loadtest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests in this file use 127.93.0.0/16.

// server is a raw TCP server for behaviours the Target does not have; it
// records the source address of every accepted connection.
type server struct {
	ln      *net.TCPListener
	mu      sync.Mutex
	sources map[netip.Addr]int
	conns   map[*net.TCPConn]struct{}
	wg      sync.WaitGroup
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) accepted() (n int, ips map[netip.Addr]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ips = map[netip.Addr]int{}
	for ip, k := range s.sources {
		ips[ip] = k
		n += k
	}
	return n, ips
}

func startServer(t *testing.T, ip string, handle func(*net.TCPConn)) *server {
	t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, sources: map[netip.Addr]int{}, conns: map[*net.TCPConn]struct{}{}}
	s.wg.Go(func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sources[c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()]++
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// startTargetOn serves a Target in mode on ip through a counting server.
func startTargetOn(t *testing.T, ip string, mode Mode) *server {
	t.Helper()
	tg := NewTarget(mode, nil)
	return startServer(t, ip, func(c *net.TCPConn) { tg.wg.Add(1); tg.serveConn(c) })
}

func run(t *testing.T, o Options) *Result {
	t.Helper()
	if o.Duration == 0 {
		o.Duration = 300 * time.Millisecond
	}
	res, err := Run(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		var b strings.Builder
		res.WriteText(&b)
		t.Log("\n" + b.String())
	}
	return res
}

func wantNoErrors(t *testing.T, res *Result) {
	t.Helper()
	if n := res.ErrorTotal(); n != 0 {
		t.Fatalf("%d errors: %v %v", n, res.Errors, res.ErrorSamples)
	}
}

func TestEchoModeVerifiesEveryMessage(t *testing.T) {
	s := startTargetOn(t, "127.93.0.1", ModeEcho)
	const size = 100
	res := run(t, Options{Target: s.addr(), Mode: WorkloadEcho, Conns: 4, Size: size})
	wantNoErrors(t, res)
	if res.Ops < 100 || res.Connections != 4 {
		t.Fatalf("ops %d over %d connections; want many messages over 4", res.Ops, res.Connections)
	}
	// Every counted message was answered in full; at most one per
	// connection was cut off by the end of the run.
	if res.BytesReceived < res.Ops*size || res.BytesSent > (res.Ops+4)*size || res.BytesReceived > res.BytesSent {
		t.Fatalf("sent %d, received %d bytes for %d messages", res.BytesSent, res.BytesReceived, res.Ops)
	}
	if res.Latency.Count != res.Ops || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
		t.Fatalf("latency %+v for %d messages", res.Latency, res.Ops)
	}
}

func TestEchoModeCatchesWrongAnswers(t *testing.T) {
	s := startServer(t, "127.93.0.2", func(c *net.TCPConn) {
		defer c.Close()
		buf := make([]byte, 10)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			buf[3] ^= 1
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	res := run(t, Options{Target: s.addr(), Mode: WorkloadEcho, Conns: 1, Size: 10, Duration: 100 * time.Millisecond})
	if res.Ops != 0 || res.Errors[ErrOther] == 0 || !strings.Contains(res.ErrorSamples[ErrOther], "different bytes") {
		t.Fatalf("ops %d, errors %v %v; want only mismatches", res.Ops, res.Errors, res.ErrorSamples)
	}
}

func TestConnectModeCountsEveryConnection(t *testing.T) {
	for _, size := range []int{0, 64} {
		s := startTargetOn(t, "127.93.0.3", ModeEcho)
		res := run(t, Options{Target: s.addr(), Mode: WorkloadConnect, Conns: 4, Size: size})
		wantNoErrors(t, res)
		if res.Ops < 50 || res.Ops != res.Connections && size == 0 {
			t.Fatalf("size %d: %d ops, %d connections", size, res.Ops, res.Connections)
		}
		// Connections cut off by the end of the run are established but
		// not counted as operations: at most one per worker.
		if res.Connections < res.Ops || res.Connections > res.Ops+4 {
			t.Fatalf("size %d: %d ops, %d connections", size, res.Ops, res.Connections)
		}
		waitAccepted(t, s, res.Connections, 4)
	}
}

// waitAccepted waits until the server accepted the n connections the
// client established, and at most slack more (connects the end of the
// run cut off after the kernel completed them).
func waitAccepted(t *testing.T, s *server, n int64, slack int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, _ := s.accepted()
		if int64(got) >= n {
			if int64(got) > n+int64(slack) {
				t.Fatalf("server accepted %d connections, client established %d", got, n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server accepted %d connections, client established %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closedPort(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClosedPortIsRefused(t *testing.T) {
	addr := closedPort(t, "127.93.0.4")
	for _, mode := range []Workload{WorkloadConnect, WorkloadEcho, WorkloadStream} {
		res := run(t, Options{Target: addr, Mode: mode, Conns: 2, Size: 8, Duration: 100 * time.Millisecond})
		if res.Ops != 0 || res.Errors[ErrRefused] == 0 || res.ErrorTotal() != res.Errors[ErrRefused] {
			t.Fatalf("%s: ops %d, errors %v; want only refused", mode, res.Ops, res.Errors)
		}
	}
}

// reset closes c with an RST.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// Resets are classified by whether data came back before them, however
// late they come.
func TestResetClassification(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   Options
		handle func(*net.TCPConn)
		want   ErrorClass
	}{
		{"reset at once on accept", Options{Mode: WorkloadConnect}, reset, ErrResetBeforeData},
		{"reset 50ms after reading the request, without answering", Options{Mode: WorkloadConnect}, func(c *net.TCPConn) {
			io.ReadFull(c, make([]byte, 16))
			time.Sleep(50 * time.Millisecond)
			reset(c)
		}, ErrResetBeforeData},
		{"reset after answering the first message", Options{Mode: WorkloadEcho}, func(c *net.TCPConn) {
			buf := make([]byte, 16)
			io.ReadFull(c, buf)
			c.Write(buf)
			io.ReadFull(c, buf)
			reset(c)
		}, ErrReset},
		{"reset at once in a download stream", Options{Mode: WorkloadStream, Download: true}, reset, ErrResetBeforeData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, "127.93.0.5", tt.handle)
			o := tt.opts
			o.Target, o.Conns, o.Size = s.addr(), 2, 16
			res := run(t, o)
			if res.Errors[tt.want] == 0 || res.ErrorTotal() != res.Errors[tt.want] {
				t.Fatalf("errors %v %v; want only %s", res.Errors, res.ErrorSamples, tt.want)
			}
		})
	}
}

func TestSilentTargetTimesOut(t *testing.T) {
	s := startServer(t, "127.93.0.6", func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	res := run(t, Options{Target: s.addr(), Mode: WorkloadEcho, Conns: 2, Size: 8, Timeout: 50 * time.Millisecond})
	if res.Errors[ErrTimeout] < 2 || res.ErrorTotal() != res.Errors[ErrTimeout] {
		t.Fatalf("errors %v; want only timeouts", res.Errors)
	}
}

func TestSourceSpreadsOverPrefix(t *testing.T) {
	s := startTargetOn(t, "127.93.0.7", ModeEcho)
	res := run(t, Options{Target: s.addr(), Mode: WorkloadConnect, Conns: 3, Size: 8,
		Source: netip.MustParsePrefix("127.93.8.0/29"), Duration: 200 * time.Millisecond})
	wantNoErrors(t, res)
	waitAccepted(t, s, res.Connections, 3)
	_, ips := s.accepted()
	want := map[netip.Addr]bool{}
	for i := 1; i <= 6; i++ { // .0 is the network, .7 the broadcast address
		want[netip.AddrFrom4([4]byte{127, 93, 8, byte(i)})] = true
	}
	if len(ips) != len(want) || res.SourceAddrs != len(want) {
		t.Fatalf("target saw %v (result says %d addresses); want the 6 hosts of 127.93.8.0/29", ips, res.SourceAddrs)
	}
	for ip := range ips {
		if !want[ip] {
			t.Fatalf("connection from %s", ip)
		}
	}
}

func TestStreamDirections(t *testing.T) {
	for _, tt := range []struct {
		target     Mode
		up, down   bool
		wantUp     bool
		wantDown   bool
		targetAddr string
	}{
		{ModeSink, true, false, true, false, "127.93.0.8"},
		{ModeSource, false, true, false, true, "127.93.0.9"},
		{ModeEcho, true, true, true, true, "127.93.0.10"},
	} {
		t.Run(string(tt.target), func(t *testing.T) {
			s := startTargetOn(t, tt.targetAddr, tt.target)
			res := run(t, Options{Target: s.addr(), Mode: WorkloadStream, Conns: 2, Upload: tt.up, Download: tt.down})
			wantNoErrors(t, res)
			if (res.BytesSent > 1<<20) != tt.wantUp || (res.BytesReceived > 1<<20) != tt.wantDown || res.Connections != 2 {
				t.Fatalf("sent %d, received %d over %d connections", res.BytesSent, res.BytesReceived, res.Connections)
			}
		})
	}
}

func TestOpenLoopConnectKeepsTheRate(t *testing.T) {
	s := startTargetOn(t, "127.93.0.11", ModeEcho)
	res := run(t, Options{Target: s.addr(), Mode: WorkloadConnect, Rate: 200, Size: 8, Duration: 500 * time.Millisecond})
	wantNoErrors(t, res)
	if res.Scheduled < 80 || res.Scheduled > 101 || res.Ops < res.Scheduled-5 {
		t.Fatalf("scheduled %d, ops %d; want about 100 of each at 200/s for 0.5s", res.Scheduled, res.Ops)
	}
}

// A server that answers one message per 50 ms, loaded at 100 messages/s
// over one connection: a closed loop would report 50 ms; measured from
// the scheduled starts the queue shows.
func TestOpenLoopCorrectsCoordinatedOmission(t *testing.T) {
	s := startServer(t, "127.93.0.12", func(c *net.TCPConn) {
		defer c.Close()
		buf := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	res := run(t, Options{Target: s.addr(), Mode: WorkloadEcho, Conns: 1, Rate: 100, Size: 8, Duration: time.Second})
	wantNoErrors(t, res)
	if res.Latency.P99 < 300*time.Millisecond || res.Latency.P50 < 100*time.Millisecond {
		t.Fatalf("latency %+v; want the queueing delay (hundreds of ms)", res.Latency)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	s := startTargetOn(t, "127.93.0.13", ModeSink)
	for _, o := range []Options{
		{Mode: WorkloadStream, Conns: 2},
		{Mode: WorkloadEcho, Conns: 2, Size: 8, Rate: 1000},
		{Mode: WorkloadConnect, Rate: 1000},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		o.Target, o.Duration = s.addr(), time.Hour
		start := time.Now()
		_, err := Run(ctx, o, nil)
		cancel()
		// Duration is an hour: returning within seconds shows the
		// cancellation (a tight bound fails on a loaded machine).
		if err != nil || time.Since(start) > 10*time.Second {
			t.Fatalf("%s: Run returned %v after %s", o.Mode, err, time.Since(start))
		}
	}
}

func TestProgressIsReported(t *testing.T) {
	s := startTargetOn(t, "127.93.0.14", ModeEcho)
	var mu sync.Mutex
	var snaps []Snapshot
	_, err := Run(t.Context(), Options{Target: s.addr(), Mode: WorkloadEcho, Conns: 1, Size: 8,
		Duration: 300 * time.Millisecond, ProgressInterval: 50 * time.Millisecond}, func(sn Snapshot) {
		mu.Lock()
		snaps = append(snaps, sn)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(snaps) < 2 || snaps[len(snaps)-1].Ops == 0 || snaps[len(snaps)-1].OpsPerSec <= 0 {
		t.Fatalf("snapshots %+v", snaps)
	}
}
