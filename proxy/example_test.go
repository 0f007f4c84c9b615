package proxy_test

import (
	"fmt"
	"io"
	"net"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// Start privlink in-process for an integration test, like httptest.NewServer:
// load a topology, start it, connect to the endpoint, stop it.
func ExampleStart() {
	cfg, err := config.Parse("example.yaml", []byte(`
admin: {listen: "off"}
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

	addr := srv.Endpoint("vpce-0c1308d7312217abc").Addr("use1-az1", 8443)
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
