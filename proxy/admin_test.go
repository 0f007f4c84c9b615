package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/privlink/privlink/config"
)

// send makes one admin request with the given headers (name, value pairs).
func send(t *testing.T, method, url, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req) // an event stream answered 200 never ends
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// adminLab runs the lab with its admin API on a real socket of the lab's
// network (127.N.66.1), as privlink run serves it.
func adminLab(t *testing.T, edits ...string) (*lab, string) {
	t.Helper()
	l := newLab(t, false, config.PlacementFirstData, append([]string{`admin: {listen: "off"}`, `admin: {listen: "P.66.1:0"}`}, edits...)...)
	l.echoTarget("10.20", false)
	l.start()
	return l, "http://" + l.srv.AdminAddr()
}

// A web page cannot drive the admin API: requests forged as a browser
// sends them cross-site (an HTML form, a no-cors fetch, a page on another
// port of the same host) are refused before they act; curl-style JSON
// requests and same-origin ones pass. The forged request is the one from
// the issue: registering the admin API itself as a target. A DNS-rebinding
// page (evil.example resolving to the admin API: Origin and Host agree) is
// refused by its Host, for reads too; probes and metrics take any Host.
func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	l, url := adminLab(t)
	register := url + "/v1/target-groups/tg/register"
	self := fmt.Sprintf(`{"targets":[{"ip":"%s","port":%d}]}`, l.addr("66.1"), addrOf(l.srv.adminAddr).Port())
	host := strings.TrimPrefix(url, "http://")
	port := fmt.Sprint(addrOf(l.srv.adminAddr).Port())
	tests := []struct {
		name    string
		method  string
		url     string
		body    string
		headers []string
		code    int
		want    string
	}{
		{"form post from another site", "POST", register, self,
			[]string{"Content-Type", "text/plain", "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "cross-origin request refused (Sec-Fetch-Site: cross-site)"},
		{"old browser: Origin only", "POST", register, self,
			[]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example"}, 403, "cross-origin request refused (Origin http://evil.example"},
		{"page on another port of the host", "POST", register, self,
			[]string{"Content-Type", "text/plain", "Origin", "http://" + l.addr("66.1").String() + ":3000", "Sec-Fetch-Site", "same-site"}, 403, "Sec-Fetch-Site: same-site"},
		{"sandboxed page: Origin null", "POST", url + "/v1/reload", "", []string{"Origin", "null"}, 403, "Origin null"},
		{"bodyless no-cors fetch", "POST", url + "/v1/endpoints/" + endpointID + "/reject", "",
			[]string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "cross-origin"},
		{"text/plain without Origin", "POST", register, self, []string{"Content-Type", "text/plain"}, 415, `refused: send application/json (curl: -H 'Content-Type: application/json')`},
		{"body without a type", "POST", register, self, nil, 415, "a request body needs Content-Type: application/json"},
		{"curl with JSON: own socket refused", "POST", register, self, []string{"Content-Type", "application/json"}, 400, "is privlink's own admin API"},
		{"same-origin JSON", "POST", register, self,
			[]string{"Content-Type", "application/json; charset=utf-8", "Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, 400, "is privlink's own admin API"},
		{"curl -X POST without a body", "POST", url + "/v1/endpoints/" + endpointID + "/accept", "", nil, 409, "is available"},
		{"curl -X POST with the JSON type", "POST", url + "/v1/endpoints/" + endpointID + "/accept", "", []string{"Content-Type", "application/json"}, 409, "is available"},
		{"GET needs no origin check", "GET", url + "/v1/targets", "", []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, 200, `"state"`},
		{"DNS rebinding: JSON POST", "POST", register, self,
			[]string{"Content-Type", "application/json", "Host", "evil.example:" + port, "Origin", "http://evil.example:" + port, "Sec-Fetch-Site", "same-origin"}, 403, "Host evil.example:" + port + " refused"},
		{"DNS rebinding: read", "GET", url + "/v1/connections", "", []string{"Host", "evil.example:" + port}, 403, "DNS rebinding protection"},
		{"DNS rebinding: event stream", "GET", url + "/v1/connections/stream", "", []string{"Host", "evil.example:" + port}, 403, "DNS rebinding protection"},
		{"DNS rebinding: dashboard", "GET", url + "/", "", []string{"Host", "evil.example:" + port}, 403, "DNS rebinding protection"},
		{"localhost", "POST", url + "/v1/endpoints/" + endpointID + "/accept", "",
			[]string{"Host", "localhost:" + port, "Origin", "http://localhost:" + port, "Sec-Fetch-Site", "same-origin"}, 409, "is available"},
		{"dashboard at localhost", "GET", url + "/", "", []string{"Host", "LocalHost:" + port}, 200, "<html"},
		{"IPv6 literal", "GET", url + "/v1/targets", "", []string{"Host", "[::1]:" + port}, 200, `"state"`},
		{"probe by any name", "GET", url + "/readyz", "", []string{"Host", "privlink.internal:" + port}, 200, "ready"},
		{"metrics by any name", "GET", url + "/metrics", "", []string{"Host", "privlink.internal"}, 200, "privlink_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.method, tc.url, tc.body, tc.headers...)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s\nwant %d containing %q", resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	if ep := l.srv.Endpoint(endpointID); ep.State != EndpointAvailable {
		t.Errorf("endpoint %s after forged requests", ep.State)
	}
	if n := len(l.srv.Targets()); n != 2 {
		t.Errorf("%d targets after forged requests, want the 2 configured", n)
	}
}

// Runtime registration refuses privlink's own sockets and applies the
// file's placement rules, naming the field; deregistration needs only
// ip:port.
func TestRegisterAppliesFileValidation(t *testing.T) {
	l, url := adminLab(t)
	admin := addrOf(l.srv.adminAddr)
	for _, tc := range []struct {
		name, body string
		want       string
	}{
		{"endpoint listener", fmt.Sprintf(`{"targets":[{"ip":"%s","port":8443}]}`, l.addr("1.10")),
			fmt.Sprintf("targets[0]: %s:8443 is privlink's own endpoint listener (endpoints[0].interfaces[0] of %s)", l.addr("1.10"), endpointID)},
		{"admin API", fmt.Sprintf(`{"targets":[{"ip":"%s","port":%d}]}`, admin.Addr(), admin.Port()),
			fmt.Sprintf("targets[0]: %s is privlink's own admin API", admin)},
		{"IP in no subnet", fmt.Sprintf(`{"targets":[{"ip":"%s","az":"use1-az1"}]}`, l.addr("30.20")),
			fmt.Sprintf("targets[0].ip: %s is in no configured subnet (subnet-c1 %s.1.0/24", l.addr("30.20"), l.p)},
		{"AZ not the subnet's", fmt.Sprintf(`{"targets":[{"ip":"%s","az":"use1-az2"}]}`, l.addr("10.30")),
			"targets[0].az: use1-az2 does not match subnet subnet-p1, which is in use1-az1"},
		{"second target bad", fmt.Sprintf(`{"targets":[{"ip":"%s"},{"ip":"%s","az":"use1-az1"}]}`, l.addr("10.30"), l.addr("11.30")),
			"targets[1].az: use1-az1 does not match subnet subnet-p2, which is in use1-az2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, url+"/v1/target-groups/tg/register", tc.body)
			if code != 400 || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s\nwant 400 containing %q", code, body, tc.want)
			}
		})
	}
	if n := len(l.srv.Targets()); n != 2 {
		t.Fatalf("%d targets after refused registrations, want 2", n)
	}
	code, body := post(t, url+"/v1/target-groups/tg/register", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, l.addr("11.30")))
	if code != 200 || !strings.Contains(body, `"az": "use1-az2"`) {
		t.Fatalf("register with the AZ from the subnet: %d %s", code, body)
	}
}

// Runtime registration refuses the DNS server (TCP beside UDP) and the S3
// and DynamoDB gateway fronts, naming the field and the key.
func TestRegisterRefusesOwnServers(t *testing.T) {
	l, url := adminLab(t, `dns: {listen: "off"}`, `dns: {listen: "P.0.53:8053", upstream: "off"}
s3: {listen: "P.20.1:9000"}
dynamodb: {listen: "P.20.2:8000", backend: "http://127.0.0.1:1"}`)
	for _, tc := range []struct{ name, ap, want string }{
		{"DNS server", l.addr("0.53").String() + ":8053", "is privlink's own DNS server (dns.listen " + l.addr("0.53").String() + ":8053)"},
		{"S3 endpoint", l.addr("20.1").String() + ":9000", "is privlink's own S3 endpoint (s3.listen " + l.addr("20.1").String() + ":9000)"},
		{"DynamoDB endpoint", l.addr("20.2").String() + ":8000", "is privlink's own DynamoDB endpoint (dynamodb.listen " + l.addr("20.2").String() + ":8000)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tc.ap)
			code, body := post(t, url+"/v1/target-groups/tg/register", fmt.Sprintf(`{"targets":[{"ip":"%s","port":%d,"az":"use1-az1"}]}`, ap.Addr(), ap.Port()))
			if want := "targets[0]: " + tc.ap + " " + tc.want; code != 400 || !strings.Contains(body, want) {
				t.Errorf("%d %s\nwant 400 containing %q", code, body, want)
			}
			c, err := net.DialTimeout("tcp", tc.ap, time.Second)
			if err != nil {
				t.Fatalf("the %s does not listen on TCP %s: %v", tc.name, tc.ap, err)
			}
			c.Close()
		})
	}
	if n := len(l.srv.Targets()); n != 2 {
		t.Fatalf("%d targets after refused registrations, want 2", n)
	}
}

// A target of the file outside every subnet (it has az) is deregistered
// by ip alone; a contradicting az is refused.
func TestDeregisterByAddressAlone(t *testing.T) {
	l, url := adminLab(t, "targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]",
		"targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.30.20, az: use1-az1}]")
	ap := fmt.Sprintf("%s:9443", l.addr("30.20"))
	code, body := post(t, url+"/v1/target-groups/tg/deregister", fmt.Sprintf(`{"targets":[{"ip":"%s","az":"use1-az2"}]}`, l.addr("30.20")))
	if code != 400 || !strings.Contains(body, "targets[0].az: "+ap+" is registered in use1-az1, not use1-az2") {
		t.Fatalf("deregister with the wrong az: %d %s", code, body)
	}
	code, body = post(t, url+"/v1/target-groups/tg/deregister", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, l.addr("30.20")))
	if code != 200 || !strings.Contains(body, `"draining"`) {
		t.Fatalf("deregister by ip: %d %s", code, body)
	}
}

// Every path answers a method it has no route for with 405 and Allow.
func TestAdminMethodNotAllowed(t *testing.T) {
	_, url := adminLab(t)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/v1/reload", "POST"},
		{"POST", "/v1/targets", "GET, HEAD"},
		{"DELETE", "/v1/endpoints", "GET, HEAD"},
		{"GET", "/v1/endpoints/" + endpointID + "/accept", "POST"},
		{"PUT", "/v1/endpoints/" + endpointID + "/reject", "POST"},
		{"GET", "/v1/target-groups/tg/register", "POST"},
		{"POST", "/v1/explain", "GET, HEAD"},
		{"POST", "/v1/connections", "GET, HEAD"},
		{"DELETE", "/metrics", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		resp, body := send(t, tc.method, url+tc.path, "", "Content-Type", "application/json")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: %d Allow %q %s; want 405 Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), body, tc.allow)
		}
	}
	if resp, body := send(t, "GET", url+"/v1/nothing", ""); resp.StatusCode != 404 || resp.Header.Get("Allow") != "" {
		t.Errorf("unknown path: %d Allow %q %s", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}

// /debug/pprof is served only with admin.pprof: true.
func TestAdminPProfOptIn(t *testing.T) {
	_, off := adminLab(t)
	if resp, body := send(t, "GET", off+"/debug/pprof/", ""); resp.StatusCode != 404 {
		t.Errorf("pprof off: %d %.80s", resp.StatusCode, body)
	}
	_, on := adminLab(t, `admin: {listen: "P.66.1:0"}`, `admin: {listen: "P.66.1:0", pprof: true}`)
	if resp, body := send(t, "GET", on+"/debug/pprof/", ""); resp.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on: %d %.80s", resp.StatusCode, body)
	}
}

