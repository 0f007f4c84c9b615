package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privlink/privlink/config"
)

const gatewayID = "vpce-0a1b2c3d4e5f60718"

// gatewayEdits add the classic S3 gateway endpoint to the lab:
// subnet-c1 routes to it, subnet-c2 has no route.
var gatewayEdits = []string{
	`admin: {listen: "off"}`, `admin: {listen: "off"}
deny_action: reset
s3: {listen: P.20.1:9000, buckets: [my-bucket]}
route_tables:
  - {id: rtb-c1, subnets: [subnet-c1]}
  - {id: rtb-c2, subnets: [subnet-c2]}`,
	"endpoints:\n", `endpoints:
  - id: vpce-0a1b2c3d4e5f60718
    type: gateway
    service: com.amazonaws.us-east-1.s3
    route_tables: [rtb-c1]
    policy: {Statement: [{Sid: GetPut, Effect: Allow, Principal: "*", Action: [s3:GetObject, s3:PutObject], Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]}]}
`,
}

// TestGatewayEndpoint runs the S3 front inside the server: requests are
// decided by the endpoint policy and counted, a subnet without the route
// gets no path, /v1/explain answers with the deciding statement, and a
// reload changes the policy.
func TestGatewayEndpoint(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, gatewayEdits...).start()
	s3 := l.srv.S3Addr()
	if s3.String() != l.p+".20.1:9000" {
		t.Fatalf("S3 endpoint at %s", s3)
	}
	do := func(src, method, path, body string) int {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(l.p + "." + src)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(method, "http://"+s3.String()+path, strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("1.50", "PUT", "/my-bucket/k", "v"); code != 200 {
		t.Fatalf("PUT from subnet-c1: %d", code)
	}
	if got, err := l.srv.EmbeddedObject("my-bucket", "k"); err != nil || string(got) != "v" {
		t.Fatalf("object: %q %v", got, err)
	}
	if code := do("1.50", "GET", "/", ""); code != 403 {
		t.Fatalf("ListBuckets: %d", code)
	}
	if code := do("2.50", "GET", "/my-bucket/k", ""); code != 0 {
		t.Fatalf("subnet-c2 without a route got %d", code)
	}
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"allow", testutil.ToFloat64(l.srv.gateway().DecisionCounter(gatewayID, "allow")), 1},
		{"implicit_deny", testutil.ToFloat64(l.srv.gateway().DecisionCounter(gatewayID, "implicit_deny")), 1},
		{"route_table rejections", testutil.ToFloat64(l.srv.m.rejected.WithLabelValues("com.amazonaws.us-east-1.s3", "route_table")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	var rep struct {
		Endpoint string `json:"endpoint"`
		Deciding string `json:"deciding_statement"`
		Verdict  string `json:"verdict"`
		Policy   struct {
			Decision string `json:"decision"`
		} `json:"policy"`
	}
	handlerJSON(t, l.srv.Handler(), "/v1/explain?action=s3:PutObject&resource=arn:aws:s3:::my-bucket/k&from="+l.p+".1.50", &rep)
	if rep.Endpoint != gatewayID || rep.Deciding != `Statement[0] (Sid "GetPut")` || rep.Verdict != "allowed" || rep.Policy.Decision != "allow" {
		t.Fatalf("explain: %+v", rep)
	}
	var path struct {
		Verdict string `json:"verdict"`
		Path    struct {
			Allowed bool   `json:"allowed"`
			Subnet  string `json:"subnet"`
		} `json:"path"`
	}
	handlerJSON(t, l.srv.Handler(), "/v1/explain?endpoint="+gatewayID+"&from="+l.p+".2.50", &path)
	if path.Verdict != "denied" || path.Path.Allowed || path.Path.Subnet != "subnet-c2" {
		t.Fatalf("explain without the route: %+v", path)
	}

	y := strings.Replace(l.yaml, "Action: [s3:GetObject, s3:PutObject]", "Action: [s3:GetObject, s3:PutObject, s3:ListAllMyBuckets]", 1)
	y = strings.Replace(y, "Resource: [arn:aws:s3:::my-bucket,", `Resource: ["*", arn:aws:s3:::my-bucket,`, 1)
	cfg, err := config.Parse("reload.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if code := do("1.50", "GET", "/", ""); code != 200 {
		t.Fatalf("ListBuckets after the reload: %d", code)
	}
}

func handlerJSON(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9480"+path, nil)) // the admin API answers IP hosts only
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
