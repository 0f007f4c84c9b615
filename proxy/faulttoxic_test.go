package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// toxicLab runs the lab with echo targets in both AZs and a toxic fault
// on az1's interface only (az2's flows are the unaffected control).
func toxicLab(t *testing.T, f config.Fault) *lab {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	f.Scope.AZ = "use1-az1"
	l.addFault(f)
	return l
}

func rtt(t *testing.T, c *net.TCPConn) time.Duration {
	t.Helper()
	t0 := time.Now()
	if err := echo(t, c, "ping"); err != nil {
		t.Fatal(err)
	}
	return time.Since(t0)
}

// latency adds at least its delay to each echo round trip of an affected
// flow (it delays the reply), and nothing to an unaffected one.
func TestToxicLatency(t *testing.T) {
	f := newFault(config.FaultLatency, config.FaultScope{})
	f.Latency, f.Jitter, f.Direction = config.Duration(300*time.Millisecond), config.Duration(20*time.Millisecond), config.ToClient
	l := toxicLab(t, f)
	slow, fast := l.dial("1.50", "1.10"), l.dial("2.50", "2.10")
	for i := range 3 {
		if d := rtt(t, slow); d < 280*time.Millisecond {
			t.Fatalf("round trip %d of the affected flow took %s, want ≥ 300ms - 20ms jitter", i, d)
		}
	}
	best := time.Hour
	for range 5 {
		best = min(best, rtt(t, fast))
	}
	if best >= 280*time.Millisecond {
		t.Fatalf("the unaffected flow's best round trip took %s: the latency leaked", best)
	}
	if err := l.srv.RemoveFault("latency-1"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*net.TCPConn{"new": l.dial("1.51", "1.10"), "live": slow} {
		best = time.Hour
		for range 5 {
			best = min(best, rtt(t, c))
		}
		if best >= 280*time.Millisecond {
			t.Fatalf("a %s flow after removing the fault took %s", name, best)
		}
	}
	// The live flow is back on the usual path: bulk bytes go through.
	big := bytes.Repeat([]byte("z"), 1<<20)
	slow.SetDeadline(time.Now().Add(10 * time.Second))
	go slow.Write(big)
	if _, err := io.ReadFull(slow, make([]byte, len(big))); err != nil {
		t.Fatalf("bulk echo after removing the fault: %v", err)
	}
}

// Removing one of two toxics of a live flow keeps the other.
func TestToxicRemovalKeepsOthers(t *testing.T) {
	lat := newFault(config.FaultLatency, config.FaultScope{})
	lat.ID, lat.Latency, lat.Direction = "lat", config.Duration(300*time.Millisecond), config.ToClient
	l := toxicLab(t, lat)
	slice := newFault(config.FaultSlicer, config.FaultScope{AZ: "use1-az1"})
	slice.ID, slice.Size, slice.Delay, slice.Direction = "slice", 1, config.Duration(50*time.Millisecond), config.ToClient
	l.addFault(slice)
	c := l.dial("1.50", "1.10")
	if d := rtt(t, c); d < 280*time.Millisecond {
		t.Fatalf("round trip with both toxics took %s", d)
	}
	if err := l.srv.RemoveFault("lat"); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("four"))
	buf := make([]byte, 4)
	if n, err := c.Read(buf); err != nil || n != 1 {
		t.Fatalf("first read %d bytes, %v: want the slicer's 1-byte slices still", n, err)
	}
	if _, err := io.ReadFull(c, buf[1:]); err != nil || string(buf) != "four" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

// sinkTimed reads everything a connection sends and answers how long it
// took, as the target sees it.
func (l *lab) sinkTarget(host string) {
	l.target(host, func(c *net.TCPConn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c)
		c.Write([]byte("done"))
	})
}

// upload sends size bytes through a lab whose target discards them,
// with fault f on the flow, and returns how long the target took to get
// them all.
func upload(t *testing.T, f config.Fault, size int) time.Duration {
	l := newLab(t, false, config.PlacementFirstData)
	l.sinkTarget("10.20")
	l.start()
	l.addFault(f)
	c := l.dial("1.50", "1.10")
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t0 := time.Now()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if got := readAll(t, c); got != "done" {
		t.Fatalf("target answered %q", got)
	}
	return time.Since(t0)
}