// Empty lists are [], never null: no endpoints, and an explain path with
// no target in its AZ.
func TestAdminEmptyListsAreArrays(t *testing.T) {
	_, url := adminLab(t, "targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]",
		"targets: [{ip: P.10.20, subnet: subnet-p1}]")
	_, body := send(t, "GET", url+"/v1/explain?from=127.9.0.1&endpoint="+endpointID, "")
	if !strings.Contains(body, `"targets": []`) || strings.Contains(body, "null") {
		t.Errorf("explain with no target in use1-az2:\n%s", body)
	}
	noEndpoints := "endpoints:\n  - id: vpce-0c1308d7312217abc\n    service: vpce-svc-03d5ebb7d9579a2b3\n    security_groups: [sg-endpoint]\n    interfaces: [{subnet: subnet-c1, ip: P.1.10}, {subnet: subnet-c2, ip: P.2.10}]\n"
	_, url = adminLab(t, noEndpoints, "endpoints: []\n")
	if _, body := send(t, "GET", url+"/v1/endpoints", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /v1/endpoints without endpoints: %s", body)
	}
}

func TestJSONLists(t *testing.T) {
	type inner struct{ L []int }
	type outer struct {
		A   []string
		B   *inner
		C   []inner
		M   map[string][]int
		Raw []byte
		X   any
	}
	in := outer{B: &inner{}, C: []inner{{}}, M: map[string][]int{"k": nil}, X: inner{}}
	got := jsonLists(in).(outer)
	if got.A == nil || got.B.L == nil || got.C[0].L == nil || got.M["k"] == nil || got.Raw != nil {
		t.Fatalf("lists not emptied: %+v", got)
	}
	if got.X.(inner).L == nil {
		t.Fatal("list behind an interface not emptied")
	}
	if in.B.L != nil || in.C[0].L != nil || in.M["k"] != nil {
		t.Fatal("jsonLists modified its argument")
	}
}

