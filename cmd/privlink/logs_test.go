package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRun runs `privlink run -c FILE args...` with the topology y (on
// 127.78.x) until the test ends; it returns the file and the stderr.
func startRun(t *testing.T, y string, args ...string) (string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "privlink.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"run", "-c", path}, args...), &out, &errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	})
	waitDialable(t, "127.78.1.10:8443", true, 5*time.Second)
	return path, &errb
}

// The console format writes no colour codes when stderr is not a
// terminal (a file, a pipe, CI logs).
func TestConsoleLogsWithoutTerminalHaveNoColour(t *testing.T) {
	_, errb := startRun(t, reloadYAML(false), "--watch=false", "--log-format", "console", "--log-level", "info")
	waitFor(t, func() bool { return strings.Contains(errb.String(), "privlink started") })
	if s := errb.String(); strings.Contains(s, "\x1b[") || !strings.Contains(s, "\tINFO\t") {
		t.Fatalf("console logs %q: want INFO without escape codes", s)
	}
}

// A reload that fails logs one line naming FILE:LINE, without a stack
// trace.
func TestFailedReloadLogsOneLine(t *testing.T) {
	path, errb := startRun(t, reloadYAML(false), "--watch=false", "--log-level", "warn")
	os.WriteFile(path, []byte("region: [broken\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(errb.String(), "reload failed") })
	time.Sleep(100 * time.Millisecond) // anything more the failure would log
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if !strings.Contains(l, "SIGHUP") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], path+":1: ") || strings.Contains(lines[0], "stacktrace") {
		t.Fatalf("logs of a failed reload:\n%s", errb.String())
	}
}
