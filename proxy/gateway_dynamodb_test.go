package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privlink/privlink/config"
)

const dynamoGatewayID = "vpce-0d1d2d3d4d5d6d7d8"

// TestGatewayDynamoDB runs the DynamoDB front inside the server beside
// S3's: a call the policy allows reaches the backend, ListTables is
// denied, subnet-c2 (no route) gets no connection, /v1/explain answers
// dynamodb: actions, and a reload moves the DynamoDB endpoint.
func TestGatewayDynamoDB(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	ncalls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls)
	}
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Header.Get("X-Amz-Target"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprint(w, `{"Item":{"Artist":{"S":"a"}}}`)
	}))
	t.Cleanup(back.Close)
	edits := append([]string{}, gatewayEdits...)
	edits[1] += "\ndynamodb: {listen: P.20.2:8000, backend: " + back.URL + "}"
	edits[1] = strings.Replace(edits[1], "{id: rtb-c1, subnets: [subnet-c1]}",
		"{id: rtb-c1, subnets: [subnet-c1], routes: [{prefix_list: dynamodb, gateway_endpoint: "+dynamoGatewayID+"}]}", 1)
	edits[3] += `  - id: ` + dynamoGatewayID + `
    type: gateway
    service: com.amazonaws.us-east-1.dynamodb
    policy: {Statement: [{Sid: ReadMusic, Effect: Allow, Principal: "*", Action: dynamodb:GetItem, Resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Music"}]}
`
	l := newLab(t, false, config.PlacementFirstData, edits...).start()
	addr := l.srv.DynamoDBAddr()
	if addr.String() != l.p+".20.2:8000" || l.srv.S3Addr().String() != l.p+".20.1:9000" {
		t.Fatalf("DynamoDB endpoint at %s, S3 at %s", addr, l.srv.S3Addr())
	}
	do := func(src, op, body string) int {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(l.p + "." + src)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest(http.MethodPost, "http://"+l.srv.DynamoDBAddr().String()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("1.50", "GetItem", `{"TableName":"Music","Key":{}}`); code != 200 || ncalls() != 1 {
		t.Fatalf("GetItem Music from subnet-c1: %d, backend calls %d", code, ncalls())
	}
	if code := do("1.50", "ListTables", `{}`); code != 400 || ncalls() != 1 {
		t.Fatalf("ListTables: %d, backend calls %d", code, ncalls())
	}
	if code := do("2.50", "GetItem", `{"TableName":"Music","Key":{}}`); code != 0 {
		t.Fatalf("subnet-c2 without a route got %d", code)
	}
	if n := testutil.ToFloat64(l.srv.m.rejected.WithLabelValues("com.amazonaws.us-east-1.dynamodb", "route_table")); n != 1 {
		t.Errorf("route_table rejections of DynamoDB: %v", n)
	}
	if n := testutil.ToFloat64(l.srv.gateway().DecisionCounter(dynamoGatewayID, "implicit_deny")); n != 1 {
		t.Errorf("implicit_deny: %v", n)
	}
	var rep struct {
		Service, Endpoint, Verdict, Answer string
		Deciding                           string `json:"deciding_statement"`
	}
	handlerJSON(t, l.srv.Handler(), "/v1/explain?action=dynamodb:GetItem&resource=arn:aws:dynamodb:us-east-1:111122223333:table/Music&from="+l.p+".1.50", &rep)
	if rep.Service != "DynamoDB" || rep.Endpoint != dynamoGatewayID || rep.Deciding != `Statement[0] (Sid "ReadMusic")` || rep.Verdict != "allowed" {
		t.Fatalf("explain: %+v", rep)
	}
	var path struct {
		Service, Verdict string
		Path             struct {
			Allowed          bool
			DynamoDB, Subnet string
		}
	}
	handlerJSON(t, l.srv.Handler(), "/v1/explain?endpoint="+dynamoGatewayID+"&from="+l.p+".2.50", &path)
	if path.Service != "DynamoDB" || path.Verdict != "denied" || path.Path.Allowed || path.Path.Subnet != "subnet-c2" || path.Path.DynamoDB != addr.String() {
		t.Fatalf("explain without the route: %+v", path)
	}

	cfg, err := config.Parse("reload.yaml", []byte(strings.Replace(l.yaml, l.p+".20.2:8000", l.p+".20.3:8000", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := l.srv.DynamoDBAddr().String(); got != l.p+".20.3:8000" {
		t.Fatalf("after the reload the DynamoDB endpoint is at %s", got)
	}
	if code := do("1.50", "GetItem", `{"TableName":"Music","Key":{}}`); code != 200 || ncalls() != 2 {
		t.Fatalf("GetItem after the reload: %d, backend calls %d", code, ncalls())
	}
}
