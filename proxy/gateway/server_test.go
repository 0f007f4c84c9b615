package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

var accessDeniedXML = regexp.MustCompile(`^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied</Code><Message>(.*)</Message><RequestId>([0-9A-F]{16})</RequestId><HostId>[A-Za-z0-9+/]{64}</HostId></Error>$`)

// TestAccessDenied checks S3's 403 AccessDenied, exactly: status, headers,
// body, and the message by caller.
func TestAccessDenied(t *testing.T) {
	l := newLab(t, Options{}, "          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]\n",
		"          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]\n        - {Sid: NoSecrets, Effect: Deny, Principal: \"*\", Action: \"s3:*\", Resource: \"arn:aws:s3:::my-bucket/secret/*\"}\n")
	tests := []struct {
		name, method, path, key, msg string
	}{
		{"anonymous list buckets", "GET", "/", "", "Access Denied"},
		{"same account: implicit deny", "GET", "/", "AKIAIOSFODNN7EXAMPLE",
			"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:ListAllMyBuckets because no VPC endpoint policy allows the s3:ListAllMyBuckets action"},
		{"same account: other bucket", "PUT", "/other-bucket/k", "AKIAIOSFODNN7EXAMPLE",
			`User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:PutObject on resource: &quot;arn:aws:s3:::other-bucket/k&quot; because no VPC endpoint policy allows the s3:PutObject action`},
		{"same account: explicit deny", "GET", "/my-bucket/secret/k", "AKIAIOSFODNN7EXAMPLE",
			`User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:GetObject on resource: &quot;arn:aws:s3:::my-bucket/secret/k&quot; with an explicit deny in a VPC endpoint policy`},
		{"other account", "GET", "/", "AKIAI44QH8DHBEXAMPLE", "Access Denied"},
		{"unknown key is anonymous", "DELETE", "/my-bucket/k", "AKIAUNKNOWNEXAMPLE0", "Access Denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := l.do(l.app, tt.method, tt.path, "", tt.key)
			m := accessDeniedXML.FindStringSubmatch(body)
			if resp.StatusCode != http.StatusForbidden || m == nil {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if m[1] != tt.msg || resp.Header.Get("X-Amz-Request-Id") != m[2] || resp.Header.Get("Content-Type") != "application/xml" {
				t.Fatalf("message %q (want %q), request id header %q, body id %q, type %q", m[1], tt.msg,
					resp.Header.Get("X-Amz-Request-Id"), m[2], resp.Header.Get("Content-Type"))
			}
		})
	}
	resp, body := l.do(l.app, "HEAD", "/other-bucket/k", "", "")
	if resp.StatusCode != http.StatusForbidden || body != "" || resp.Header.Get("X-Amz-Id-2") == "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "explicit_deny", vpce); n != 1 {
		t.Fatalf("explicit_deny decisions: %v", n)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "implicit_deny", vpce); n != 6 {
		t.Fatalf("implicit_deny decisions: %v", n)
	}
}

