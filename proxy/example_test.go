package proxy_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Start privlink in-process for an integration test, like httptest.NewServer:
// load a topology, start it, connect to the endpoint, stop it.
func ExampleStart() {
	cfg, err := config.Parse("example.yaml", []byte(`
admin: {listen: "off"}
dns: {listen: "off"}
subnets:
  - {id: subnet-consumer, az: use1-az1, cidr: 127.77.1.0/24}
  - {id: subnet-provider, az: use1-az1, cidr: 127.77.10.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-provider, ip: 127.77.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        proxy_protocol_v2: true
        targets: [{ip: 127.77.10.20, subnet: subnet-provider, builtin: echo}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-consumer, ip: 127.77.1.10}]
`))
	if err != nil {
		panic(err)
	}
	srv, err := proxy.Start(cfg, proxy.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	addr, err := srv.EndpointAddr("vpce-0c1308d7312217abc", "use1-az1", 8443)
	if err != nil {
		panic(err)
	}
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	conn.Write([]byte("hello through PrivateLink"))
	conn.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(conn)
	fmt.Println(addr, string(reply))
	// Output: 127.77.1.10:8443 hello through PrivateLink
}

// The locked-down example of examples/ works as its comments say: a
// known client reaches the service once the endpoint is accepted; a client
// outside sg-client does not.
func TestLockedDownExample(t *testing.T) {
	cfg, err := config.Load("../examples/locked-down.yaml", config.Override{Key: "admin.listen", Value: "off"}, config.Override{Key: "dns.listen", Value: "off"}, config.Override{Key: "flow_logs.path", Value: ""}, config.Override{Key: "deny_action", Value: "reset"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.Start(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const ep = "vpce-0a1b2c3d4e5f60718"
	if st := srv.Endpoint(ep).State; st != proxy.EndpointPendingAcceptance {
		t.Fatalf("endpoint %s, want pendingAcceptance", st)
	}
	if err := srv.Accept(ep); err != nil {
		t.Fatal(err)
	}
	try := func(client string) ([]byte, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", "127.0.22.10:443")
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("locked"))
		c.(*net.TCPConn).CloseWrite()
		return io.ReadAll(c)
	}
	if got, err := try("127.0.21.50"); err != nil || string(got) != "locked" {
		t.Fatalf("known client: %q, %v", got, err)
	}
	if got, err := try("127.0.21.200"); err == nil && len(got) > 0 {
		t.Fatalf("a client outside sg-client got %q", got)
	}
}
