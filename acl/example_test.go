package acl_test

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

func ExampleConsumerPath_Check() {
	ev := acl.Compile(config.Default())
	var v acl.Verdict
	p := ev.Consumer(netip.MustParseAddrPort("127.0.2.10:8443"))
	ok := p.Check(netip.MustParseAddrPort("127.0.1.50:40000"), &v)
	fmt.Println(ok, v.Denied)
	for _, h := range v.Trace() {
		fmt.Printf("%s %s: %s\n", h.Hop, h.Outcome, h.RuleText())
	}
	// Output:
	// true none
	// client_sg_egress skip: client not in clients
	// client_nacl_egress skip: client not in clients
	// endpoint_nacl_ingress allow: default NACL (allow all)
	// endpoint_sg_ingress allow: sg-endpoint ingress[0]
	// endpoint_nacl_egress_return allow: default NACL (allow all)
	// client_nacl_ingress_return skip: client not in clients
	// nlb_sg_ingress skip: no security groups
}

func ExampleExplain() {
	ev := acl.Compile(config.Default())
	r, err := acl.Explain(ev, acl.Query{From: netip.MustParseAddr("192.0.2.7"), Endpoint: "vpce-0c1308d7312217abc", Port: 8443})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Verdict)
	fmt.Println(r.Suggestions[0])
	// Output:
	// denied
	// no rule of sg-endpoint allows traffic from 192.0.2.7/32 on port 8443; add to security group sg-endpoint ingress: {protocol: tcp, ports: "8443", cidr: 192.0.2.7/32}
}