// TestAllowedRequestsReachTheBackend: path-style and virtual-hosted-style
// requests the policy allows are forwarded and their answers streamed back.
func TestAllowedRequestsReachTheBackend(t *testing.T) {
	l := newLab(t, Options{})
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB: streamed both ways
	if resp, body := l.do(l.app, "PUT", "/my-bucket/dir/big.bin", big, ""); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	resp, body := l.do(l.app, "GET", "/my-bucket/dir/big.bin", "", "")
	if resp.StatusCode != 200 || body != big {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	req, _ := http.NewRequest("PUT", "http://"+l.s3+"/vhost.txt", strings.NewReader("virtual"))
	req.Host = "my-bucket.s3.us-east-1.amazonaws.com"
	vresp, err := l.client(l.app).Do(req)
	if err != nil || vresp.StatusCode != 200 {
		t.Fatalf("virtual-hosted PUT: %v %v", err, vresp)
	}
	vresp.Body.Close()
	if got, err := l.srv.EmbeddedObject("my-bucket", "vhost.txt"); err != nil || string(got) != "virtual" {
		t.Fatalf("virtual-hosted object: %q %v", got, err)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", vpce); n != 3 {
		t.Fatalf("allow decisions: %v", n)
	}
}

// TestMissingKey: S3 answers a missing key with 404 only to callers allowed
// s3:ListBucket, else 403, as S3 answers.
func TestMissingKey(t *testing.T) {
	l := newLab(t, Options{})
	resp, body := l.do(l.app, "GET", "/my-bucket/nope", "", "AKIAIOSFODNN7EXAMPLE")
	if m := accessDeniedXML.FindStringSubmatch(body); resp.StatusCode != 403 || m == nil || !strings.Contains(m[1], "because no VPC endpoint policy allows the s3:ListBucket action") {
		t.Fatalf("without ListBucket: %d %s", resp.StatusCode, body)
	}
	l2 := newLab(t, Options{}, "s3:GetObject, s3:PutObject]", "s3:GetObject, s3:PutObject, s3:ListBucket]")
	resp, body = l2.do(l2.app, "GET", "/my-bucket/nope", "", "")
	if resp.StatusCode != 404 || !strings.Contains(body, "NoSuchKey") {
		t.Fatalf("with ListBucket: %d %s", resp.StatusCode, body)
	}
}

// TestNoRoute: a client whose subnet's route table has no route to the
// gateway endpoint gets no path: reset here, or held silent with drop.
func TestNoRoute(t *testing.T) {
	l := newLab(t, Options{})
	req, _ := http.NewRequest("GET", "http://"+l.s3+"/my-bucket/k", nil)
	if resp, err := l.client(l.batch).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a route got an answer: %s", resp.Status)
	}
	rej := l.srv.opts.Rejected.WithLabelValues("com.amazonaws.us-east-1.s3", "route_table")
	if v := testCounter(rej); v != 1 {
		t.Fatalf("rejected flows with hop route_table: %v", v)
	}

	d := newLab(t, Options{DenyHold: 300 * time.Millisecond}, "deny_action: reset", "deny_action: drop")
	c := dialFrom(t, d.batch, d.s3)
	c.Write([]byte("GET / HTTP/1.1\r\nHost: s3\r\n\r\n"))
	waitFor(t, "the held connection in the table", func() bool {
		return len(d.srv.table.Snapshot(conntrack.Filter{State: conntrack.StateDenied}, nil)) == 1
	})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if n != 0 || err != nil {
		t.Fatalf("held connection: %d bytes, %v (want nothing, then EOF)", n, err)
	}
}

// flowLogged is a connection table whose flow logger writes to buf (an
// interval long enough that only closing flows are logged).
func flowLogged(t *testing.T) (*syncBuffer, *conntrack.FlowLogger, *conntrack.Table) {
	t.Helper()
	buf := new(syncBuffer)
	fl, err := conntrack.NewFlowLogger(buf, conntrack.FlowLogOptions{AccountID: "111122223333", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	table := conntrack.NewTable(conntrack.TableOptions{})
	fl.Track(table)
	t.Cleanup(func() { table.Close() })
	return buf, fl, table
}

// TestClientRules: the client's SG egress and subnet NACL apply on the way
// to S3; a denial writes a REJECT flow-log record.
func TestClientRules(t *testing.T) {
	buf, fl, table := flowLogged(t)
	l := newLab(t, Options{FlowLog: fl, Table: table}, "principals:", `clients:
  - {cidr: APP.60/32, subnet: subnet-app, security_groups: [sg-web]}
  - {cidr: APP.50/32, subnet: subnet-app, security_groups: [sg-s3]}
security_groups:
  - {id: sg-web, egress: [{protocol: tcp, ports: "443", cidr: 0.0.0.0/0}]}
  - {id: sg-s3, egress: [{protocol: tcp, ports: "9000", destination_prefix_list: pl-63a5400a}]}
principals:`)
	web := strings.TrimSuffix(l.app, ".50") + ".60"
	req, _ := http.NewRequest("GET", "http://"+l.s3+"/my-bucket/k", nil)
	if resp, err := l.client(web).Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a client whose SG does not allow S3 got an answer")
	}
	if resp, body := l.do(l.app, "PUT", "/my-bucket/k", "x", ""); resp.StatusCode != 200 {
		t.Fatalf("client allowed by the prefix list: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "the connection to close", func() bool { return table.Len() == 0 })
	l.srv.Shutdown(context.Background())
	fl.Close()
	logs := buf.String()
	eni := conntrack.ENIID(vpce, "use1-az1")
	for _, want := range []string{
		eni + " " + web + " " + strings.Split(l.s3, ":")[0] + " ",
		" REJECT OK",
		eni + " " + l.app + " " + strings.Split(l.s3, ":")[0] + " ",
		" ACCEPT OK",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("flow logs lack %q:\n%s", want, logs)
		}
	}
}

// TestURLBackend: with a URL backend the request goes out unchanged — Host
// and Authorization as the client sent them — and the answer comes back.
func TestURLBackend(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<Error><Code>NoSuchKey</Code></Error>")
			return
		}
		io.WriteString(w, "from the backend")
	}))
	t.Cleanup(back.Close)
	l := newLab(t, Options{}, "s3: {listen: ", "s3: {backend: "+back.URL+", listen: ", ", buckets: [my-bucket, other-bucket]", "")
	resp, body := l.do(l.app, "GET", "/my-bucket/a%20b?x-id=GetObject", "", "AKIAIOSFODNN7EXAMPLE")
	if resp.StatusCode != 200 || body != "from the backend" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	mu.Lock()
	r := seen[0]
	mu.Unlock()
	if r.Host != l.s3 || r.URL.RawQuery != "x-id=GetObject" || r.URL.Path != "/my-bucket/a b" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/") || r.Header.Get("X-Forwarded-For") != "" {
		t.Fatalf("the backend saw Host %q path %q query %q auth %q xff %q", r.Host, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Forwarded-For"))
	}
	if resp, body := l.do(l.app, "GET", "/my-bucket/missing", "", ""); resp.StatusCode != 403 || !accessDeniedXML.MatchString(body) {
		t.Fatalf("missing key without ListBucket: %d %q", resp.StatusCode, body)
	}
}

