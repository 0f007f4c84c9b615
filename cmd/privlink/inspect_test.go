package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/privlink/privlink/proxy/ppv2"
)

// execute runs the root command with args and returns the exit code the
// process would have and the error message.
func execute(t *testing.T, args ...string) (int, string) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	err := root.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &ee):
		return ee.code, err.Error()
	}
	return 2, err.Error() // cobra's own flag errors, as run treats them
}

func TestInspectFlagErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no listen", nil, 2, "--listen is required"},
		{"listen without port", []string{"--listen", "127.0.0.1"}, 2, `--listen: "127.0.0.1" is not host:port`},
		{"bad CIDR", []string{"--listen", "127.0.0.1:0", "--trust", "10.0.0.0/8,10.1.0.0/33"}, 2, `--trust: "10.1.0.0/33" is not a CIDR or IP address`},
		{"bad emit", []string{"--listen", "127.0.0.1:0", "--upstream", "app:80", "--emit", "v3"}, 2, `--emit: "v3" is not v1 or v2`},
		{"emit without upstream", []string{"--listen", "127.0.0.1:0", "--emit", "v2"}, 2, "--emit v2 needs --upstream"},
		{"bad upstream", []string{"--listen", "127.0.0.1:0", "--upstream", "app"}, 2, `--upstream: "app" is not host:port`},
		{"bad admin", []string{"--listen", "127.0.0.1:0", "--admin", "on"}, 2, `--admin: "on" is not host:port or "off"`},
		{"zero ring", []string{"--listen", "127.0.0.1:0", "--ring", "0"}, 2, "--ring: 0 is not a positive number"},
		{"zero timeout", []string{"--listen", "127.0.0.1:0", "--header-timeout", "0s"}, 2, "--header-timeout: 0s is not a positive duration"},
		{"timeout without unit", []string{"--listen", "127.0.0.1:0", "--header-timeout", "5"}, 2, `"--header-timeout"`},
		{"bad endpoint address", []string{"--listen", "127.0.0.1:0", "--endpoint-addrs", "10.0.1.10,eni"}, 2, `--endpoint-addrs: "eni" is not a CIDR or IP address`},
		{"negative duration", []string{"--listen", "127.0.0.1:0", "--duration", "-1s"}, 2, "--duration: -1s is negative"},
		{"missing topology", []string{"--listen", "127.0.0.1:0", "-c", "/nonexistent.yaml"}, 1, "/nonexistent.yaml"},
		{"listen address in use", []string{"--listen", busy.Addr().String(), "--admin", "off"}, 1, "--listen: inspect: listen tcp " + busy.Addr().String()},
		{"admin address in use", []string{"--listen", "127.0.0.1:0", "--admin", busy.Addr().String()}, 1, "--admin: listen tcp " + busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := execute(t, append([]string{"inspect", "--log-level", "error"}, tt.args...)...)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("exit %d %q, want exit %d containing %q", code, msg, tt.code, tt.want)
			}
		})
	}
}

func TestInspectEnv(t *testing.T) {
	t.Setenv("PRIVLINK_INSPECT_EMIT", "v9")
	code, msg := execute(t, "inspect", "--listen", "127.0.0.1:0", "--upstream", "app:80")
	if code != 2 || !strings.Contains(msg, "--emit") {
		t.Fatalf("exit %d %q", code, msg)
	}
	t.Setenv("PRIVLINK_INSPECT_RING", "many")
	code, msg = execute(t, "inspect", "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(msg, "PRIVLINK_INSPECT_RING") {
		t.Fatalf("exit %d %q", code, msg)
	}
}

func TestInspectRunsAndStopsOnSIGTERM(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, outW := io.Pipe()
	root := newRootCmd()
	root.SetArgs([]string{"inspect", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--require", "--log-level", "error"})
	root.SetOut(outW)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); _ = outW.Close() }()

	// privlink inspect: listening on ADDR, echo mode, admin http://ADDR/v1/headers
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("startup line: %v (command: %v)", err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	fields := strings.Fields(line)
	listen, headersURL := strings.TrimSuffix(fields[4], ","), fields[len(fields)-1]

	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hdr := ppv2.AppendProxy(nil, netip.MustParseAddrPort("127.0.1.50:40000"), netip.MustParseAddrPort("127.0.1.10:8443"), "vpce-0c1308d7312217abc")
	if _, err := c.Write(append(hdr, "hi"...)); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 2)
	if _, err := io.ReadFull(c, echo); err != nil || string(echo) != "hi" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	_ = c.Close()

	adminBase := strings.TrimSuffix(headersURL, "/v1/headers")
	for path, want := range map[string]string{
		"/v1/headers?limit=1": `"vpce_id": "vpce-0c1308d7312217abc"`,
		"/metrics":            `privlink_inspect_headers_total{command="proxy",version="2"} 1`,
		"/healthz":            `{"status":"ok"}`,
		"/nope":               `"error":"no such endpoint: /nope`,
	} {
		if body := httpGet(t, adminBase+path); !strings.Contains(body, want) {
			t.Errorf("GET %s: %q does not contain %q", path, body, want)
		}
	}
	if body := httpGet(t, adminBase+"/metrics"); !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Errorf("/metrics lacks the Go and process collectors")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(inspectDrain + 5*time.Second):
		t.Fatal("inspect did not stop")
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
