package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
)

// dashNACL puts the client subnet of az1 behind acl-c1, which denies P.2.66.
var dashNACL = []string{
	"subnets:", "network_acls:\n  - id: acl-c1\n    ingress: [{rule: 50, protocol: tcp, ports: \"8443\", cidr: P.2.66/32, action: deny}, {rule: 100, protocol: -1, cidr: 127.0.0.0/8, action: allow}]\n" +
		"    egress: [{rule: 100, protocol: -1, cidr: 127.0.0.0/8, action: allow}]\nsubnets:",
	"{id: subnet-c1, az: use1-az1, cidr: P.1.0/24}", "{id: subnet-c1, az: use1-az1, cidr: P.1.0/24, network_acl: acl-c1}",
}

func TestDashboardPageAndAssets(t *testing.T) {
	_, base := adminLab(t)
	tests := []struct {
		name, method, path string
		code               int
		typ, has           string
	}{
		{name: "page", method: "GET", path: "/", code: 200, typ: "text/html", has: `<script src="/dashboard/app.js" defer></script>`},
		{name: "script", method: "GET", path: "/dashboard/app.js", code: 200, typ: "text/javascript", has: "new EventSource('/v1/dashboard/live')"},
		{name: "topology script", method: "GET", path: "/dashboard/topology.js", code: 200, typ: "text/javascript", has: "function renderTopology"},
		{name: "style", method: "GET", path: "/dashboard/style.css", code: 200, typ: "text/css", has: "@media (max-width: 900px)"},
		{name: "no other file", method: "GET", path: "/dashboard/index.html", code: 404},
		{name: "no listing", method: "GET", path: "/dashboard/", code: 404},
		{name: "other paths stay API 404s", method: "GET", path: "/nope", code: 404, typ: "application/json", has: "no such admin API path"},
		{name: "page is GET only", method: "POST", path: "/", code: 405, typ: "application/json", has: "allowed: GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send(t, tt.method, base+tt.path, "")
			if resp.StatusCode != tt.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.typ) || !strings.Contains(body, tt.has) {
				t.Fatalf("%s %s: %d %s, want %d %s with %q:\n%.400s", tt.method, tt.path, resp.StatusCode,
					resp.Header.Get("Content-Type"), tt.code, tt.typ, tt.has, body)
			}
			if tt.code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("no Content-Security-Policy keeping the page to its origin: %q", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
}

// The page works offline: nothing it loads names another host.
func TestDashboardFetchesNothingElsewhere(t *testing.T) {
	_, base := adminLab(t)
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/topology.js", "/dashboard/style.css"} {
		_, body := send(t, "GET", base+path, "")
		body = strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "") // a namespace name, not fetched
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q: the page must load nothing from elsewhere", path, bad)
			}
		}
	}
}

func TestDashboardTopology(t *testing.T) {
	l, base := adminLab(t, append(dashNACL, "security_groups:", "clients: [{cidr: P.2.50/32, subnet: subnet-c2, security_groups: [sg-endpoint]}]\nsecurity_groups:")...)
	_, body := send(t, "GET", base+"/v1/dashboard/topology", "")
	var top DashTopology
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	p := l.p
	if len(top.Clients) != 3 || top.Clients[0].Subnet != "subnet-c1" || top.Clients[0].NACL != "acl-c1" || top.Clients[1].NACL != "" ||
		top.Clients[2].Kind != "client" || top.Clients[2].AZ != "use1-az2" || !slices.Equal(top.Clients[2].SecurityGroups, []string{"sg-endpoint"}) {
		t.Errorf("clients: %+v, want subnet-c1 (acl-c1), subnet-c2 (default NACL) and the client P.2.50 (sg-endpoint)", top.Clients)
	}
	if len(top.Endpoints) != 1 || len(top.Endpoints[0].Interfaces) != 2 {
		t.Fatalf("endpoints: %+v", top.Endpoints)
	}
	ep := top.Endpoints[0]
	in := ep.Interfaces[0]
	if ep.State != EndpointAvailable || !slices.Equal(ep.SecurityGroups, []string{"sg-endpoint"}) ||
		in.IP.String() != p+".1.10" || in.NACL != "acl-c1" || in.Node.String() != p+".10.5" || !slices.Equal(in.Ports, []uint16{8443}) {
		t.Errorf("endpoint: %+v", ep)
	}
	if len(top.Services) != 1 || len(top.Services[0].Nodes) != 2 || len(top.Services[0].TargetGroups) != 1 {
		t.Fatalf("services: %+v", top.Services)
	}
	tg := top.Services[0].TargetGroups[0]
	if tg.Name != "tg" || tg.Port != 9443 || len(tg.Targets) != 2 || tg.Targets[0].Target.String() != p+".10.20:9443" ||
		tg.Targets[0].Subnet != "subnet-p1" || tg.Targets[0].State == "" {
		t.Errorf("target group: %+v", tg)
	}
}

