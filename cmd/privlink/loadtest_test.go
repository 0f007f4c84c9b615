package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/loadtest"
)

// Tests in this file use 127.93.2.0/24.

func startEchoTarget(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	tg := loadtest.NewTarget(loadtest.ModeEcho, nil)
	done := make(chan error, 1)
	go func() { done <- tg.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tg.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func TestLoadtestJSON(t *testing.T) {
	addr := startEchoTarget(t, "127.93.2.1")
	code, out, errOut := runCmd(t, "loadtest", "--target", addr, "--mode", "echo", "--conns", "2",
		"--duration", "200ms", "--size", "32", "--source", "127.93.2.64/30", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one JSON line, got %q", out)
	}
	var res struct {
		Mode        string           `json:"mode"`
		Ops         int64            `json:"ops"`
		SourceAddrs int              `json:"source_addrs"`
		Errors      map[string]int64 `json:"errors"`
		Latency     struct {
			P99 float64 `json:"p99"`
		} `json:"latency_us"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != "echo" || res.Ops == 0 || res.Latency.P99 <= 0 || res.SourceAddrs != 2 || len(res.Errors) != 5 {
		t.Fatalf("result %+v", res)
	}
}

func TestLoadtestTable(t *testing.T) {
	addr := startEchoTarget(t, "127.93.2.2")
	code, out, errOut := runCmd(t, "loadtest", "--target", addr, "--mode", "connect", "--duration", "200ms")
	if code != 0 || errOut != "" { // not a terminal: no progress line
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"mode         connect, 8 conns, closed loop, size 64 B", "conns        ", "latency      p50 ", "errors       0"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestLoadtestNothingSucceeded(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.93.2.3:0")
	addr := ln.Addr().String()
	ln.Close()
	code, out, errOut := runCmd(t, "loadtest", "--target", addr, "--mode", "connect", "--duration", "100ms")
	if code != 1 || !strings.Contains(out, "refused") || !strings.Contains(errOut, "no operation succeeded") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLoadtestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--target is required"},
		{[]string{"--target", "nohost"}, `--target: "nohost" is not host:port`},
		{[]string{"--target", "127.0.0.1:1", "--mode", "ping"}, `--mode: unknown mode "ping"`},
		{[]string{"--target", "127.0.0.1:1", "--conns", "0"}, "--conns: 0 is not a positive number"},
		{[]string{"--target", "127.0.0.1:1", "--rate", "-1"}, "--rate: -1 is negative"},
		{[]string{"--target", "127.0.0.1:1", "--mode", "stream", "--rate", "5"}, "stream mode has no rate"},
		{[]string{"--target", "127.0.0.1:1", "--duration", "0s"}, "--duration: 0s is not a positive duration"},
		{[]string{"--target", "127.0.0.1:1", "--size", "0"}, "--size: echo mode needs at least 1 byte"},
		{[]string{"--target", "127.0.0.1:1", "--source", "10.0.0.300/24"}, `--source: "10.0.0.300/24" is not a CIDR`},
		{[]string{"--target", "127.0.0.1:1", "--mode", "stream", "--direction", "sideways"}, `--direction: "sideways" is not up, down or both`},
		{[]string{"--target", "127.0.0.1:1", "--timeout", "-1s"}, "--timeout: -1s is not a positive duration"},
		{[]string{"--target", "127.0.0.1:1", "--duration", "soon"}, `invalid argument "soon" for "--duration"`},
	} {
		code, out, errOut := runCmd(t, append([]string{"loadtest"}, tt.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	p := &progressLine{w: &b} // as on a terminal
	p.show(loadtest.Snapshot{Elapsed: 1500 * time.Millisecond, Ops: 10, OpsPerSec: 10, Conns: 2})
	p.clear()
	if want := "\r\033[K  1.5s  10 ops  10/s  2 conns  up 0.0 MB/s  down 0.0 MB/s  0 errors\r\033[K"; b.String() != want {
		t.Fatalf("wrote %q, want %q", b.String(), want)
	}
	quiet := newProgressLine(&b) // not a terminal
	quiet.show(loadtest.Snapshot{})
	quiet.clear()
	if b.Len() != len("\r\033[K  1.5s  10 ops  10/s  2 conns  up 0.0 MB/s  down 0.0 MB/s  0 errors\r\033[K") {
		t.Fatal("progress written to a non-terminal")
	}
}

func TestLoadtestEnv(t *testing.T) {
	t.Setenv("PRIVLINK_LOADTEST_TARGET", startEchoTarget(t, "127.93.2.4"))
	t.Setenv("PRIVLINK_LOADTEST_DURATION", "100ms")
	code, out, errOut := runCmd(t, "loadtest", "--mode", "connect", "--json")
	if code != 0 || !strings.Contains(out, `"mode":"connect"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("PRIVLINK_LOADTEST_CONNS", "many")
	code, _, errOut = runCmd(t, "loadtest")
	if code != 2 || !strings.Contains(errOut, `PRIVLINK_LOADTEST_CONNS: "many"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
