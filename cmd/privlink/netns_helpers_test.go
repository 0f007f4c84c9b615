//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsPrefix names the namespaces these tests create: privlink-test-PID-N.
const netnsPrefix = "privlink-test-"

var netnsSeq atomic.Int64

// netns is a fresh network namespace with only lo up: what a Kubernetes
// pod, or a compose service with network_mode "service:privlink", gives
// privlink and the containers that share it.
type netns struct{ name string }

// newNetns creates a namespace with a unique name and deletes it in
// t.Cleanup. It skips the test when it cannot: not root, no iproute2.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace with `ip netns add` (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("needs iproute2's `ip` to create a network namespace: %v", err)
	}
	sweepStaleNetns(t)
	ns := &netns{name: fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsSeq.Add(1))}
	if out, err := ipCmd("netns", "add", ns.name); err != nil {
		t.Skipf("cannot create a network namespace here (`ip netns add %s`: %v: %s)", ns.name, err, out)
	}
	t.Cleanup(func() {
		if out, err := ipCmd("netns", "del", ns.name); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	if out, err := ipCmd("-n", ns.name, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", ns.name, err, out)
	}
	return ns
}

func ipCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// sweepStaleNetns deletes namespaces left by test processes that died
// before their cleanup ran (a panic, a -timeout): their PID is gone.
func sweepStaleNetns(t *testing.T) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		pid, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), netnsPrefix), "-")
		n, err := strconv.Atoi(pid)
		if !strings.HasPrefix(e.Name(), netnsPrefix) || !ok || err != nil || syscall.Kill(n, 0) != syscall.ESRCH {
			continue
		}
		if out, err := ipCmd("netns", "del", e.Name()); err != nil {
			t.Logf("stale namespace %s: %v: %s", e.Name(), err, out)
		}
	}
}

// cleanEnv is the test's environment without PRIVLINK_* variables, so
// the processes see only their flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PRIVLINK_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a process running inside a namespace.
type proc struct {
	cmd       *exec.Cmd
	out, errb syncBuffer
	done      chan struct{}
}

// start runs `ip netns exec NS args...` (ip execs args[0], so the process
// is the program itself) and stops it in t.Cleanup: SIGTERM, then SIGKILL.
// Pdeathsig kills it should the test process die first.
func (ns *netns) start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// stop sends SIGTERM and waits up to grace before killing; it returns the
// exit code (-1 when killed by a signal).
func (p *proc) stop(grace time.Duration) int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exec runs args inside the namespace to completion (at most 20 s).
func (ns *netns) exec(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	cmd.Env = cleanEnv()
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// nsDialer opens TCP connections from inside a namespace: one goroutine,
// locked to its OS thread, joins the namespace with setns(2) and makes
// every socket. A socket stays in the namespace it was created in, so the
// connections work from any goroutine. The thread is never unlocked: it
// exits with the goroutine, taking the namespace membership with it.
type nsDialer struct {
	reqs chan dialReq
	done chan struct{}
}

type dialReq struct {
	ctx         context.Context
	local, addr string
	reply       chan dialResult
}

type dialResult struct {
	c   net.Conn
	err error
}

func (ns *netns) dialer(t *testing.T) *nsDialer {
	t.Helper()
	d := &nsDialer{reqs: make(chan dialReq), done: make(chan struct{})}
	joined := make(chan error, 1)
	go d.serve("/run/netns/"+ns.name, joined)
	if err := <-joined; err != nil {
		t.Fatalf("join namespace %s: %v", ns.name, err)
	}
	t.Cleanup(func() {
		close(d.reqs)
		<-d.done
	})
	return d
}

func (d *nsDialer) serve(path string, joined chan<- error) {
	defer close(d.done)
	runtime.LockOSThread()
	f, err := os.Open(path)
	if err == nil {
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
	}
	joined <- err
	if err != nil {
		return
	}
	for r := range d.reqs {
		dl := net.Dialer{Timeout: 5 * time.Second}
		if r.local != "" {
			dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(r.local)}
		}
		c, err := dl.DialContext(r.ctx, "tcp", r.addr)
		r.reply <- dialResult{c, err}
	}
}

// dialFrom connects to addr from the local IP (empty: the kernel's choice).
func (d *nsDialer) dialFrom(ctx context.Context, local, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, local: local, addr: addr, reply: make(chan dialResult, 1)}
	d.reqs <- r
	res := <-r.reply
	return res.c, res.err
}

// get fetches a URL inside the namespace and returns the status and body.
func (d *nsDialer) get(url string) (int, string, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.dialFrom(ctx, "", addr)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// buildPrivlink builds this package into a temporary directory with the
// test binary's -race and cgo settings, so the build reuses what go test
// already compiled (seconds, not a minute).
func buildPrivlink(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build privlink: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "privlink")
	args := []string{"build", "-o", bin}
	env := os.Environ()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "-race" && s.Value == "true":
				args = append(args, "-race")
			case s.Key == "CGO_ENABLED":
				env = append(env, "CGO_ENABLED="+s.Value)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append(args, ".")...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}
