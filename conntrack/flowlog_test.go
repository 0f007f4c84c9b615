package conntrack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ifaceENI = "eni-c7713aba3a9dd9eac" // ENIID("vpce-0c1308d7312217abc", "use1-az1")
	nodeENI  = "eni-54754e6c13f1b60e4" // ENIID("vpce-svc-03d5ebb7d9579a2b3", "use1-az1")
)

func TestENIID(t *testing.T) {
	if got := ENIID("vpce-0c1308d7312217abc", "use1-az1"); got != ifaceENI {
		t.Fatalf("ENIID changed: %s", got)
	}
	if ENIID("vpce-0c1308d7312217abc", "use1-az2") == ifaceENI || len(ifaceENI) != 21 {
		t.Fatal("AZ not part of the ID, or wrong length")
	}
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine and a test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogger(t *testing.T, clk *fakeClock, format string) (*FlowLogger, *lockedBuffer) {
	t.Helper()
	var buf lockedBuffer
	fl, err := NewFlowLogger(&buf, FlowLogOptions{
		AccountID: "111122223333", Region: "us-east-1", Interval: time.Hour, Format: format, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return fl, &buf
}

func flowEntry(clk *fakeClock, st Stats) *Entry {
	e := testEntry(1)
	e.Subnet, e.NodeSubnet = "subnet-consumer-1a", "subnet-provider-1a"
	e.Start = clk.Now()
	e.Stats = st
	return e
}

// The v2 records of one flow over three intervals, a denial and a port
// allocation error, with a fixed clock: byte for byte.
func TestFlowLogGoldenV2(t *testing.T) {
	clk := newFakeClock() // 1418530010
	fl, buf := newTestLogger(t, clk, "")
	tb := NewTable(TableOptions{Now: clk.Now})
	fl.Track(tb)
	st := &fixedStats{}
	e := flowEntry(clk, st)
	tb.Insert(e)
	tb.SetState(e, StateEstablished)

	clk.Advance(60 * time.Second)
	st.set(Sample{
		Client: Counters{BytesIn: 100, BytesOut: 200, PktsIn: 4, PktsOut: 3},
		Target: Counters{BytesIn: 200, BytesOut: 138, PktsIn: 3, PktsOut: 4},
	})
	fl.Sweep()
	clk.Advance(60 * time.Second)
	fl.Sweep() // nothing moved: NODATA on both interfaces
	clk.Advance(30 * time.Second)
	st.set(Sample{
		Client: Counters{BytesIn: 150, BytesOut: 200, PktsIn: 6, PktsOut: 3},
		Target: Counters{BytesIn: 200, BytesOut: 188, PktsIn: 3, PktsOut: 6},
	})
	tb.Remove(e)
	denied := flowEntry(clk, nil)
	fl.Reject(denied, HopInterface, false)
	fl.Reject(denied, HopNode, true)
	fl.PortAllocationError(denied)
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"2 111122223333 " + ifaceENI + " 127.0.41.50 127.0.41.10 40001 8443 6 4 308 1418530010 1418530070 ACCEPT OK",
		"2 111122223333 " + ifaceENI + " 127.0.41.10 127.0.41.50 8443 40001 6 3 356 1418530010 1418530070 ACCEPT OK",
		"2 111122223333 " + nodeENI + " 127.0.42.5 127.0.43.1 2001 9443 6 4 346 1418530010 1418530070 ACCEPT OK",
		"2 111122223333 " + nodeENI + " 127.0.43.1 127.0.42.5 9443 2001 6 3 356 1418530010 1418530070 ACCEPT OK",
		"2 111122223333 " + nodeENI + " - - - - - - - 1418530070 1418530130 - NODATA",
		"2 111122223333 " + ifaceENI + " - - - - - - - 1418530070 1418530130 - NODATA",
		"2 111122223333 " + ifaceENI + " 127.0.41.50 127.0.41.10 40001 8443 6 2 154 1418530130 1418530160 ACCEPT OK",
		"2 111122223333 " + nodeENI + " 127.0.42.5 127.0.43.1 2001 9443 6 2 154 1418530130 1418530160 ACCEPT OK",
		"2 111122223333 " + ifaceENI + " 127.0.41.50 127.0.41.10 40001 8443 6 1 60 1418530160 1418530160 REJECT OK",
		"2 111122223333 " + nodeENI + " 127.0.42.5 127.0.43.1 2001 9443 6 1 60 1418530160 1418530160 ACCEPT OK",
		"2 111122223333 " + nodeENI + " 127.0.43.1 127.0.42.5 9443 2001 6 1 60 1418530160 1418530160 REJECT OK",
		"2 111122223333 " + nodeENI + " 127.0.42.5 127.0.43.1 - 9443 6 1 60 1418530160 1418530160 REJECT OK",
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Fatalf("flow log:\n%s\nwant:\n%s", got, want)
	}
	if s := fl.Stats(); s.Written != 12 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFlowLogCustomFormat(t *testing.T) {
	clk := newFakeClock()
	fl, buf := newTestLogger(t, clk,
		"${version} ${interface-id} ${subnet-id} ${az-id} ${region} ${type} ${tcp-flags} ${flow-direction} ${traffic-path} ${pkt-srcaddr} ${vpc-id} ${log-status}")
	tb := NewTable(TableOptions{Now: clk.Now})
	fl.Track(tb)
	st := &fixedStats{s: Sample{Client: Counters{BytesIn: 10, PktsIn: 3, BytesOut: 0, PktsOut: 2}}}
	e := flowEntry(clk, st)
	tb.Insert(e)
	clk.Advance(time.Second)
	tb.Remove(e)
	fl.Register("vpce-quiet", "subnet-q", "use1-az2")
	fl.Sweep()
	fl.Close()
	want := "5 " + ifaceENI + " subnet-consumer-1a use1-az1 us-east-1 IPv4 3 ingress - 127.0.41.50 - OK\n" +
		"5 " + ifaceENI + " subnet-consumer-1a use1-az1 us-east-1 IPv4 19 egress 1 127.0.41.10 - OK\n" +
		"5 " + ENIID("vpce-quiet", "use1-az2") + " subnet-q use1-az2 us-east-1 - - - - - - NODATA\n"
	if got := buf.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFlowLogBadFormat(t *testing.T) {
	_, err := NewFlowLogger(&bytes.Buffer{}, FlowLogOptions{Format: "${version} ${nope}"})
	if err == nil || !strings.Contains(err.Error(), `unknown flow log field "nope"`) {
		t.Fatalf("err %v", err)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	lockedBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.lockedBuffer.Write(p)
}

// A stalled destination never blocks recording: records beyond the queue
// are dropped, counted, and reported as SKIPDATA once the writer catches up.
func TestFlowLogSkipData(t *testing.T) {
	clk := newFakeClock()
	w := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	fl, err := NewFlowLogger(w, FlowLogOptions{AccountID: "111122223333", Interval: time.Hour, QueueSize: 4, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := flowEntry(clk, nil)
	fl.Reject(e, HopInterface, false)
	<-w.entered // the writer is stuck writing the first record
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 999; i++ {
			fl.Reject(e, HopInterface, false)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("recording blocked behind a stalled writer")
	}
	close(w.release)
	fl.Close()
	s := fl.Stats()
	if s.Dropped != 999-4 {
		t.Fatalf("stats %+v", s)
	}
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	last := lines[len(lines)-1]
	if last != "2 111122223333 - - - - - - - - 1418530010 1418530010 - SKIPDATA" {
		t.Fatalf("last line %q of %d", last, len(lines))
	}
	skips := uint64(strings.Count(w.String(), "SKIPDATA"))
	if uint64(len(lines)) != s.Written || skips != 1 || s.Written-skips+s.Dropped != 1000 {
		t.Fatalf("%d lines, stats %+v", len(lines), s)
	}
}

func TestOpenFlowLogFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "flows.log")
	w, err := OpenFlowLogFile(good)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x\n"))
	w.Close()
	if b, _ := os.ReadFile(good); string(b) != "x\n" {
		t.Fatalf("file %q", b)
	}
	if w, err := OpenFlowLogFile("-"); err != nil || w.Close() != nil {
		t.Fatalf("stdout: %v", err)
	}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "missing", "flows.log"), "no such file or directory"},
		{dir, "is a directory"},
	} {
		_, err := OpenFlowLogFile(tt.path)
		if err == nil || err.Error() != "flow log file "+tt.path+" cannot be written: "+tt.want {
			t.Fatalf("%s: %v", tt.path, err)
		}
	}
}

func BenchmarkFlowLogFormat(b *testing.B) {
	f, _ := compileFormat("", "111122223333", "us-east-1")
	e := testEntry(1)
	r := Record{Interface: ifaceENI, Src: e.Client, Dst: e.Iface, Packets: 20, Bytes: 4249,
		Start: time.Unix(1418530010, 0), End: time.Unix(1418530070, 0), Action: ActionAccept}
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		line = f.appendRecord(line[:0], &r)
	}
	b.SetBytes(int64(len(line)))
}

func BenchmarkFlowLogWrite(b *testing.B) {
	fl, _ := NewFlowLogger(discard{}, FlowLogOptions{AccountID: "111122223333", Interval: time.Hour})
	defer fl.Close()
	e := testEntry(1)
	r := Record{Owner: "vpce-0c1308d7312217abc", AZ: "use1-az1", Src: e.Client, Dst: e.Iface, Packets: 20, Bytes: 4249,
		Start: time.Unix(1418530010, 0), End: time.Unix(1418530070, 0), Action: ActionAccept}
	b.ReportAllocs()
	for b.Loop() {
		fl.Write(r)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
