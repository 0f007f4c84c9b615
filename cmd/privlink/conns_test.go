package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/conntrack"
)

// connsAdmin serves a table's connection handlers on loopback.
func connsAdmin(t *testing.T, tb *conntrack.Table) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/connections", tb.ListHandler())
	mux.Handle("GET /v1/connections/stream", tb.StreamHandler())
	srv := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.46.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(tb.Close) // end streams before the server waits for them
	return srv.URL
}

type sampleStats conntrack.Sample

func (s sampleStats) Sample() conntrack.Sample { return conntrack.Sample(s) }

func connEntry(port uint16, endpoint string) *conntrack.Entry {
	return &conntrack.Entry{
		Client: netip.AddrPortFrom(netip.MustParseAddr("127.0.1.50"), port),
		Node:   netip.MustParseAddrPort("127.0.10.5:31337"),
		Target: netip.MustParseAddrPort("127.0.0.1:9443"),
		Path: &conntrack.Path{Iface: netip.MustParseAddrPort("127.0.1.10:8443"),
			Endpoint: endpoint, Service: "vpce-svc-03d5ebb7d9579a2b3", AZ: "use1-az1"},
		Start: time.Now().Add(-90 * time.Second),
		Stats: sampleStats{Client: conntrack.Counters{BytesIn: 2048, BytesOut: 3 << 20, PktsIn: 12, PktsOut: 40}},
	}
}

func TestConnsList(t *testing.T) {
	tb := conntrack.NewTable(conntrack.TableOptions{})
	a := connEntry(40001, "vpce-0c1308d7312217abc")
	tb.Insert(a)
	tb.SetState(a, conntrack.StateEstablished)
	tb.Insert(connEntry(40002, "vpce-other"))
	url := connsAdmin(t, tb)

	code, out, errs := runCmd(t, "conns", "--admin", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	for _, want := range []string{"ID", "STATE", "CLIENT", "ENDPOINT-IFACE", "NODE", "TARGET", "AGE", "BYTES↑", "BYTES↓", "PKTS"} {
		if !strings.Contains(lines[0], want) {
			t.Fatalf("header %q lacks %s", lines[0], want)
		}
	}
	for _, want := range []string{"1", "established", "127.0.1.50:40001", "127.0.1.10:8443", "127.0.10.5:31337", "127.0.0.1:9443", "1m30s", "2.0KiB", "3.0MiB", "12/40"} {
		if !strings.Contains(" "+strings.Join(strings.Fields(lines[1]), " ")+" ", " "+want+" ") {
			t.Fatalf("row %q lacks %s", lines[1], want)
		}
	}

	// Filters go to the API; host:port works as --admin.
	code, out, _ = runCmd(t, "conns", "--admin", strings.TrimPrefix(url, "http://"), "--endpoint", "vpce-other", "--json")
	var views []conntrack.View
	if code != 0 || json.Unmarshal([]byte(out), &views) != nil || len(views) != 1 || views[0].Endpoint != "vpce-other" {
		t.Fatalf("exit %d, json %s", code, out)
	}
	code, out, _ = runCmd(t, "conns", "--admin", url, "--state", "expired")
	if code != 0 || !strings.Contains(out, "(no connections)") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestConnsErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.46.2:0")
	dead := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad state", []string{"--state", "zombie"}, 2, `privlink: --state: unknown connection state "zombie"`},
		{"bad target", []string{"--target", "db"}, 2, `privlink: --target: "db" is not an IP address or IP:port`},
		{"bad admin", []string{"--admin", "ftp://x"}, 2, `privlink: --admin: "ftp://x" is not an http URL or host:port`},
		{"unreachable", []string{"--admin", dead}, 1, "privlink: cannot reach the admin API at " + dead + " (is privlink run running? set --admin)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCmd(t, append([]string{"conns"}, tt.args...)...)
			if code != tt.code || !strings.HasPrefix(errs, tt.want) {
				t.Fatalf("exit %d %q, want %d %q", code, errs, tt.code, tt.want)
			}
		})
	}
	t.Setenv("PRIVLINK_CONNS_STATE", "nope")
	if code, _, errs := runCmd(t, "conns"); code != 2 || !strings.Contains(errs, "PRIVLINK_CONNS_STATE") && !strings.Contains(errs, "--state") {
		t.Fatalf("env: exit %d %q", code, errs)
	}
}

