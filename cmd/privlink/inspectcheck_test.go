package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/ppv2"
)

// inspectRun is `privlink inspect` running in-process.
type inspectRun struct {
	listen, admin string // admin: base URL, "" when off
	out, errb     *syncBuffer
	cancel        context.CancelFunc
	done          chan int
}

// startInspect runs `privlink inspect ARGS` and waits for its announcement.
func startInspect(t *testing.T, args ...string) *inspectRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &inspectRun{out: &syncBuffer{}, errb: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"inspect", "--log-level", "error"}, args...), r.out, r.errb)
	}()
	t.Cleanup(func() { cancel() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(r.out.String(), "\n"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no announcement; stderr %q", r.errb.String())
		}
	}
	// privlink inspect: listening on ADDR, echo mode, admin http://ADDR/v1/headers
	fields := strings.Fields(strings.SplitN(r.out.String(), "\n", 2)[0])
	r.listen = strings.TrimSuffix(fields[4], ",")
	if u := fields[len(fields)-1]; strings.HasPrefix(u, "http://") {
		r.admin = strings.TrimSuffix(u, "/v1/headers")
	}
	return r
}

// stop ends the run as SIGTERM does and returns its exit code and output.
func (r *inspectRun) stop(t *testing.T) (int, string, string) {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

func (r *inspectRun) wait(t *testing.T) (int, string, string) {
	t.Helper()
	select {
	case code := <-r.done:
		return code, r.out.String(), r.errb.String()
	case <-time.After(inspectDrain + 10*time.Second):
		t.Fatal("inspect did not stop")
		return 0, "", ""
	}
}

// send writes b on a new connection to the sidecar and reads n bytes of
// echo (n = 0: reads to the end).
func send(t *testing.T, addr string, b []byte, n int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		_, _ = io.ReadAll(c)
		return
	}
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatalf("echo: %v", err)
	}
}

var (
	checkClient = netip.MustParseAddrPort("127.0.1.50:40000")
	checkENI    = netip.MustParseAddrPort("127.0.1.10:8443")
)

const checkVPCE = "vpce-0c1308d7312217abc"

// conn is one connection of a --check test: its bytes, and whether the
// sidecar echoes them (false: it refuses the connection).
type conn struct {
	b    []byte
	echo bool
}