// bandwidth caps an upload of 10 MB at rate_kbps within ±15%, timed
// from the first byte written to the last one the target read. The
// toxic's burst (a tenth of a second of the rate, 4% of this transfer)
// goes out at once: it counts towards the bytes, not the time.
func TestToxicBandwidth(t *testing.T) {
	const rateKBps, size = 4000, 10 << 20
	f := newFault(config.FaultBandwidth, config.FaultScope{})
	f.RateKBps, f.Direction = rateKBps, config.ToTarget
	rate := float64(size) / upload(t, f, size).Seconds() / (rateKBps * 1000)
	t.Logf("10 MB at %.3f of the configured rate", rate)
	if rate < 0.85 || rate > 1.15 {
		t.Fatalf("throughput %.2f× the configured rate, want 0.85-1.15×", rate)
	}
}

// reset_peer after N bytes: the target gets exactly N bytes, then both
// peers are reset.
func TestToxicResetPeer(t *testing.T) {
	got := make(chan int, 1)
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) {
		n, _ := io.Copy(io.Discard, c)
		got <- int(n)
	})
	l.start()
	f := newFault(config.FaultResetPeer, config.FaultScope{})
	f.Bytes, f.Direction = 1000, config.ToTarget
	l.addFault(f)
	c := l.dial("1.50", "1.10")
	c.Write(make([]byte, 1000))
	time.Sleep(50 * time.Millisecond) // the next write comes as new bytes
	c.Write(make([]byte, 1000))
	if err := resetSeen(c, nil); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 1000 {
		t.Fatalf("target got %d bytes, want 1000", n)
	}
}

// reset_peer after T: the flow forwards until T after it started, then
// both peers are reset, even when neither sends; a flow without the
// toxic lives on.
func TestToxicResetPeerAfter(t *testing.T) {
	f := newFault(config.FaultResetPeer, config.FaultScope{})
	f.After = config.Duration(400 * time.Millisecond)
	l := toxicLab(t, f)
	other := l.dial("2.50", "2.10")
	t0 := time.Now() // the flow starts after this
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "before"); err != nil {
		t.Fatalf("echo before the reset: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := resetSeen(c, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 390*time.Millisecond {
		t.Fatalf("reset %s after the start, want after 400ms", d)
	}
	if err := echo(t, other, "still"); err != nil {
		t.Fatalf("the flow without the toxic: %v", err)
	}
}

// timeout stops forwarding and closes the flow after its timeout.
func TestToxicTimeout(t *testing.T) {
	f := newFault(config.FaultTimeout, config.FaultScope{})
	f.Timeout = config.Duration(300 * time.Millisecond)
	l := toxicLab(t, f)
	c := l.dial("1.50", "1.10")
	t0 := time.Now()
	c.Write([]byte("ping"))
	n, err := c.Read(make([]byte, 4))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v: want the flow closed without data", n, err)
	}
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Fatalf("closed after %s, want the 300ms timeout first", d)
	}
}

// timeout 0 holds the flow forever: nothing is forwarded and privlink
// never closes it; it ends when the peers close.
func TestToxicTimeoutZeroHolds(t *testing.T) {
	f := newFault(config.FaultTimeout, config.FaultScope{})
	l := toxicLab(t, f)
	c := l.dial("1.50", "1.10")
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v: want nothing, the flow held open", n, err)
	}
	if vs := l.srv.table.Snapshot(conntrack.Filter{}, nil); len(vs) != 1 || vs[0].State != conntrack.StateEstablished {
		t.Fatalf("table %+v, want the held flow established", vs)
	}
	c.Close()
	waitFor(t, func() bool { return len(l.srv.table.Snapshot(conntrack.Filter{}, nil)) == 0 }, "the flow to end after the client closed")
}

// slow_close delays the end of the stream, not the data.
func TestToxicSlowClose(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) { c.Write([]byte("bye")) })
	l.start()
	f := newFault(config.FaultSlowClose, config.FaultScope{})
	f.Delay, f.Direction = config.Duration(300*time.Millisecond), config.ToClient
	l.addFault(f)
	c := l.dial("1.50", "1.10")
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "bye" {
		t.Fatalf("read %q, %v", buf, err)
	}
	t0 := time.Now()
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after the data: %v, want EOF", err)
	}
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Fatalf("EOF %s after the data, want the 300ms delay", d)
	}
}