// liveStream opens GET /v1/dashboard/live; cancel ends it.
func liveStream(t *testing.T, url string) (*bufio.Scanner, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/dashboard/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("live: %d %s, want 200 text/event-stream", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return sc, func() { cancel(); resp.Body.Close() }
}

// nextFrame reads frames until one satisfies ok; it fails after 10 s.
func nextFrame(t *testing.T, sc *bufio.Scanner, what string, ok func(*LiveFrame) bool) *LiveFrame {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && sc.Scan(); {
		data, found := strings.CutPrefix(sc.Text(), "data: ")
		if !found {
			continue
		}
		var f LiveFrame
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			t.Fatalf("frame: %v: %s", err, data)
		}
		if ok(&f) {
			return &f
		}
		last = data
	}
	t.Fatalf("no frame with %s within 10s; last:\n%s", what, last)
	return nil
}

func zoneOf(f *LiveFrame, az string) LiveZone {
	for _, z := range f.Zones {
		if z.AZ == az {
			return z
		}
	}
	return LiveZone{}
}

// The live frames show a flow while it lives, its bytes when it closes,
// and a denied one with its hop and rule.
func TestDashboardLiveFrames(t *testing.T) {
	l, base := adminLab(t, dashNACL...)
	sc, stop := liveStream(t, base)
	defer stop()
	nextFrame(t, sc, "the zones of the topology", func(f *LiveFrame) bool { return len(f.Zones) == 2 && len(f.Targets) == 2 })

	c := l.dial("1.50", "1.10")
	c.Write([]byte("hello"))
	readN(t, c, 5)
	nextFrame(t, sc, "an active flow in use1-az1", func(f *LiveFrame) bool {
		z := zoneOf(f, "use1-az1")
		return z.Active == 1 && z.NewFlows == 1 && z.NewPerSec > 0 && len(f.Ports) == 1 && f.Ports[0].InUse == 1
	})
	c.Close()
	nextFrame(t, sc, "the closed flow's bytes", func(f *LiveFrame) bool {
		z := zoneOf(f, "use1-az1")
		return z.Active == 0 && z.Bytes == 10
	})

	if d, err := l.tryDial("2.66", "1.10"); err == nil {
		d.Close()
	}
	f := nextFrame(t, sc, "the denied flow", func(f *LiveFrame) bool { return len(f.Denied) > 0 })
	d := f.Denied[0]
	if d.Hop != "endpoint_nacl_ingress" || d.Rule != "acl-c1 rule 50" || d.Client.Addr() != l.addr("2.66") || d.Endpoint != endpointID {
		t.Errorf("denied flow: %+v, want hop endpoint_nacl_ingress, rule acl-c1 rule 50, from %s.2.66", d, l.p)
	}
	nextFrame(t, sc, "the rejection counted by hop", func(f *LiveFrame) bool {
		return slices.ContainsFunc(f.Rejected, func(r LiveRejected) bool { return r.Hop == "endpoint_nacl_ingress" && r.Total == 1 })
	})
}

// A reload changes the frames' topology tag, which makes the page redraw.
func TestDashboardLiveTopologyTagFollowsReload(t *testing.T) {
	l, base := adminLab(t)
	sc, stop := liveStream(t, base)
	defer stop()
	first := nextFrame(t, sc, "a frame", func(*LiveFrame) bool { return true })
	cfg, err := config.Parse("reloaded.yaml", []byte(strings.Replace(l.yaml, "cidr: 127.0.0.0/8}", "cidr: 127.0.0.0/9}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, sc, "a new topology tag", func(f *LiveFrame) bool { return f.Topology != first.Topology })
}

func readN(t *testing.T, c interface{ Read([]byte) (int, error) }, n int) {
	t.Helper()
	buf := make([]byte, n)
	for got := 0; got < n; {
		m, err := c.Read(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += m
	}
}

// One sampler serves every page, and there is none, nor any subscription
// to the connection table, while no page is connected.
func TestDashboardSamplerOnlyWhileWatched(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	mux := http.NewServeMux()
	hub := l.srv.dashboardRoutes(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()

	if hub.started.Load() != 0 || l.srv.table.EventsLost() != 0 {
		t.Fatal("a sampler started before any page connected")
	}
	c := l.dial("1.50", "1.10") // traffic with nobody watching: no work for the dashboard
	c.Close()
	if hub.started.Load() != 0 {
		t.Fatal("a flow started the sampler")
	}
	sc1, stop1 := liveStream(t, ts.URL)
	sc2, stop2 := liveStream(t, ts.URL)
	nextFrame(t, sc1, "a frame", func(*LiveFrame) bool { return true })
	nextFrame(t, sc2, "a frame", func(*LiveFrame) bool { return true })
	if n, r := hub.started.Load(), hub.running.Load(); n != 1 || r != 1 {
		t.Fatalf("two pages: %d samplers started, %d running; want one", n, r)
	}
	stop1()
	nextFrame(t, sc2, "a frame after the other page left", func(*LiveFrame) bool { return true })
	stop2()
	waitFor(t, func() bool { return hub.running.Load() == 0 && hub.subscribers() == 0 }, "the sampler to stop")
}

// BenchmarkDashboardFrame is the sampler's work per tick (4 a second while
// a page is open) on the lab topology.
func BenchmarkDashboardFrame(b *testing.B) {
	y := strings.NewReplacer("P.", labNet()+".", "PPV2", "false", "PLACEMENT", "first_data").Replace(labYAML)
	cfg, err := config.Parse("bench.yaml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := Start(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	sm := newSampler(srv)
	defer sm.close()
	b.ReportAllocs()
	for b.Loop() {
		sm.frame(time.Now())
	}
}
