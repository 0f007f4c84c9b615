package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSourcesSkipNetworkAndBroadcast(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"127.93.9.0/30", []string{"127.93.9.1", "127.93.9.2", "127.93.9.1"}},
		{"127.93.9.4/31", []string{"127.93.9.4", "127.93.9.5", "127.93.9.4"}},
		{"127.93.9.9/32", []string{"127.93.9.9", "127.93.9.9"}},
		{"127.93.9.77/24", []string{"127.93.9.1", "127.93.9.2"}}, // masked first
		{"fd00::/126", []string{"fd00::1", "fd00::2", "fd00::3", "fd00::1"}},
		{"fd00::/127", []string{"fd00::", "fd00::1", "fd00::"}},
	} {
		s := newSources(netip.MustParsePrefix(tt.prefix))
		var got []string
		for range tt.want {
			got = append(got, s.pick().String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: picked %v, want %v", tt.prefix, got, tt.want)
		}
	}
	if n := hostCount(netip.MustParsePrefix("10.0.0.0/7")); n != maxSourceHosts {
		t.Errorf("/7 has %d hosts, want the cap %d", n, maxSourceHosts)
	}
	if n := hostCount(netip.MustParsePrefix("127.93.0.0/24")); n != 254 {
		t.Errorf("/24 has %d hosts", n)
	}
	s := newSources(netip.MustParsePrefix("127.93.1.0/24"))
	for range 300 {
		s.pick()
	}
	if s.used() != 254 {
		t.Errorf("used %d of a /24", s.used())
	}
}

func TestClassify(t *testing.T) {
	now := time.Now()
	fresh := opState{established: now.Add(-time.Millisecond), firstOp: true}
	old := opState{established: now.Add(-time.Minute), firstOp: true}
	answered := opState{established: now.Add(-time.Millisecond), firstOp: true, received: true}
	later := opState{established: now.Add(-time.Millisecond)}
	wrap := func(e error) error { return fmt.Errorf("read tcp: %w", os.NewSyscallError("read", e)) }
	for _, tt := range []struct {
		name string
		err  error
		st   opState
		want ErrorClass
	}{
		{"refused", wrap(syscall.ECONNREFUSED), opState{}, ErrRefused},
		{"reset during connect", wrap(syscall.ECONNRESET), opState{}, ErrResetBeforeData},
		{"reset right after connect", wrap(syscall.ECONNRESET), fresh, ErrResetBeforeData},
		{"broken pipe right after connect", wrap(syscall.EPIPE), fresh, ErrResetBeforeData},
		{"reset long after connect, before any data", wrap(syscall.ECONNRESET), old, ErrResetBeforeData},
		{"reset after a byte arrived", wrap(syscall.ECONNRESET), answered, ErrReset},
		{"reset on a later message", wrap(syscall.ECONNRESET), later, ErrReset},
		{"deadline", os.ErrDeadlineExceeded, fresh, ErrTimeout},
		{"syn timeout", wrap(syscall.ETIMEDOUT), opState{}, ErrTimeout},
		{"eof", eofError(io.EOF), fresh, ErrOther},
		{"mismatch", errMismatch, fresh, ErrOther},
		{"no local port", wrap(syscall.EADDRNOTAVAIL), opState{}, ErrOther},
	} {
		if got := classify(tt.err, tt.st); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if ErrorClass(200).String() != "unknown" || ErrResetBeforeData.String() != "reset_before_data" {
		t.Error("ErrorClass.String")
	}
}

func TestOptionsValidation(t *testing.T) {
	ok := Options{Target: "127.93.0.1:1", Mode: WorkloadEcho, Duration: time.Second, Size: 8}
	for _, tt := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no target", func(o *Options) { o.Target = "" }, "target is required"},
		{"bad mode", func(o *Options) { o.Mode = "ping" }, `unknown mode "ping"`},
		{"no duration", func(o *Options) { o.Duration = 0 }, "duration must be positive"},
		{"negative conns", func(o *Options) { o.Conns = -1 }, "conns must not be negative"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate must not be negative"},
		{"huge size", func(o *Options) { o.Size = MaxSize + 1 }, "size must be between"},
		{"stream rate", func(o *Options) { o.Mode, o.Rate = WorkloadStream, 5 }, "stream mode has no rate"},
		{"empty echo", func(o *Options) { o.Size = 0 }, "echo mode needs size"},
		{"negative timeout", func(o *Options) { o.Timeout = -1 }, "must not be negative"},
	} {
		o := ok
		tt.change(&o)
		_, err := o.withDefaults()
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	o, err := Options{Target: "x:1", Mode: WorkloadStream, Duration: time.Second}.withDefaults()
	if err != nil || o.Size != DefaultStreamSize || !o.Upload || o.Conns != 1 || o.Timeout != DefaultTimeout {
		t.Errorf("stream defaults: %+v, %v", o, err)
	}
	o, _ = Options{Target: "x:1", Mode: WorkloadConnect, Duration: time.Second, Rate: 10}.withDefaults()
	if o.Conns != DefaultOpenLoopConns {
		t.Errorf("open loop conns default %d", o.Conns)
	}
	if _, err := Run(t.Context(), Options{Target: "no-such-host.invalid:1", Mode: WorkloadConnect, Duration: time.Second}, nil); err == nil {
		t.Error("unresolvable target accepted")
	}
}

func sampleResult() *Result {
	return &Result{
		Target: "127.93.0.1:9000", Mode: WorkloadEcho, Conns: 4, Size: 64, Duration: time.Second,
		Elapsed: time.Second, Ops: 1000, OpsPerSec: 1000, Connections: 4, BytesSent: 64000, BytesReceived: 64000,
		Latency: Latency{Count: 1000, P50: 100 * time.Microsecond, P99: time.Millisecond, Max: 2 * time.Millisecond},
		Errors:  map[ErrorClass]int64{ErrReset: 2}, ErrorSamples: map[ErrorClass]string{ErrReset: "read: connection reset by peer"},
	}
}

func TestResultJSONKeysAreStable(t *testing.T) {
	b, err := json.Marshal(sampleResult())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"bytes_received", "bytes_sent", "connections", "conns", "download_mb_per_s", "duration_s",
		"elapsed_s", "error_samples", "error_total", "errors", "latency_us", "mode", "ops", "ops_per_s", "rate",
		"scheduled", "size", "source_addrs", "target", "upload_mb_per_s"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
	errs := m["errors"].(map[string]any)
	if len(errs) != int(numErrorClasses) || errs["reset"].(float64) != 2 || m["error_total"].(float64) != 2 {
		t.Fatalf("errors %v", errs)
	}
	if l := m["latency_us"].(map[string]any); l["p99"].(float64) != 1000 || l["p50"].(float64) != 100 {
		t.Fatalf("latency %v", l)
	}
}

func TestResultText(t *testing.T) {
	var b strings.Builder
	if err := sampleResult().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"target       127.93.0.1:9000", "msgs         1000 (1000.0/s)",
		"p99 1ms", "errors       2", "  reset      2  (read: connection reset by peer)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
