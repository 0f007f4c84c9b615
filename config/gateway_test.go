package config

import (
	"slices"
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
