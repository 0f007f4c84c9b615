package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// ifaceVPCE is the S3 interface endpoint of newIfaceLab.
const ifaceVPCE = "vpce-0f1e2d3c4b5a69788"

// newIfaceLab is the lab with an S3 interface endpoint beside the gateway
// endpoint: its interface NET.10 listens on port 80 in subnet-endpoints,
// its security group admits port 80 from subnet-app only, and its policy
// is the classic one (GetObject and PutObject on my-bucket). The S3
// regional endpoint keeps its gateway endpoint.
func newIfaceLab(t *testing.T, opts Options, edits ...string) (*lab, string) {
	t.Helper()
	edits = append([]string{
		"subnets:\n", "subnets:\n  - {id: subnet-endpoints, az: use1-az1, cidr: NET.0/24}\n",
		"endpoints:\n", `security_groups:
  - id: sg-s3-endpoint
    ingress: [{protocol: tcp, ports: "80", cidr: APP.0/24}]
endpoints:
  - id: ` + ifaceVPCE + `
    service: com.amazonaws.us-east-1.s3
    security_groups: [sg-s3-endpoint]
    interfaces: [{subnet: subnet-endpoints, ip: NET.10}]
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: OnlyMyBucketThroughInterface
          Effect: Allow
          Principal: "*"
          Action: [s3:GetObject, s3:PutObject]
          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]
`}, edits...)
	l := newLab(t, opts, edits...)
	return l, l.net + ".10:80"
}

// doAt sends method path to addr from src (see lab.do).
func (l *lab) doAt(addr, src, method, path, body, accessKey string) (*http.Response, string) {
	l.t.Helper()
	s3 := l.s3
	l.s3 = addr
	defer func() { l.s3 = s3 }()
	return l.do(src, method, path, body, accessKey)
}

// TestInterfaceEndpoint: S3 through an interface endpoint over real
// sockets. A client its security group admits gets the policy's
// decisions (ListBuckets AccessDenied, PutObject on my-bucket stored,
// other-bucket AccessDenied) counted under the interface endpoint; a
// client the SG does not admit gets no connection, counted at hop
// endpoint_sg_ingress with a REJECT flow-log record on the endpoint's
// interface.
func TestInterfaceEndpoint(t *testing.T) {
	buf, fl, table := flowLogged(t)
	l, iface := newIfaceLab(t, Options{FlowLog: fl, Table: table})
	const alice = "AKIAIOSFODNN7EXAMPLE"

	resp, body := l.doAt(iface, l.app, "GET", "/", "", alice)
	if resp.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "s3:ListAllMyBuckets") {
		t.Fatalf("ListBuckets through the interface: %d %s", resp.StatusCode, body)
	}
	if resp, body := l.doAt(iface, l.app, "PUT", "/my-bucket/k", "via interface", alice); resp.StatusCode != 200 {
		t.Fatalf("PutObject on my-bucket: %d %s", resp.StatusCode, body)
	}
	if got, err := l.srv.EmbeddedObject("my-bucket", "k"); err != nil || string(got) != "via interface" {
		t.Fatalf("object in the backend: %q, %v", got, err)
	}
	if resp, body := l.doAt(iface, l.app, "PUT", "/other-bucket/k", "x", alice); resp.StatusCode != 403 {
		t.Fatalf("PutObject on other-bucket: %d %s", resp.StatusCode, body)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", ifaceVPCE); n != 1 {
		t.Errorf("allow decisions of %s: %v, want 1", ifaceVPCE, n)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "implicit_deny", ifaceVPCE); n != 2 {
		t.Errorf("implicit denials of %s: %v, want 2", ifaceVPCE, n)
	}

	req, _ := http.NewRequest("GET", "http://"+iface+"/my-bucket/k", nil)
	if resp, err := l.client(l.batch).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a client the endpoint's SG does not admit got an answer: %s", resp.Status)
	}
	if v := testCounter(l.srv.opts.Rejected.WithLabelValues("com.amazonaws.us-east-1.s3", "endpoint_sg_ingress")); v != 1 {
		t.Errorf("rejected flows at endpoint_sg_ingress: %v, want 1", v)
	}
	waitFor(t, "the connections to close", func() bool { return table.Len() == 0 })
	l.srv.Shutdown(context.Background())
	fl.Close()
	eni, ip := conntrack.ENIID(ifaceVPCE, "use1-az1"), strings.Split(iface, ":")[0]
	for _, want := range []string{
		eni + " " + l.app + " " + ip + " ", " ACCEPT OK",
		eni + " " + l.batch + " " + ip + " ", " REJECT OK",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("flow logs lack %q:\n%s", want, buf.String())
		}
	}
}