func TestInspectCheck(t *testing.T) {
	v2 := ppv2.AppendProxy(nil, checkClient, checkENI, checkVPCE)
	tests := []struct {
		name  string
		args  []string
		conns []conn
		code  int
		out   []string // in stdout
		err   string   // in stderr
	}{
		{"privlink's PROXY and LOCAL headers", []string{"--endpoint-addrs", "127.0.1.10,127.0.2.10"}, []conn{{v2, true}, {ppv2.AppendLocal(nil), true}}, 0,
			[]string{"check: ok: 2 PROXY headers, every one as an NLB sends it"}, ""},
		{"privlink's headers, destination from -c", []string{"-c", "DEFAULT"}, []conn{{v2, true}}, 0,
			[]string{"check: ok: 1 PROXY headers"}, ""},
		{"a v1 header", nil, []conn{{v2, true}, {[]byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n"), true}}, 1,
			[]string{"FAIL: 1 of 2 PROXY headers differ from what an NLB sends", "  v1                       1  NLB sends PROXY protocol version 2"},
			"privlink: --check: 1 of 2 PROXY headers do not conform: v1"},
		{"a destination outside the endpoint interfaces", []string{"--endpoint-addrs", "127.0.2.10"}, []conn{{v2, true}}, 1,
			[]string{"  destination              1  NLB's destination is an endpoint interface address"}, "do not conform: destination"},
		{"no AWS TLV and a stacked header", nil, []conn{{ppv2.AppendProxy(nil, checkClient, checkENI, ""), true}, {append(v2, v2...), false}}, 1,
			[]string{"FAIL: 2 of 2", "  aws_tlv ", "  stacked ", "  refused stacked "}, "do not conform: aws_tlv, stacked, refused stacked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--admin", "off", "--check"}, tt.args...)
			for i := range args {
				if args[i] == "DEFAULT" {
					args[i] = writeFile(t, config.DefaultYAML())
				}
			}
			r := startInspect(t, args...)
			for _, c := range tt.conns {
				send(t, r.listen, append(c.b, 'x'), map[bool]int{true: 1}[c.echo])
			}
			code, out, errOut := r.stop(t)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, errOut, tt.code, tt.err)
			}
			for _, want := range tt.out {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// --duration ends the run by itself; with no header seen, --check fails.
func TestInspectCheckDurationNoHeader(t *testing.T) {
	r := startInspect(t, "--listen", "127.0.0.1:0", "--admin", "off", "--check", "--duration", "200ms")
	send(t, r.listen, []byte("GET / HTTP/1.0\r\n\r\n"), 18) // no header: not counted
	code, out, errOut := r.wait(t)
	if code != 1 || !strings.Contains(out, "FAIL: no PROXY header was seen") || !strings.Contains(errOut, "--check: no PROXY header was seen") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// --strict refuses a header split across reads, and --check counts it; the
// default waits for the rest.
func TestInspectStrict(t *testing.T) {
	v2 := ppv2.AppendProxy(nil, checkClient, checkENI, checkVPCE)
	for _, strict := range []bool{true, false} {
		args := []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--check"}
		if strict {
			args = append(args, "--strict")
		}
		r := startInspect(t, args...)
		c, err := net.Dial("tcp", r.listen)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(v2[:5]) // 0d0a0d0a00, then the rest
		waitMetric(t, r.admin, map[bool]string{true: `privlink_inspect_errors_total{reason="split"} 1`, false: `privlink_inspect_active_connections 1`}[strict])
		_, _ = c.Write(append(v2[5:], 'x'))
		got, _ := io.ReadAll(io.LimitReader(c, 1))
		_ = c.Close()
		code, out, _ := r.stop(t)
		switch {
		case strict && (code != 1 || len(got) != 0 || !strings.Contains(out, "refused split")):
			t.Errorf("--strict: exit %d, echo %q, stdout %q", code, got, out)
		case !strict && (code != 1 || string(got) != "x" || !strings.Contains(out, "  split                    1  HAProxy 2.6 and nginx 1.22 refuse a header split across reads")):
			t.Errorf("default: exit %d, echo %q, stdout %q", code, got, out)
		}
	}
}

// waitMetric polls the sidecar's /metrics until it shows line.
func waitMetric(t *testing.T, admin, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(httpGet(t, admin+"/metrics"), line) {
			return
		}
	}
	t.Fatalf("/metrics never showed %q", line)
}

// The verdict is in /v1/headers of the running command.
func TestInspectHeadersShowConformance(t *testing.T) {
	r := startInspect(t, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	send(t, r.listen, []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\nx"), 1)
	var body struct {
		Headers []struct {
			Conformance []string `json:"conformance"`
		} `json:"headers"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, r.admin+"/v1/headers")), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Headers) != 1 || strings.Join(body.Headers[0].Conformance, "|") != "v1: NLB sends PROXY protocol version 2" {
		t.Fatalf("headers %+v", body)
	}
	if code, _, _ := r.stop(t); code != 0 {
		t.Fatalf("exit %d without --check", code)
	}
}

// privlink's own data plane (PROXY v2 on) in front of `privlink inspect
// --check -c TOPOLOGY`: the client's PROXY header and the health checks'
// LOCAL headers all conform, so the check exits 0.
func TestInspectCheckBehindPrivlink(t *testing.T) {
	y := strings.ReplaceAll(string(config.DefaultYAML()), "127.0.", "127.79.")
	y = strings.ReplaceAll(y, "127.79.0.0/8", "127.0.0.0/8")
	y = strings.Replace(y, "127.79.0.1:9480", "127.0.0.1:0", 1)
	y = strings.Replace(y, ", builtin: echo}", "}", 1) // the az1 target is the sidecar
	topo := writeFile(t, []byte(y))
	insp := startInspect(t, "--listen", "127.79.10.20:9443", "--admin", "127.0.0.1:0", "--check", "-c", topo)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", topo, "--log-level", "error"}, &out, &errb) }()
	waitDialable(t, "127.79.1.10:8443", true, 10*time.Second)
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(httpGet(t, insp.admin+"/v1/headers"), `"health_check": true`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no health check reached the sidecar; privlink stderr %q", errb.String())
		}
	}
	// privlink listens before it registers its targets, and resets clients
	// until then; the health checks above have started, so this settles fast.
	for i := 0; !echoed("127.79.1.10:8443", "hello"); i++ {
		if i == 100 {
			t.Fatal("no echo through privlink and the sidecar")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("privlink run exit %d: %s", code, errb.String())
	}
	headers := httpGet(t, insp.admin+"/v1/headers")
	code, stdout, stderr := insp.stop(t)
	if code != 0 || !strings.Contains(stdout, "check: ok: ") || !strings.Contains(headers, `"vpce_id": "vpce-0c1308d7312217abc"`) {
		t.Fatalf("inspect --check exit %d, stdout %q, stderr %q; headers were %s", code, stdout, stderr, headers)
	}
	t.Log(strings.TrimSpace(stdout))
}

// echoed reports whether msg sent to addr comes back.
func echoed(addr, msg string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	_, err = io.ReadFull(c, got)
	return err == nil && string(got) == msg
}

// --check reports when a real SIGTERM stops the sidecar, as CI's `timeout`
// or `docker stop` would stop it: the verdict is printed and the exit
// status follows it.
func TestInspectCheckOnSIGTERM(t *testing.T) {
	r := startInspect(t, "--listen", "127.0.0.1:0", "--admin", "off", "--check", "--endpoint-addrs", "127.0.1.10")
	send(t, r.listen, append(ppv2.AppendProxy(nil, checkClient, checkENI, checkVPCE), 'x'), 1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := r.wait(t)
	if code != 0 || !strings.Contains(out, "check: ok: 1 PROXY headers") {
		t.Fatalf("exit %d after SIGTERM; stdout %q, stderr %q; want 0 and the verdict", code, out, errOut)
	}
}
