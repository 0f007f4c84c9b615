package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeDynamoDB is a test-only DynamoDB-compatible backend: ListTables,
// PutItem and GetItem on one in-memory item per table, over real HTTP.
type fakeDynamoDB struct {
	mu    sync.Mutex
	calls []string          // the X-Amz-Target operations received
	items map[string]string // table → the last PutItem's Item (JSON)
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), dynamoTargetPrefix)
	var req struct {
		TableName string
		Item      json.RawMessage
	}
	json.Unmarshal(body, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch op {
	case "ListTables":
		fmt.Fprint(w, `{"TableNames":["Music","Secrets"]}`)
	case "PutItem":
		f.items[req.TableName] = string(req.Item)
		fmt.Fprint(w, `{}`)
	case "GetItem":
		if it, ok := f.items[req.TableName]; ok {
			fmt.Fprintf(w, `{"Item":%s}`, it)
			return
		}
		fmt.Fprint(w, `{}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazon.coral.service#UnknownOperationException"}`)
	}
}

func (f *fakeDynamoDB) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const dynVPCE = "vpce-0d1d2d3d4d5d6d7d8"

// newDynamoLab is the lab with a DynamoDB endpoint on NET.2:8000 in front
// of a fake backend, and a DynamoDB gateway endpoint routed from
// subnet-app: its policy allows GetItem and PutItem on table Music and
// denies everything on table Secrets.
func newDynamoLab(t *testing.T) (*lab, *fakeDynamoDB, string) {
	fake := &fakeDynamoDB{items: map[string]string{}}
	back := httptest.NewServer(fake)
	t.Cleanup(back.Close)
	l := newLab(t, Options{},
		"deny_action: reset\n", "deny_action: reset\ndynamodb: {listen: NET.2:8000, backend: "+back.URL+"}\n",
		"routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}]",
		"routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}, {prefix_list: dynamodb, gateway_endpoint: "+dynVPCE+"}]",
		"Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]\n", `Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]
  - id: `+dynVPCE+`
    type: gateway
    service: com.amazonaws.us-east-1.dynamodb
    policy:
      Statement:
        - {Sid: MusicOnly, Effect: Allow, Principal: "*", Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:BatchGetItem], Resource: "arn:aws:dynamodb:us-east-1:111122223333:table/*"}
        - {Sid: NoSecrets, Effect: Deny, Principal: "*", Action: "dynamodb:*", Resource: arn:aws:dynamodb:us-east-1:111122223333:table/Secrets}
`)
	return l, fake, l.net + ".2:8000"
}

// dynDo sends one DynamoDB call from src and returns the status, the
// body and the response's headers.
func (l *lab) dynDo(addr, src, op, body, accessKey string) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", dynamoTargetPrefix+op)
	if accessKey != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/20261205/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00")
	}
	resp, err := l.client(src).Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// TestDynamoDBGateway: over real sockets, the endpoint policy decides