// TestInterfaceExplain: Explain names the S3 interface endpoint's path
// (its security group admits subnet-app, not subnet-batch) and the
// statement of its policy that decides.
func TestInterfaceExplain(t *testing.T) {
	l, _ := newIfaceLab(t, Options{})
	app, batch := netip.MustParseAddr(l.app), netip.MustParseAddr(l.batch)
	for _, c := range []struct {
		name, action, resource string
		from                   netip.Addr
		allowed                bool
		deciding, answer       string
	}{
		{"put allowed", "s3:PutObject", "arn:aws:s3:::my-bucket/k", app, true, "Statement[0] (Sid \"OnlyMyBucketThroughInterface\")", ""},
		{"list denied", "s3:ListAllMyBuckets", "", app, false, "none", "403 AccessDenied"},
		{"sg denies", "s3:PutObject", "arn:aws:s3:::my-bucket/k", batch, false, "Statement[0]", "no connection"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Explain(l.cfg, Query{Action: c.action, Resource: c.resource, Endpoint: ifaceVPCE,
				From: netip.AddrPortFrom(c.from, 0), AccessKey: "AKIAIOSFODNN7EXAMPLE"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Endpoint != ifaceVPCE || r.Allowed != c.allowed || !strings.HasPrefix(r.Deciding, c.deciding) || !strings.HasPrefix(r.Answer, c.answer) {
				t.Errorf("report: endpoint %s allowed %v deciding %q answer %q", r.Endpoint, r.Allowed, r.Deciding, r.Answer)
			}
			if r.Interface == nil || r.Interface.Allowed != (c.from == app) || r.Path != nil {
				t.Fatalf("interface path %+v, gateway path %+v", r.Interface, r.Path)
			}
			if r.Context["aws:SourceVpce"][0] != ifaceVPCE || r.Context["aws:VpcSourceIp"][0] != c.from.String() {
				t.Errorf("context %v", r.Context)
			}
			var sb strings.Builder
			r.WriteText(&sb)
			if !strings.Contains(sb.String(), "endpoint_sg_ingress") || !strings.Contains(sb.String(), "through "+ifaceVPCE) {
				t.Errorf("text:\n%s", sb.String())
			}
		})
	}
}

// TestInterfaceAWSCLI is the classic example through an S3
// interface endpoint with the AWS CLI: `s3 ls` AccessDenied, `s3 cp` to
// my-bucket stored in the backend, and a client the endpoint's security
// group does not admit gets no connection.
func TestInterfaceAWSCLI(t *testing.T) {
	aws := needAWSCLI(t)
	l, iface := newIfaceLab(t, Options{})
	file := filepath.Join(t.TempDir(), "test.txt")
	if err := os.WriteFile(file, []byte("hello through the interface endpoint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "AKIAIOSFODNN7EXAMPLE"
	out, err := l.awsCLIAt(aws, iface, l.app, key, "s3", "ls")
	if err == nil || !strings.Contains(out, "An error occurred (AccessDenied) when calling the ListBuckets operation") {
		t.Fatalf("s3 ls: err %v, output:\n%s", err, out)
	}
	out, err = l.awsCLIAt(aws, iface, l.app, key, "s3", "cp", file, "s3://my-bucket/test.txt")
	if err != nil || !strings.Contains(out, "upload: ") {
		t.Fatalf("s3 cp to my-bucket: %v\n%s", err, out)
	}
	if got, err := l.srv.EmbeddedObject("my-bucket", "test.txt"); err != nil || string(got) != "hello through the interface endpoint\n" {
		t.Fatalf("object in the backend: %q, %v", got, err)
	}
	out, err = l.awsCLIAt(aws, iface, l.batch, key, "s3", "cp", file, "s3://my-bucket/batch.txt")
	if err == nil || strings.Contains(out, "AccessDenied") || !strings.Contains(strings.ToLower(out), "connect") {
		t.Fatalf("s3 cp from a client the endpoint's SG does not admit: err %v, output:\n%s", err, out)
	}
	if _, err := l.srv.EmbeddedObject("my-bucket", "batch.txt"); err == nil {
		t.Fatal("an upload the endpoint's SG denies reached the backend")
	}
}

// A reload that cannot open an address it adds changes nothing: the policy
// it widens does not apply, and the interface it could open is closed
// again. It used to store the new policies first and keep what it had
// opened, while saying the previous configuration stayed in use.
func TestRefusedReloadChangesNothing(t *testing.T) {
	l, iface := newIfaceLab(t, Options{})
	held, err := net.Listen("tcp", l.net+".11:80")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	y := strings.Replace(l.yaml, "Action: [s3:GetObject, s3:PutObject]", "Action: [\"s3:*\"]", 1)
	y = strings.Replace(y, "Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]", "Resource: [\"*\"]", 1)
	for i, ip := range []string{".12", ".11"} { // the second one is held
		y += fmt.Sprintf("  - {id: vpce-0aaaaaaaaaaaaaaa%d, service: com.amazonaws.us-east-1.s3, security_groups: [sg-s3-endpoint], interfaces: [{subnet: subnet-endpoints, ip: %s%s}]}\n", i, l.net, ip)
	}
	cfg, err := config.Parse("lab", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err == nil || !strings.Contains(err.Error(), l.net+".11:80") {
		t.Fatalf("reload: %v, want the held address's error", err)
	}
	if resp, _ := l.doAt(iface, l.app, "GET", "/", "", ""); resp.StatusCode != 403 {
		t.Errorf("ListBuckets after the refused reload: %d, want 403 (the old policy)", resp.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", l.net+".12:80", time.Second); err == nil {
		c.Close()
		t.Errorf("%s.12:80 accepts: the refused reload left it open", l.net)
	}
}

// An S3 interface endpoint carries no DynamoDB request: explain refuses a
// DynamoDB action through it, as it does through an S3 gateway endpoint
// (it used to evaluate the S3 endpoint's policy).
func TestExplainDynamoDBThroughS3InterfaceIsUnknown(t *testing.T) {
	l, _ := newIfaceLab(t, Options{},
		"deny_action: reset\n", "deny_action: reset\ndynamodb: {listen: NET.2:8000, backend: http://127.0.0.1:1}\n",
		"routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}]",
		"routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}, {prefix_list: dynamodb, gateway_endpoint: "+dynVPCE+"}]",
		"endpoints:\n", "endpoints:\n  - {id: "+dynVPCE+", type: gateway, service: com.amazonaws.us-east-1.dynamodb}\n")
	for _, ep := range []string{ifaceVPCE, "vpce-0a1b2c3d4e5f60718"} {
		_, err := l.srv.Explain(Query{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:111122223333:table/t", Endpoint: ep})
		if !errors.Is(err, ErrUnknownEndpoint) || !strings.Contains(err.Error(), "DynamoDB endpoints: "+dynVPCE) {
			t.Errorf("dynamodb:GetItem through %s: %v, want unknown endpoint", ep, err)
		}
	}
	if r, err := l.srv.Explain(Query{Action: "dynamodb:GetItem", Resource: "arn:aws:dynamodb:us-east-1:111122223333:table/t", Endpoint: dynVPCE}); err != nil || r.Endpoint != dynVPCE {
		t.Errorf("through the DynamoDB endpoint: %+v, %v", r, err)
	}
}
