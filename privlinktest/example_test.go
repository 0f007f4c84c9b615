package privlinktest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/privlinktest"
)

// topology is privlink's default topology, as a test writes it: a client
// subnet per AZ, an endpoint interface in each, an NLB node and an echo
// target per AZ, PROXY protocol v2 on, and an endpoint SG that admits the
// az1 clients only.
const topology = `
deny_action: reset
subnets:
  - {id: subnet-consumer-1a, az: use1-az1, cidr: 127.0.1.0/24}
  - {id: subnet-consumer-1b, az: use1-az2, cidr: 127.0.2.0/24}
  - {id: subnet-provider-1a, az: use1-az1, cidr: 127.0.10.0/24}
  - {id: subnet-provider-1b, az: use1-az2, cidr: 127.0.11.0/24}
security_groups:
  - {id: sg-endpoint, ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.1.0/24}]}
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      nodes: [{subnet: subnet-provider-1a, ip: 127.0.10.5}, {subnet: subnet-provider-1b, ip: 127.0.11.5}]
      listeners: [{port: 8443, target_group: tg-app}]
    target_groups:
      - name: tg-app
        port: 9443
        proxy_protocol_v2: true
        health_check: {enabled: false}
        targets:
          - {ip: 127.0.10.20, subnet: subnet-provider-1a, builtin: echo}
          - {ip: 127.0.11.20, subnet: subnet-provider-1b, builtin: echo}
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-consumer-1a, ip: 127.0.1.10}, {subnet: subnet-consumer-1b, ip: 127.0.2.10}]
`

// Start a topology, dial by endpoint, and assert what the service behind
// it saw: the client's address and the endpoint ID in the PROXY header,
// the NLB node as the TCP peer. (In a test, t is the test's *testing.T.)
func Example() {
	t := newExampleT()
	defer t.done()
	ctx := context.Background()

	in := privlinktest.Start(t, topology)
	conn, err := in.Dial(ctx, "vpce-0c1308d7312217abc", 8443)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("hello"))
	conn.CloseWrite()
	reply, _ := io.ReadAll(conn)

	seen, err := in.Target("127.0.10.20:9443").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("reply: %s\n", reply)
	fmt.Println("endpoint ID:", seen.Header.EndpointID)
	fmt.Println("source is the client:", seen.Header.Source.String() == conn.LocalAddr().String())
	fmt.Println("TCP peer is the az1 node:", seen.Peer.Addr() == in.IP("127.0.10.5"))
	// Output:
	// reply: hello
	// endpoint ID: vpce-0c1308d7312217abc
	// source is the client: true
	// TCP peer is the az1 node: true
}

// A client the endpoint's security group does not admit is reset (the
// topology's deny_action), and Explain says which hop and rule denied it.
func ExampleInstance_Explain() {
	t := newExampleT()
	defer t.done()
	ctx := context.Background()

	in := privlinktest.Start(t, topology)
	conn, err := in.Dial(ctx, "vpce-0c1308d7312217abc", 8443, privlinktest.From("127.0.2.50"), privlinktest.InAZ("use1-az1"))
	if err == nil { // the RST may come right after the handshake
		_, err = conn.Read(make([]byte, 1))
	}
	fmt.Println("reset:", errors.Is(err, syscall.ECONNRESET))

	rep, err := in.Explain("127.0.2.50", "vpce-0c1308d7312217abc", 8443)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("verdict:", rep.Verdict)
	for _, h := range rep.Paths[0].Consumer {
		if h.Verdict == acl.Deny {
			fmt.Printf("denied at %s: %s\n", h.Hop, h.Rule)
		}
	}
	fmt.Println("rejected flows:", in.Metric("privlink_rejected_flows_total", map[string]string{"hop": "endpoint_sg_ingress"}))
	// Output:
	// reset: true
	// verdict: denied
	// denied at endpoint_sg_ingress: no matching rule
	// rejected flows: 1
}

