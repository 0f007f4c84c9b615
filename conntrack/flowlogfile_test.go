package conntrack

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failingWriter fails like a full disk until healed: the first failed
// write stores part of a line, later ones nothing.
type failingWriter struct {
	mu      sync.Mutex
	out     bytes.Buffer
	healthy bool
	calls   int // failed writes
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.healthy {
		return w.out.Write(p)
	}
	w.calls++
	if w.calls == 1 {
		n := min(len(p), 10) // cut in the middle of the first line
		w.out.Write(p[:n])
		return n, syscall.ENOSPC
	}
	return 0, syscall.ENOSPC
}

func (w *failingWriter) heal() {
	w.mu.Lock()
	w.healthy = true
	w.mu.Unlock()
}

func (w *failingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

func testRecord(port uint16) Record {
	now := time.Unix(1418530010, 0)
	return Record{Interface: ifaceENI, Src: netip.AddrPortFrom(netip.MustParseAddr("127.0.41.50"), port),
		Dst: netip.MustParseAddrPort("127.0.41.10:8443"), Packets: 1, Bytes: 60, Start: now, End: now,
		Action: ActionAccept}
}

// A destination that fails (disk full) and recovers: the failure is
// reported once and counted, records are kept up to the buffer and the
// rest reported by SKIPDATA, writing resumes by itself, and the cut line
// is completed, so every line is whole.
func TestFlowLogResumesAfterWriteErrors(t *testing.T) {
	w := &failingWriter{}
	var mu sync.Mutex
	var incidents []error
	fl, err := NewFlowLogger(w, FlowLogOptions{AccountID: "111122223333", Interval: time.Hour, BufferBytes: 1000,
		WriteError: func(err error) { mu.Lock(); incidents = append(incidents, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // about 90 bytes each: 11 fit the buffer
		fl.Write(testRecord(40000 + uint16(i)))
	}
	waitUntil(t, func() bool { return fl.Stats().WriteErrors >= 3 })
	w.heal()
	fl.Write(testRecord(50000))
	waitUntil(t, func() bool { return strings.Contains(w.String(), " 50000 8443 ") })
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		if n := len(strings.Fields(l)); n != 14 {
			t.Fatalf("line %q has %d fields:\n%s", l, n, out)
		}
	}
	st := fl.Stats()
	kept := strings.Count(out, " ACCEPT OK")
	if !strings.Contains(out, " SKIPDATA") || kept < 10 || uint64(kept)+st.Dropped != 41 || !strings.HasPrefix(lines[0], "2 111122223333 "+ifaceENI+" 127.0.41.50 127.0.41.10 40000 ") {
		t.Fatalf("stats %+v, %d records kept:\n%s", st, kept, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(incidents) != 2 || !errors.Is(incidents[0], syscall.ENOSPC) || incidents[1] != nil {
		t.Fatalf("incidents %v, want [ENOSPC, nil]", incidents)
	}
}

// Reopen writes to a new file at the path after the old one was moved
// away (logrotate), and the moved file keeps what was written before.
func TestFlowLogFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.log")
	f, err := OpenFlowLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := NewFlowLogger(f, FlowLogOptions{AccountID: "111122223333", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	fl.Write(testRecord(40001))
	waitUntil(t, func() bool { return strings.Contains(read(path), " 40001 ") })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	fl.Write(testRecord(40002))
	waitUntil(t, func() bool { return strings.Contains(read(path), " 40002 ") })
	if old, now := read(path+".1"), read(path); strings.Contains(old, " 40002 ") || strings.Contains(now, " 40001 ") {
		t.Fatalf("rotated file %q, new file %q", old, now)
	}
}

// A write to a real file cut short in the middle of a line (the file size
// limit here; a full disk alike) leaves only whole lines in the file. The
// limit applies to a child process, which this test starts.
func TestFlowLogFileKeepsWholeLines(t *testing.T) {
	if path := os.Getenv("PRIVLINK_FSIZE_CHILD"); path != "" {
		signal.Ignore(syscall.SIGXFSZ) // writes past the limit fail with EFBIG instead
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 100, Max: 100}); err != nil {
			fmt.Println("setrlimit:", err)
			os.Exit(1)
		}
		f, err := OpenFlowLogFile(path)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		n, err := f.Write([]byte(strings.Repeat("0123456789012345678901234567890123456789\n", 3)))
		fmt.Printf("wrote %d: %v\n", n, err)
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "flows.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlowLogFileKeepsWholeLines$")
	cmd.Env = append(os.Environ(), "PRIVLINK_FSIZE_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "wrote 82: ") || !strings.Contains(string(out), "file too large") {
		t.Fatalf("child: %s", out)
	}
	b, _ := os.ReadFile(path)
	if len(b) != 82 || b[len(b)-1] != '\n' {
		t.Fatalf("file holds %d bytes %q, want two whole lines", len(b), b)
	}
}
