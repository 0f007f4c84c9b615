package inspect_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

// splitHeaders are the headers split at every offset: v1, and v2 with and
// without TLVs.
func splitHeaders() []struct {
	name string
	hdr  []byte
} {
	return []struct {
		name string
		hdr  []byte
	}{
		{"v1", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n")},
		{"v2 without TLVs", ppv2.AppendProxy(nil, clientAP, eniAP, "")},
		{"v2 with the AWS TLV", privlinkProxy()},
		{"v2 LOCAL with CRC32C and NOOP", privlinkLocal()},
	}
}

// waitPeer waits for a log entry with message msg from the client c and
// returns its fields.
func (s *sidecar) waitPeer(t *testing.T, c net.Conn, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	peer := c.LocalAddr().String()
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, e := range s.logs.FilterMessage(msg).All() {
			if m := e.ContextMap(); m["peer"] == peer && (match == nil || match(m)) {
				return m
			}
		}
	}
	t.Fatalf("no log %q from %s; logs: %v", msg, peer, s.logs.All())
	return nil
}

// waitHave waits until the sidecar has read n bytes of c's header and is
// waiting for the rest.
func (s *sidecar) waitHave(t *testing.T, c net.Conn, n int) {
	t.Helper()
	s.waitPeer(t, c, "PROXY header incomplete; waiting for the rest", func(m map[string]any) bool {
		return m["have"] == int64(n)
	})
}

// notes are the conformance notes of a logged header.
func notes(m map[string]any) []string {
	if h, ok := m["header"].(map[string]any); ok {
		m = h
	}
	var out []string
	for _, n := range m["conformance"].([]any) {
		out = append(out, n.(string))
	}
	return out
}

// By default a header split at any offset is awaited, accepted and marked
// split; with Strict the same first piece is refused.
func TestSplitAtEveryOffset(t *testing.T) {
	for _, h := range splitHeaders() {
		t.Run(h.name, func(t *testing.T) {
			tolerant := startSidecar(t, inspect.Options{})
			strict := startSidecar(t, inspect.Options{Strict: true})
			for at := 1; at < len(h.hdr); at++ {
				acceptSplit(t, tolerant, h.hdr, at)
				refuseSplit(t, strict, h.hdr, at)
			}
			cuts := float64(len(h.hdr) - 1)
			if got := tolerant.metric(t, "privlink_inspect_nonconforming_headers_total", "item", "split"); got != cuts {
				t.Errorf("nonconforming{item=split} = %v, want %v", got, cuts)
			}
			if got := strict.metric(t, "privlink_inspect_errors_total", "reason", "split"); got != cuts {
				t.Errorf("errors{reason=split} = %v, want %v", got, cuts)
			}
			if n := len(strict.Headers(0)); n != 0 {
				t.Errorf("strict kept %d headers", n)
			}
		})
	}
}

// acceptSplit sends hdr in two writes cut at at, the second only once the
// sidecar has read the first, and checks the header is accepted as split.
func acceptSplit(t *testing.T, sc *sidecar, hdr []byte, at int) {
	t.Helper()
	c := sc.dial(t, "")
	defer c.Close()
	write(t, c, hdr[:at])
	sc.waitHave(t, c, at)
	write(t, c, append(slices.Clone(hdr[at:]), "ok"...))
	if got := readN(t, c, 2); got != "ok" {
		t.Fatalf("cut at %d: echo %q", at, got)
	}
	m := sc.waitPeer(t, c, logMsg(hdr), nil)
	if got, want := notes(m), splitNotes(hdr); !slices.Equal(got, want) {
		t.Fatalf("cut at %d: conformance %q, want %q", at, got, want)
	}
	if fmt.Sprint(m["length"]) != fmt.Sprint(len(hdr)) {
		t.Fatalf("cut at %d: length %v", at, m["length"])
	}
}

// refuseSplit sends the first piece of hdr cut at at to a strict sidecar.
func refuseSplit(t *testing.T, sc *sidecar, hdr []byte, at int) {
	t.Helper()
	c := sc.dial(t, "")
	defer c.Close()
	write(t, c, hdr[:at])
	readToEnd(t, c)
	sc.waitPeer(t, c, "connection closed", func(m map[string]any) bool { return m["reason"] == "split" })
}