// every DynamoDB call by its action and table(s); denied calls get
// DynamoDB's AccessDeniedException and never reach the backend, allowed
// ones are forwarded and answered by it, and a client without the route
// gets no connection.
func TestDynamoDBGateway(t *testing.T) {
	l, fake, addr := newDynamoLab(t)
	const alice = "AKIAIOSFODNN7EXAMPLE"
	put := `{"TableName":"Music","Item":{"Artist":{"S":"No One You Know"}}}`
	cases := []struct {
		name, op, body, key string
		status              int
		want                string // in the body
	}{
		{"ListTables denied", "ListTables", `{}`, alice, 400,
			`{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: dynamodb:ListTables because no VPC endpoint policy allows the dynamodb:ListTables action"}`},
		{"PutItem allowed", "PutItem", put, alice, 200, `{}`},
		{"GetItem allowed", "GetItem", `{"TableName":"Music","Key":{}}`, alice, 200, `{"Item":{"Artist":{"S":"No One You Know"}}}`},
		{"Scan denied", "Scan", `{"TableName":"Music"}`, "", 400,
			`"Message":"User: anonymous is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:111122223333:table/Music because no VPC endpoint policy allows the dynamodb:Scan action"`},
		{"GetItem explicit deny", "GetItem", `{"TableName":"Secrets","Key":{}}`, alice, 400,
			`is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/Secrets with an explicit deny in a VPC endpoint policy"`},
		{"BatchGetItem strictest wins", "BatchGetItem", `{"RequestItems":{"Music":{"Keys":[]},"Secrets":{"Keys":[]}}}`, alice, 400,
			`dynamodb:BatchGetItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/Secrets with an explicit deny`},
		{"malformed JSON", "GetItem", `{"TableName":`, alice, 400, `"__type":"com.amazon.coral.service#SerializationException"`},
		{"unknown target", "No.Such", `{}`, alice, 400, `{"__type":"com.amazon.coral.service#UnknownOperationException"}`},
	}
	for _, c := range cases {
		before := len(fake.received())
		status, body, h, err := l.dynDo(addr, l.app, c.op, c.body, c.key)
		if err != nil || status != c.status || !strings.Contains(body, c.want) {
			t.Fatalf("%s: %d %s (%v), want %d with %s", c.name, status, body, err, c.status, c.want)
		}
		forwarded := len(fake.received()) > before
		if forwarded != (c.status == 200) {
			t.Fatalf("%s: forwarded to the backend: %v", c.name, forwarded)
		}
		if c.status != 200 {
			checkDynamoErrorHeaders(t, c.name, body, h)
		}
	}
	if got := fake.received(); strings.Join(got, ",") != "PutItem,GetItem" {
		t.Fatalf("the backend received %v", got)
	}
	for d, want := range map[string]float64{"allow": 2, "implicit_deny": 2, "explicit_deny": 2} {
		if n := counterValue(t, l.reg, "privlink_policy_decisions_total", d, dynVPCE); n != want {
			t.Errorf("decisions %s: %v, want %v", d, n, want)
		}
	}
	_, _, _, err := l.dynDo(addr, l.batch, "GetItem", `{"TableName":"Music","Key":{}}`, alice)
	// The RST may come before the request is written (EPIPE) or after (reset, EOF).
	if err == nil || !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("client without the route: %v, want no connection (reset)", err)
	}
	if got := fake.received(); len(got) != 2 {
		t.Fatalf("a client without the route reached the backend: %v", got)
	}
}

func checkDynamoErrorHeaders(t *testing.T, name, body string, h http.Header) {
	t.Helper()
	crc := strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10)
	if h.Get("Content-Type") != "application/x-amz-json-1.0" || h.Get("X-Amz-Crc32") != crc || len(h.Get("X-Amzn-Requestid")) != 52 {
		t.Errorf("%s: headers %v (crc32 of the body %s)", name, h, crc)
	}
}

// TestDynamoDBExplain: explain answers DynamoDB actions offline, with the
// path from a client and DynamoDB's answer.
func TestDynamoDBExplain(t *testing.T) {
	l, _, addr := newDynamoLab(t)
	from := netip.AddrPortFrom(netip.MustParseAddr(l.app), 0)
	r, err := Explain(l.cfg, Query{Action: "dynamodb:GetItem", Resource: TableARN("us-east-1", "111122223333", "Music"), From: from})
	if err != nil || !r.Allowed || r.Endpoint != dynVPCE || r.Service != "DynamoDB" || r.Path == nil || r.Path.DynamoDB != addr || r.Deciding != `Statement[0] (Sid "MusicOnly")` {
		t.Fatalf("GetItem Music: %+v %v", r, err)
	}
	r, err = l.srv.Explain(Query{Action: "dynamodb:DeleteItem", Resource: TableARN("us-east-1", "111122223333", "Secrets"), Endpoint: dynVPCE, AccessKey: "AKIAIOSFODNN7EXAMPLE"})
	want := "400 AccessDeniedException: User: arn:aws:iam::111122223333:user/alice is not authorized to perform: dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:111122223333:table/Secrets with an explicit deny in a VPC endpoint policy"
	if err != nil || r.Allowed || r.Answer != want {
		t.Fatalf("DeleteItem Secrets: %+v %v\nwant %s", r, err, want)
	}
	r, err = Explain(l.cfg, Query{Action: "dynamodb:GetItem", From: netip.AddrPortFrom(netip.MustParseAddr(l.batch), 0)})
	if err != nil || r.Allowed || r.Endpoint != "" || !strings.HasPrefix(r.Answer, "no path") {
		t.Fatalf("from subnet-batch: %+v %v", r, err)
	}
	if _, err := Explain(l.cfg, Query{Action: "dynamodb:GetItem", Endpoint: vpce}); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("DynamoDB action through the S3 endpoint: %v", err)
	}
	var sb strings.Builder
	r, _ = Explain(l.cfg, Query{Action: "dynamodb:ListTables", From: from})
	if r.WriteText(&sb); !strings.Contains(sb.String(), "to DynamoDB "+addr) || !strings.Contains(sb.String(), "DynamoDB answers: 400 AccessDeniedException") {
		t.Fatalf("text:\n%s", sb.String())
	}
}