// The admin API beyond loopback is announced with a warning at start.
func TestAdminBeyondLoopbackWarns(t *testing.T) {
	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"0.0.0.0:0", true}, {"P.66.1:0", false}} {
		core, logs := observer.New(zapcore.WarnLevel)
		l := newLab(t, false, config.PlacementFirstData, `admin: {listen: "off"}`, fmt.Sprintf("admin: {listen: %q}", tc.listen))
		srv, err := Start(l.cfg, Options{Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		n := logs.FilterMessageSnippet("admin API listens beyond loopback").Len()
		if (n == 1) != tc.warn {
			t.Errorf("admin on %s: %d warnings, want warning %v", tc.listen, n, tc.warn)
		}
	}
}

// The Host names the admin API answers to: IP literals, localhost and
// admin.listen's own host.
func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		host, listen string
		want         bool
	}{
		{"127.0.0.1:9480", "127.0.0.1:9480", true},
		{"10.1.2.3", "0.0.0.0:9480", true},
		{"[::1]:9480", "[::1]:9480", true},
		{"localhost:9480", "127.0.0.1:9480", true},
		{"localhost.:9480", "127.0.0.1:9480", true},
		{"", "127.0.0.1:9480", true},
		{"privlink.internal:9480", "privlink.internal:9480", true},
		{"PRIVLINK.internal", "privlink.internal:9480", true},
		{"privlink.internal:9480", "127.0.0.1:9480", false},
		{"evil.example:9480", ":9480", false},
		{"localhost.evil.example:9480", "127.0.0.1:9480", false},
		{"127.0.0.1.evil.example", "127.0.0.1:9480", false},
	} {
		if got := hostAllowed(tc.host, tc.listen); got != tc.want {
			t.Errorf("hostAllowed(%q, %q) = %v, want %v", tc.host, tc.listen, got, tc.want)
		}
	}
}
