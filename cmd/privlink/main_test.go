package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb syncBuffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("subnets:\n  - {id: s, az: a, cdir: 127.0.1.0/24}\nregion: \"\"\n"), 0o644)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "privlink ", ""},
		{"validate default", []string{"validate"}, 0, "<embedded default>: valid (1 services, 1 endpoints, 2 targets, 0 warnings)", ""},
		{"validate bad file", []string{"validate", "-c", bad}, 1, "", bad + ":2: subnets[0].cdir: unknown key (did you mean \"cidr\"?)\n"},
		{"missing file", []string{"validate", "-c", "/nonexistent.yaml"}, 1, "", "privlink: read config: open /nonexistent.yaml: no such file or directory"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command \"frobnicate\""},
		{"unknown flag", []string{"run", "--bogus"}, 2, "", "unknown flag: --bogus"},
		{"bad log format", []string{"run", "--log-format", "xml", "--admin", "off"}, 2, "", "--log-format: \"xml\" is not json or console"},
		{"bad env override", []string{"validate", "--deny-action", "explode"}, 1, "", "flag --deny-action: deny_action: invalid deny_action \"explode\" (use drop or reset)"},
		{"echo bad mode", []string{"echo", "--mode", "mirror"}, 2, "", "--mode: unknown mode \"mirror\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.wantStdout) || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ∋ %q, stderr ∋ %q",
					code, out, errOut, tt.code, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

// shiftDefault moves the embedded default topology from 127.0.x to
// 127.79.x (its admin API to a free port): the test of `privlink run`
// then passes while the README's `privlink run` runs beside it.
func shiftDefault(y []byte) []byte {
	s := strings.ReplaceAll(string(y), "127.0.", "127.79.")
	s = strings.ReplaceAll(s, "127.79.0.0/8", "127.0.0.0/8")
	return []byte(strings.Replace(s, "127.79.0.1:9480", "127.0.0.1:0", 1))
}

// `privlink run` on the embedded default (its addresses shifted): the
// banner names the addresses, a connection is echoed by the built-in
// target through PROXY v2, and cancellation (SIGINT) exits 0.
func TestRunEmbeddedDefault(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), embeddedKey{}, shiftDefault))
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--admin", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--log-level", "warn"}, &out, &errb)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "Try: nc 127.79.1.10 8443") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no banner; stdout %q stderr %q exit %v", out.String(), errb.String(), <-done)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"running the embedded default topology", "use1-az1   connect to 127.79.1.10:8443", "use1-az2   connect to 127.79.2.10:8443", "admin API: http://127.0.0.1:", "dashboard: http://127.0.0.1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	for _, addr := range []string{"127.79.1.10:8443", "127.79.2.10:8443"} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("ping " + addr))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "ping "+addr {
			t.Fatalf("echo via %s: %q, %v", addr, got, err)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errb.String())
	}
}