// splitNotes is the verdict on hdr received in pieces: split, then what its
// bytes decide.
func splitNotes(hdr []byte) []string {
	rec, _, _ := inspect.Decode(hdr)
	out := []string{inspect.ItemSplit.Note()}
	for _, it := range rec.Conformance {
		out = append(out, it.Note())
	}
	return out
}

func logMsg(hdr []byte) string {
	if rec, _, err := inspect.Decode(hdr); err == nil && rec.HealthCheck {
		return "PROXY header: health check (LOCAL)"
	}
	return "PROXY header"
}

// A header trickled one byte per 100 ms completes within the header timeout
// and is refused once the timeout has passed. The timeouts are short so the
// test stays fast; the shape is the issue's.
func TestTrickle(t *testing.T) {
	const gap = 100 * time.Millisecond
	hdr := ppv2.AppendProxy(nil, clientAP, eniAP, "") // 28 bytes: 2.8 s
	t.Run("completes within the timeout", func(t *testing.T) {
		t.Parallel()
		sc := startSidecar(t, inspect.Options{HeaderTimeout: time.Minute})
		c := sc.dial(t, "")
		if err := trickle(c, hdr, gap); err != nil {
			t.Fatal(err)
		}
		write(t, c, []byte("ok"))
		if got := readN(t, c, 2); got != "ok" {
			t.Fatalf("echo %q", got)
		}
		if got := notes(sc.waitPeer(t, c, "PROXY header", nil)); !slices.Contains(got, inspect.ItemSplit.Note()) {
			t.Fatalf("conformance %q", got)
		}
	})
	t.Run("refused past the timeout", func(t *testing.T) {
		t.Parallel()
		sc := startSidecar(t, inspect.Options{HeaderTimeout: 500 * time.Millisecond})
		c := sc.dial(t, "")
		done := make(chan error, 1)
		go func() { done <- trickle(c, hdr, gap) }()
		readToEnd(t, c)
		m := sc.waitPeer(t, c, "connection closed", func(m map[string]any) bool { return m["reason"] == "timeout" })
		_ = c.Close()
		<-done
		if msg, want := fmt.Sprint(m["error"]), "the header was not complete after 500ms"; !strings.Contains(msg, want) {
			t.Fatalf("error %q lacks %q", m["error"], want)
		}
		if n := len(sc.Headers(0)); n != 0 {
			t.Fatalf("%d headers kept", n)
		}
	})
}

// trickle writes b one byte per gap, stopping at the first write error.
func trickle(c net.Conn, b []byte, gap time.Duration) error {
	for i := range b {
		if i > 0 {
			time.Sleep(gap)
		}
		if _, err := c.Write(b[i : i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Many senders trickling their headers never stall a fast one: between
// every byte the slow ones send, a fast client completes a whole exchange,
// and the slow ones are all accepted in the end.
func TestManySlowSendersDoNotStallAFastOne(t *testing.T) {
	const slowN, head = 40, 10
	sc := startSidecar(t, inspect.Options{HeaderTimeout: time.Minute})
	hdr := privlinkProxy()
	slow := make([]*net.TCPConn, slowN)
	for i := range slow {
		slow[i] = sc.dial(t, "")
		write(t, slow[i], hdr[:head])
	}
	for _, c := range slow {
		sc.waitHave(t, c, head) // every slow sender is parked in its header phase
	}
	fast := 0
	for at := head; at < len(hdr); at++ {
		for _, c := range slow {
			write(t, c, hdr[at:at+1])
		}
		c := sc.dial(t, "")
		write(t, c, append(privlinkProxy(), 'f'))
		if got := readN(t, c, 1); got != "f" {
			t.Fatalf("fast client %d got %q", fast, got)
		}
		_ = c.Close()
		fast++
		if at+1 < len(hdr) && len(sc.Headers(0)) != fast {
			t.Fatalf("%d headers before the slow senders finished, want the %d fast ones", len(sc.Headers(0)), fast)
		}
	}
	for i, c := range slow {
		write(t, c, []byte{'s'})
		if got := readN(t, c, 1); got != "s" {
			t.Fatalf("slow sender %d got %q", i, got)
		}
	}
	if n := len(sc.Headers(0)); n != fast+slowN {
		t.Fatalf("%d headers, want %d fast and %d slow", n, fast, slowN)
	}
	if got := sc.metric(t, "privlink_inspect_nonconforming_headers_total", "item", "split"); got != slowN {
		t.Fatalf("nonconforming{item=split} = %v, want the %d slow senders", got, slowN)
	}
}