func TestConnsWatch(t *testing.T) {
	for _, raw := range []bool{false, true} {
		tb := conntrack.NewTable(conntrack.TableOptions{})
		url := connsAdmin(t, tb)
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		var wg sync.WaitGroup
		code := -1
		args := []string{"conns", "--admin", url, "--watch"}
		if raw {
			args = append(args, "--json")
		}
		wg.Go(func() { code = run(ctx, args, &out, &errb) })
		waitFor(t, func() bool {
			// Insert until the stream has subscribed and shows the event.
			if !strings.Contains(out.String(), "new") {
				e := connEntry(40001, "vpce-0c1308d7312217abc")
				tb.Insert(e)
				tb.Remove(e)
				return false
			}
			return strings.Contains(out.String(), "closed")
		})
		cancel()
		wg.Wait()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		s := out.String()
		if raw {
			if !strings.Contains(s, `"type":"closed"`) {
				t.Fatalf("json watch:\n%s", s)
			}
			continue
		}
		if !strings.Contains(s, "127.0.1.50:40001 → 127.0.1.10:8443 via 127.0.10.5:31337 → 127.0.0.1:9443 (vpce-0c1308d7312217abc) 2.0KiB↑ 3.0MiB↓ after 1m30s") {
			t.Fatalf("watch output:\n%s", s)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
	}
}

func TestConnsWatchEndsWithServer(t *testing.T) {
	tb := conntrack.NewTable(conntrack.TableOptions{})
	url := connsAdmin(t, tb)
	done := make(chan int)
	go func() {
		code, _, _ := runCmd(t, "conns", "--admin", url, "--watch")
		done <- code
	}()
	time.Sleep(50 * time.Millisecond)
	tb.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end when the stream closed")
	}
}

// --watch lines of denied and failed connections say why: the hop and
// rule, or the reason; a connection denied before a target was picked has
// no "via" part.
func TestEventLineSaysWhy(t *testing.T) {
	at := time.Date(2026, 11, 30, 11, 20, 0, 0, time.Local)
	base := conntrack.View{ID: 4, Client: netip.MustParseAddrPort("127.0.1.50:40001"),
		Iface: netip.MustParseAddrPort("127.0.1.10:8443"), Endpoint: "vpce-0c1308d7312217abc"}
	failed := base
	failed.Node, failed.Target, failed.Reason = netip.MustParseAddrPort("127.0.10.5:2001"), netip.MustParseAddrPort("127.0.0.1:9443"), "refused"
	denied := base
	denied.Hop, denied.Rule = "endpoint_sg_ingress", "sg-x ingress[0]"
	tests := []struct {
		name string
		ev   conntrack.Event
		want string
	}{
		{"denied", conntrack.Event{Type: conntrack.EventDenied, Time: at, Conn: denied},
			"11:20:00.000 denied      #4 127.0.1.50:40001 → 127.0.1.10:8443 (vpce-0c1308d7312217abc) hop=endpoint_sg_ingress rule=sg-x ingress[0]"},
		{"failed", conntrack.Event{Type: conntrack.EventFailed, Time: at, Conn: failed},
			"11:20:00.000 failed      #4 127.0.1.50:40001 → 127.0.1.10:8443 via 127.0.10.5:2001 → 127.0.0.1:9443 (vpce-0c1308d7312217abc) reason=refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventLine(&tt.ev); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// connsWhyYAML is a topology whose endpoint SG admits only 127.98.1.0/25
// and whose one target (nothing listens there) refuses.
const connsWhyYAML = `
admin: {listen: "127.98.0.1:0"}
dns: {listen: "off"}
deny_action: reset
subnets:
  - {id: subnet-c, az: use1-az1, cidr: 127.98.1.0/24}
  - {id: subnet-p, az: use1-az1, cidr: 127.98.10.0/24}
security_groups:
  - {id: sg-x, ingress: [{protocol: tcp, ports: 8443, cidr: 127.98.1.0/25}]}
services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      nodes: [{subnet: subnet-p, ip: 127.98.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, health_check: {enabled: false}, targets: [{ip: 127.98.10.20, subnet: subnet-p}]}
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [sg-x]
    interfaces: [{subnet: subnet-c, ip: 127.98.1.10}]
`

// privlink conns --watch against a running privlink: a connection its
// endpoint's SG denies shows the hop and the rule, one whose target
// refuses shows the node, the target and the reason.
func TestConnsWatchSaysWhy(t *testing.T) {
	admin := startServer(t, "why.yaml", connsWhyYAML).AdminAddr()
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	var wg sync.WaitGroup
	code := -1
	wg.Go(func() { code = run(ctx, []string{"conns", "--admin", admin, "--watch"}, &out, &errb) })
	defer func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("watch output:\n%s", out.String())
		}
	}()
	dial := func(from string) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)), Timeout: time.Second}
		if c, err := d.Dial("tcp", "127.98.1.10:8443"); err == nil {
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(make([]byte, 1)) // the reset
			c.Close()
		}
	}
	denied := regexp.MustCompile(`denied +#\d+ 127\.98\.1\.200:\d+ → 127\.98\.1\.10:8443 \(vpce-0123456789abcdef0\) hop=endpoint_sg_ingress rule=no matching rule`)
	failed := regexp.MustCompile(`failed +#\d+ 127\.98\.1\.50:\d+ → 127\.98\.1\.10:8443 via 127\.98\.10\.5:\d+ → 127\.98\.10\.20:9443 \(vpce-0123456789abcdef0\) reason=refused`)
	waitFor(t, func() bool { // dial until the watch has subscribed and shows both
		s := out.String()
		if !denied.MatchString(s) {
			dial("127.98.1.200")
		}
		if !failed.MatchString(s) {
			dial("127.98.1.50")
		}
		return denied.MatchString(s) && failed.MatchString(s)
	})
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
	}
}
