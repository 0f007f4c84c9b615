//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy/inspect"
)

// The pod of deploy/: its endpoint, service and admin API.
const (
	podEndpoint = "vpce-0c1308d7312217abc"
	podService  = "vpce-svc-03d5ebb7d9579a2b3"
	podAdmin    = "http://127.0.0.1:9480"
)

// privlink in a pod: a fresh network namespace, as Kubernetes gives the
// containers of a pod and compose gives services with network_mode
// "service:privlink". The built binary runs the commands of
// deploy/compose.yaml (the pod's containers run the same ones:
// TestDeployManifests) with deploy/topology.yaml unchanged, on its fixed
// 127.x addresses and admin port: privlink run, the target (privlink
// inspect, echoing and recording PROXY headers) and the application, plus
// this test's own client, all inside the namespace. A second pod on the
// same addresses shares nothing with the first. Traffic, the PROXY header,
// explain, metrics, the exec probe and SIGTERM are checked the way a
// container platform sees them.
func TestNetnsPod(t *testing.T) {
	ns := newNetns(t)
	bin := buildPrivlink(t)
	topo, err := filepath.Abs(podTopology)
	if err != nil {
		t.Fatal(err)
	}
	d := ns.dialer(t)
	if code, _, stderr := ns.exec(t, bin, "health"); code != 1 || !strings.Contains(stderr, "cannot reach the admin API at 127.0.0.1:9480") {
		t.Fatalf("probe before privlink runs: exit %d, %s", code, stderr)
	}
	// The commands of deploy/compose.yaml (and of the pod's containers).
	svc := loadCompose(t).Services
	runArgs := slices.Clone(svc["privlink"].Command)
	runArgs[slices.Index(runArgs, "-c")+1] = topo
	target := ns.start(t, append([]string{bin}, svc["target"].Command...)...)
	run := ns.start(t, append(append([]string{bin}, runArgs...), "--deny-action", "reset", "--drain-timeout", "2s", "--log-level", "warn")...)
	targetAdmin := "http://" + flagValue(svc["target"].Command, "--admin")
	waitReady(t, d, targetAdmin+"/healthz", target)
	waitReady(t, d, podAdmin+"/readyz", run)

	if code, out, stderr := ns.exec(t, bin, "health"); code != 0 || !strings.Contains(out, "privlink at 127.0.0.1:9480: /readyz ok") {
		t.Fatalf("exec probe: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	client := echoThrough(t, d, "", "127.0.1.10:8443") // to the target container
	echoThrough(t, d, "", "127.0.2.10:8443")           // to the built-in echo target
	checkHeader(t, d, targetAdmin, client)
	checkDenied(t, d)
	checkExplain(t, ns, d, bin, topo)
	checkMetrics(t, d)
	app := append(append([]string{bin}, svc["app"].Command...), "--duration", "2s")
	if code, out, stderr := ns.exec(t, app...); code != 0 || !regexp.MustCompile(`(?m)^errors\s+0$`).MatchString(out) {
		t.Fatalf("the compose app %q: exit %d\n%s\n%s", app[1:], code, out, stderr)
	}
	checkSecondPod(t, bin, topo)

	if code := run.stop(10 * time.Second); code != 0 {
		t.Fatalf("privlink run after SIGTERM: exit %d, want 0 (docker stop, pod termination)\n%s", code, run.errb.String())
	}
	if code, _, _ := ns.exec(t, bin, "health"); code != 1 {
		t.Fatalf("exec probe after privlink stopped: exit %d, want 1", code)
	}
}

// waitReady polls url inside the namespace until it answers 200, failing
// early when p, the process serving it, exits.
func waitReady(t *testing.T, d *nsDialer, url string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := d.get(url)
		if code == 200 {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s: %d %q %v; %v exited: %v\nstdout:\n%s\nstderr:\n%s",
				url, code, body, err, p.cmd.Args[3:], p.exited(), p.out.String(), p.errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echoThrough sends a line through an endpoint interface from inside the
// namespace and expects it back; it returns the client's address.
func echoThrough(t *testing.T, d *nsDialer, local, addr string) netip.AddrPort {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.dialFrom(ctx, local, addr)
	if err != nil {
		t.Fatalf("dial %s inside the pod: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "hello from the pod via " + addr
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo via %s: %q, %v; want %q", addr, got, err, msg)
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort()
}

// checkHeader asserts that the target container saw the PROXY v2 header of
// the client's connection: the client's address, the endpoint interface,
// the endpoint ID, sent from the NLB node.
func checkHeader(t *testing.T, d *nsDialer, targetAdmin string, client netip.AddrPort) {
	t.Helper()
	var got struct{ Headers []inspect.Record }
	_, body, err := d.get(targetAdmin + "/v1/headers")
	if err == nil {
		err = json.Unmarshal([]byte(body), &got)
	}
	if err != nil {
		t.Fatalf("target /v1/headers: %v\n%s", err, body)
	}
	for _, h := range got.Headers {
		if h.HealthCheck || h.Source != client {
			continue
		}
		if h.Version != 2 || h.Destination != netip.MustParseAddrPort("127.0.1.10:8443") ||
			h.VPCEndpoint != podEndpoint || h.Peer.Addr() != netip.MustParseAddr("127.0.10.5") {
			t.Fatalf("header of %s: %+v; want v2 to 127.0.1.10:8443 with %s from node 127.0.10.5", client, h, podEndpoint)
		}
		return
	}
	t.Fatalf("the target saw no header from %s:\n%s", client, body)
}

// checkDenied connects from an address sg-endpoint does not allow: with
// --deny-action reset the client gets an RST and nothing reaches a target.
func checkDenied(t *testing.T, d *nsDialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.dialFrom(ctx, "127.0.5.9", "127.0.1.10:8443")
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("dial from 127.0.5.9: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The RST may beat the write: then the write reports it (and the read
	// after it sees EOF); else the read does.
	if _, err := c.Write([]byte("let me in")); errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return
	}
	got, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("denied client read %q, %v; want a reset", got, err)
	}
}

// checkExplain asks why 127.0.5.9 is denied, offline inside the pod and
// from the running instance's admin API.
func checkExplain(t *testing.T, ns *netns, d *nsDialer, bin, topo string) {
	t.Helper()
	code, out, stderr := ns.exec(t, bin, "explain", "-c", topo, "--from", "127.0.5.9", "--endpoint", podEndpoint, "--port", "8443")
	if code != 1 || !strings.Contains(out, "verdict: DENIED") || !strings.Contains(out, `add to security group sg-endpoint ingress: {protocol: tcp, ports: "8443", cidr: 127.0.5.9/32}`) {
		t.Fatalf("explain: exit %d\n%s\n%s", code, out, stderr)
	}
	for from, want := range map[string]string{"127.0.5.9": "denied", "127.0.0.1": "allowed"} {
		var r struct{ Verdict string }
		_, body, err := d.get(podAdmin + "/v1/explain?from=" + from + "&endpoint=" + podEndpoint + "&port=8443")
		if err == nil {
			err = json.Unmarshal([]byte(body), &r)
		}
		if err != nil || r.Verdict != want {
			t.Fatalf("/v1/explain from %s: %q, %v; want verdict %s\n%s", from, r.Verdict, err, want, body)
		}
	}
}

// checkMetrics reads /metrics inside the pod: one new flow per AZ from the
// echoes, one rejected at the endpoint SG.
func checkMetrics(t *testing.T, d *nsDialer) {
	t.Helper()
	want := []struct {
		name   string
		labels []string
	}{
		{"privlink_new_flows_total", []string{`az="use1-az1"`, `service="` + podService + `"`}},
		{"privlink_new_flows_total", []string{`az="use1-az2"`, `service="` + podService + `"`}},
		{"privlink_rejected_flows_total", []string{`hop="endpoint_sg_ingress"`, `service="` + podService + `"`}},
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range want {
		for {
			_, body, err := d.get(podAdmin + "/metrics")
			v, ok := metricValue(body, w.name, w.labels...)
			if ok && v >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics: %s%v = %v (found %v, %v); want ≥ 1", w.name, w.labels, v, ok, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// metricValue finds the sample of name whose labels include every one of
// labels (`key="value"`) in Prometheus text format.
func metricValue(body, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		matched := ok
		for _, l := range labels {
			matched = matched && strings.Contains(set, l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); matched && err == nil {
			return v, true
		}
	}
	return 0, false
}

// checkSecondPod runs a second pod with the same topology on the same
// node: same addresses, same admin port, its own privlink, no collision.
func checkSecondPod(t *testing.T, bin, topo string) {
	t.Helper()
	ns := newNetns(t)
	d := ns.dialer(t)
	run := ns.start(t, bin, "run", "-c", topo, "--log-level", "warn")
	waitReady(t, d, podAdmin+"/readyz", run)
	echoThrough(t, d, "", "127.0.2.10:8443")
	_, body, err := d.get(podAdmin + "/metrics")
	if v, ok := metricValue(body, "privlink_new_flows_total", `az="use1-az2"`); err != nil || !ok || v != 1 {
		t.Fatalf("second pod's privlink_new_flows_total{az=use1-az2} = %v (%v, %v); want 1: its own instance", v, ok, err)
	}
}