// TestReload: a new policy applies to the next request, even on a live
// connection; a removed route stops the client's traffic.
func TestReload(t *testing.T) {
	l := newLab(t, Options{})
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(l.app)}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() int {
		resp, err := c.Get("http://" + l.s3 + "/")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 403 {
		t.Fatalf("before reload: %d", code)
	}
	y := strings.Replace(labYAMLFor(l), "s3:GetObject, s3:PutObject]", "s3:GetObject, s3:PutObject, s3:ListAllMyBuckets]", 1)
	y = strings.Replace(y, "Resource: [arn:aws:s3:::my-bucket", `Resource: ["arn:aws:s3:::*", arn:aws:s3:::my-bucket`, 1)
	reload(t, l, y)
	if code := get(); code != 200 {
		t.Fatalf("after reload: %d", code)
	}
	y = strings.Replace(y, "    routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}]\n", "", 1)
	reload(t, l, strings.Replace(y, "route_tables: [rtb-app]", "route_tables: [rtb-batch]", 1))
	if code := get(); code != 0 {
		t.Fatalf("after the route moved: %d, want no answer", code)
	}
}

// labYAMLFor rebuilds a lab's YAML from its configuration's addresses.
func labYAMLFor(l *lab) string {
	return strings.NewReplacer("S3", l.s3, "APP", strings.TrimSuffix(l.app, ".50"), "BATCH", strings.TrimSuffix(l.batch, ".50")).Replace(labYAML)
}

func reload(t *testing.T, l *lab, y string) {
	t.Helper()
	cfg, err := config.Parse("lab", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteObjects: DeleteObjects is decided key by key; denied keys come
// back as AccessDenied errors, the others are deleted.
func TestDeleteObjects(t *testing.T) {
	l := newLab(t, Options{}, "arn:aws:s3:::my-bucket/*]\n", "arn:aws:s3:::my-bucket/*]\n        - {Effect: Allow, Principal: \"*\", Action: s3:DeleteObject, Resource: \"arn:aws:s3:::my-bucket/tmp/*\"}\n")
	for _, k := range []string{"tmp/a", "keep/b"} {
		if resp, _ := l.do(l.app, "PUT", "/my-bucket/"+k, k, ""); resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %d", k, resp.StatusCode)
		}
	}
	body := `<Delete><Object><Key>tmp/a</Key></Object><Object><Key>keep/b</Key></Object></Delete>`
	resp, out := l.do(l.app, "POST", "/my-bucket?delete", body, "")
	if resp.StatusCode != 200 || !regexp.MustCompile(`<Deleted>\s*<Key>tmp/a</Key>`).MatchString(out) ||
		!strings.Contains(out, "<Error><Key>keep/b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>") {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if _, err := l.srv.EmbeddedObject("my-bucket", "tmp/a"); err == nil {
		t.Error("tmp/a was not deleted")
	}
	if _, err := l.srv.EmbeddedObject("my-bucket", "keep/b"); err != nil {
		t.Errorf("keep/b was deleted: %v", err)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "implicit_deny", vpce); n != 1 {
		t.Errorf("the partly denied DeleteObjects counted %v implicit denials, want 1", n)
	}
}

func dialFrom(t *testing.T, src, dst string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// syncBuffer is a bytes.Buffer safe for the flow logger's writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
