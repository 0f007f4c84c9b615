package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestGatewayResolution checks what the validator resolves for gateway
// endpoints: associations both ways, normalised prefix lists, VPC IDs and
// the policies read from a string and a file.
func TestGatewayResolution(t *testing.T) {
	c, err := Load("testdata/valid/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pl := S3PrefixList("us-west-2")
	if pl != "pl-68a54001" || c.SecurityGroups[0].Egress[0].DestinationPrefixList != pl {
		t.Fatalf("prefix list %s, rule %q", pl, c.SecurityGroups[0].Egress[0].DestinationPrefixList)
	}
	gw, other := &c.Endpoints[0], &c.Endpoints[1]
	if !gw.IsGateway() || !slices.Equal(gw.RouteTables, []string{"rtb-main", "rtb-a"}) {
		t.Fatalf("route tables of %s: %v", gw.ID, gw.RouteTables)
	}
	checks := []struct {
		subnet, table, endpoint string
	}{
		{"subnet-a", "rtb-a", gw.ID},
		{"subnet-b", "rtb-b", other.ID},
		{"subnet-elsewhere", "rtb-main", gw.ID},
	}
	for _, ck := range checks {
		rt := c.RouteTableOf(ck.subnet)
		if rt == nil || rt.ID != ck.table || rt.Route(pl) == nil || rt.Route(pl).GatewayEndpoint != ck.endpoint {
			t.Errorf("%s: route table %+v, want %s → %s", ck.subnet, rt, ck.table, ck.endpoint)
		}
	}
	if gw.VpcID != DefaultVPCID("444455556666", "us-west-2") || other.VpcID != "vpc-0123456789abcdef0" {
		t.Errorf("vpc ids %s %s", gw.VpcID, other.VpcID)
	}
	if gw.Policy.Policy == nil || gw.Policy.Statements[0].Conditions[0].Values[0] != gw.ID {
		t.Errorf("inline JSON policy %+v", gw.Policy)
	}
	if other.Policy.File != "testdata/valid/policy.json" || other.Policy.Statements[0].Sid != "ReadLogs" {
		t.Errorf("policy file %q %+v", other.Policy.File, other.Policy.Policy)
	}
	if c.Principals["AKIAI44QH8DHBEXAMPLE"] != "arn:aws:iam::444455556666:role/app" {
		t.Errorf("principals %v", c.Principals)
	}
	if got := c.PrefixLists()[pl]; len(got) != 1 || got[0].String() != "127.0.7.1/32" {
		t.Errorf("prefix list CIDRs %v", got)
	}
}

func TestGatewayDefaults(t *testing.T) {
	c, err := Parse("inline", []byte(`
s3: {listen: 127.0.7.1:9000}
subnets: [{id: subnet-a, az: use1-az1, cidr: 127.0.8.0/24}]
route_tables: [{id: rtb-a, subnets: [subnet-a]}]
endpoints: [{id: vpce-0a1b2c3d4e5f60718, type: gateway, service: com.amazonaws.us-east-1.s3, route_tables: [rtb-a]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	e := &c.Endpoints[0]
	if !c.S3.Embedded() || e.Policy.Policy != nil || len(e.Policy.Effective().Statements) != 1 {
		t.Fatalf("backend %q policy %+v", c.S3.Backend, e.Policy)
	}
	if r := c.RouteTables[0].Route("pl-63a5400a"); r == nil || r.GatewayEndpoint != e.ID {
		t.Fatalf("association did not add the route: %+v", c.RouteTables[0])
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
}

// TestS3Interface checks what the validator resolves for an S3 interface
// endpoint: its kind, VPC, policy, listening addresses and port.
func TestS3Interface(t *testing.T) {
	c, err := Load("../examples/interface-s3.yaml", Override{Key: "s3.interface_port", Value: "8080", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e := &c.Endpoints[0]
	if !e.IsS3Interface() || e.IsGateway() || !e.ForAWSService() || e.Principal != "" {
		t.Fatalf("endpoint %+v: want an S3 interface endpoint without principal", e)
	}
	if e.VpcID != DefaultVPCID(c.AccountID, c.Region) || e.Policy.Policy == nil || e.Policy.Statements[0].Sid != "OnlyMyBucket" {
		t.Errorf("vpc %s, policy %+v", e.VpcID, e.Policy.Policy)
	}
	want := netip.MustParseAddrPort("127.0.7.10:8080")
	if got := c.S3InterfaceAddrs(); !slices.Equal(got, []netip.AddrPort{want}) {
		t.Errorf("S3InterfaceAddrs = %v, want [%s]", got, want)
	}
	if own := c.OwnListener(want); !strings.Contains(own, "S3 interface endpoint") {
		t.Errorf("OwnListener(%s) = %q", want, own)
	}
	if svc := c.S3InterfaceService(); svc.ID != "com.amazonaws.us-east-1.s3" || svc.LoadBalancer.Listeners[0].Port != 8080 {
		t.Errorf("stand-in service %+v", svc)
	}
	d, err := Load("../examples/interface-s3.yaml")
	if err != nil || d.S3.InterfacePort != DefaultS3InterfacePort {
		t.Errorf("default interface port %d (%v), want 80", d.S3.InterfacePort, err)
	}
}
