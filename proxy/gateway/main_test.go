package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/privlink/privlink/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// block hands every lab its own 127.72.T.0/22 (T a multiple of 4), so
// tests never share an address: 127.72 is this package's range.
var block atomic.Int32

// lab is the classic example on a private range:
//
//	S3 endpoint   P.T.1:9000        (s3.listen, embedded backend)
//	subnet-app    P.(T+1).0/24      route table → the gateway endpoint
//	subnet-batch  P.(T+2).0/24      route table without a route to S3
type lab struct {
	t     *testing.T
	s3    string // the S3 endpoint ip:port
	app   string // a client address in subnet-app
	batch string // a client address in subnet-batch
	net   string // "127.72.T"
	srv   *Server
	reg   *prometheus.Registry
	cfg   *config.Config
	yaml  string // the configuration's text
}

const labYAML = `
deny_action: reset
s3: {listen: S3, buckets: [my-bucket, other-bucket]}
subnets:
  - {id: subnet-app, az: use1-az1, cidr: APP.0/24}
  - {id: subnet-batch, az: use1-az2, cidr: BATCH.0/24}
route_tables:
  - id: rtb-app
    subnets: [subnet-app]
    routes: [{prefix_list: s3, gateway_endpoint: vpce-0a1b2c3d4e5f60718}]
  - {id: rtb-batch, subnets: [subnet-batch]}
principals:
  AKIAIOSFODNN7EXAMPLE: arn:aws:iam::111122223333:user/alice
  AKIAI44QH8DHBEXAMPLE: arn:aws:iam::444455556666:user/mallory
endpoints:
  - id: vpce-0a1b2c3d4e5f60718
    type: gateway
    service: com.amazonaws.us-east-1.s3
    route_tables: [rtb-app]
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: OnlyMyBucket
          Effect: Allow
          Principal: "*"
          Action: [s3:GetObject, s3:PutObject]
          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]
`

const vpce = "vpce-0a1b2c3d4e5f60718"

// newLab starts the S3 front of the lab; edits are old→new replacements
// of the YAML (APP, BATCH and NET in the new text name the lab's ranges).
func newLab(t *testing.T, opts Options, edits ...string) *lab {
	t.Helper()
	tb := int(block.Add(4)-4) % 252
	l := &lab{t: t, net: fmt.Sprintf("127.72.%d", tb)}
	app, batch := fmt.Sprintf("127.72.%d", tb+1), fmt.Sprintf("127.72.%d", tb+2)
	l.s3, l.app, l.batch = l.net+".1:9000", app+".50", batch+".50"
	y := strings.NewReplacer("S3", l.s3, "APP", app, "BATCH", batch).Replace(labYAML)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(y, edits[i]) {
			t.Fatalf("edit %q: not in the lab YAML", edits[i])
		}
		y = strings.ReplaceAll(y, edits[i], strings.NewReplacer("APP", app, "BATCH", batch, "NET", l.net).Replace(edits[i+1]))
	}
	cfg, err := config.Parse("lab", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	l.cfg, l.yaml = cfg, y
	l.reg = prometheus.NewRegistry()
	if opts.Registerer == nil {
		opts.Registerer = l.reg
	}
	l.srv = New(cfg, opts)
	if err := l.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.srv.Shutdown(ctx)
	})
	return l
}

// client is an HTTP client whose connections come from src.
func (l *lab) client(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	l.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends method url (relative to the S3 endpoint) from src, with an
// optional body and access key (SigV4-shaped Authorization header).
func (l *lab) do(src, method, path, body, accessKey string) (*http.Response, string) {
	l.t.Helper()
	req, err := http.NewRequest(method, "http://"+l.s3+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	if accessKey != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/20261205/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	}
	resp, err := l.client(src).Do(req)
	if err != nil {
		l.t.Fatalf("%s %s from %s: %v", method, path, src, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}