// slicer splits a write into small segments with delays between them.
func TestToxicSlicer(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789"), 10)
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) { c.Write(msg) })
	l.start()
	f := newFault(config.FaultSlicer, config.FaultScope{})
	f.Size, f.Delay, f.Direction = 10, config.Duration(20*time.Millisecond), config.ToClient
	l.addFault(f)
	t0 := time.Now() // before the dial: the first slice may leave before the dial returns here
	c := l.dial("1.50", "1.10")
	var got []byte
	buf := make([]byte, 100)
	for len(got) < len(msg) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		if n > 10 {
			t.Fatalf("a read of %d bytes: slices are 10", n)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(t0); d < 9*20*time.Millisecond {
		t.Fatalf("10 slices in %s, want ≥ 9 × 20ms", d)
	}
}

// limit_data closes the flow once its byte count went through.
func TestToxicLimitData(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.target("10.20", func(c *net.TCPConn) { c.Write(make([]byte, 5000)) })
	l.start()
	f := newFault(config.FaultLimitData, config.FaultScope{})
	f.Bytes, f.Direction = 1000, config.ToClient
	l.addFault(f)
	c := l.dial("1.50", "1.10")
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != 1000 {
		t.Fatalf("read %d bytes, %v; want 1000 then EOF", n, err)
	}
}

// An AZ outage silences a live flow through the AZ (deny_action drop):
// nothing comes back, no RST; once the AZ is back, the node no longer
// knows the flow and resets the next segment.
func TestFaultAZOutageSilencesLiveFlows(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	waitFor(t, func() bool { fi, _ := l.srv.Fault("az_outage-1"); return fi.Flows == 1 }, "the fault to reach the flow")
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during the outage: %v, want silence", err)
	}
	if err := l.srv.RemoveFault("az_outage-1"); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("again"))
	if err := resetSeen(c, nil); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// Latency does not cap a bulk transfer at the ring's size per delay: the
// ring grows while the delay holds its bytes.
func TestToxicLatencyBulk(t *testing.T) {
	f := newFault(config.FaultLatency, config.FaultScope{})
	f.Latency, f.Direction = config.Duration(100*time.Millisecond), config.ToTarget
	// 32 KiB per 100 ms would take 12.8 s.
	if d := upload(t, f, 4<<20); d > 6*time.Second {
		t.Fatalf("4 MiB behind 100ms of latency took %s", d)
	}
}

// An AZ outage silences a live flow that already carries a toxic too.
func TestFaultAZOutageSilencesToxicFlows(t *testing.T) {
	f := newFault(config.FaultLatency, config.FaultScope{})
	f.Latency = config.Duration(10 * time.Millisecond)
	l := toxicLab(t, f)
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	l.addFault(newFault(config.FaultAZOutage, config.FaultScope{AZ: "use1-az1"}))
	waitFor(t, func() bool { fi, _ := l.srv.Fault("az_outage-2"); return fi.Flows == 1 }, "the outage to reach the flow")
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during the outage: %v, want silence", err)
	}
}

// A flow that got a toxic names the fault in its connection events (what
// privlink conns --watch prints as fault=), from established to closed;
// a flow without it names none.
func TestToxicFlowEventsNameTheFault(t *testing.T) {
	f := newFault(config.FaultLatency, config.FaultScope{})
	f.ID, f.Latency = "slow", config.Duration(time.Millisecond)
	l := toxicLab(t, f)
	evs := l.streamEvents()
	plain := l.dial("2.50", "2.10")
	if v := nextEvent(t, evs, conntrack.EventEstablished); v.Fault != "" {
		t.Fatalf("the flow without a toxic names fault %q", v.Fault)
	}
	c := l.dial("1.50", "1.10")
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	if v := nextEvent(t, evs, conntrack.EventEstablished); v.Fault != "slow" || v.Client != addrPort(c.LocalAddr()) {
		t.Fatalf("established event %+v, want the toxic flow naming fault slow", v)
	}
	c.Close()
	if v := nextEvent(t, evs, conntrack.EventClosed); v.Fault != "slow" || v.Client != addrPort(c.LocalAddr()) {
		t.Fatalf("closed event %+v, want the toxic flow naming fault slow", v)
	}
	plain.Close()
}