// A topology built in Go: one service and one endpoint in two AZs, laid
// out like privlink's default topology.
func ExampleTopology() {
	t := newExampleT()
	defer t.done()

	in := privlinktest.Start(t, privlinktest.Topology().
		Service("vpce-svc-03d5ebb7d9579a2b3", privlinktest.ProxyProtocolV2()).
		Endpoint("vpce-0c1308d7312217abc", "vpce-svc-03d5ebb7d9579a2b3", privlinktest.Allow("127.0.0.0/16", "8443")))
	az2, _ := in.Addr("vpce-0c1308d7312217abc", "use1-az2", 8443)
	fmt.Println("az2 interface:", az2 == netipAddrPort(in.IP("127.0.2.10"), 8443))
	_, err := in.Addr("vpce-0c1308d7312217abc", "use1-az3", 8443)
	fmt.Println(err)
	// Output:
	// az2 interface: true
	// privlinktest: not found: endpoint vpce-0c1308d7312217abc has no interface in AZ "use1-az3" (have: use1-az1, use1-az2; AZ IDs such as use1-az1)
}

// A table test over security group variants, each case in parallel on a
// topology of its own block of addresses. In a test, each case is a
// t.Run with t.Parallel() (TestExampleSGVariants in this package's
// example_test.go); here each runs on its own goroutine.
func Example_securityGroupVariants() {
	tests := []struct {
		name, cidr, ports string
	}{
		{"consumer subnet", "127.0.1.0/24", "8443"},
		{"the client only", "127.0.1.254/32", "8443"},
		{"another subnet", "127.0.2.0/24", "8443"},
		{"another port", "127.0.1.0/24", "443"},
	}
	verdicts := make([]string, len(tests))
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Go(func() {
			t := newExampleT()
			defer t.done()
			in := privlinktest.Start(t, privlinktest.Topology().
				Service("vpce-svc-03d5ebb7d9579a2b3").
				Endpoint("vpce-0c1308d7312217abc", "vpce-svc-03d5ebb7d9579a2b3", privlinktest.Allow(tt.cidr, tt.ports)))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := in.Dial(ctx, "vpce-0c1308d7312217abc", 8443)
			if err == nil {
				conn.Write([]byte("ping"))
				_, err = io.ReadFull(conn, make([]byte, 4))
			}
			rep, _ := in.Explain("127.0.1.254", "vpce-0c1308d7312217abc", 8443)
			verdicts[i] = fmt.Sprintf("%s: echoed %v, explain %s", tt.name, err == nil, rep.Verdict)
		})
	}
	wg.Wait()
	for _, v := range verdicts {
		fmt.Println(v)
	}
	// Output:
	// consumer subnet: echoed true, explain allowed
	// the client only: echoed true, explain allowed
	// another subnet: echoed false, explain denied
	// another port: echoed false, explain denied
}

// The same table as a test: each case a parallel subtest.
func TestExampleSGVariants(t *testing.T) {
	tests := []struct {
		name, cidr, ports string
		allowed           bool
	}{
		{"consumer subnet", "127.0.1.0/24", "8443", true},
		{"the client only", "127.0.1.254/32", "8443", true},
		{"another subnet", "127.0.2.0/24", "8443", false},
		{"another port", "127.0.1.0/24", "443", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := privlinktest.Start(t, privlinktest.Topology().
				Service("vpce-svc-03d5ebb7d9579a2b3").
				Endpoint("vpce-0c1308d7312217abc", "vpce-svc-03d5ebb7d9579a2b3", privlinktest.Allow(tt.cidr, tt.ports)))
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			conn, err := in.Dial(ctx, "vpce-0c1308d7312217abc", 8443)
			if err == nil {
				conn.Write([]byte("ping"))
				_, err = io.ReadFull(conn, make([]byte, 4))
			}
			if (err == nil) != tt.allowed {
				rep, _ := in.Explain("127.0.1.254", "vpce-0c1308d7312217abc", 8443)
				t.Errorf("dial: %v, want allowed %v; explain: %s %q", err, tt.allowed, rep.Verdict, rep.Suggestions)
			}
		})
	}
}
