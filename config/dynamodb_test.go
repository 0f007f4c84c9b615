package config

import (
	"slices"
	"testing"
)

// TestDynamoDBResolution checks a configuration with S3 and DynamoDB
// gateway endpoints: prefix lists normalised per service, routes added
// for route_tables, and both endpoints in PrefixLists.
func TestDynamoDBResolution(t *testing.T) {
	c, err := Load("testdata/valid/dynamodb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s3, dyn := S3PrefixList("us-east-1"), DynamoDBPrefixList("us-east-1")
	if dyn != "pl-02cd2c6b" {
		t.Fatalf("DynamoDB prefix list in us-east-1: %s", dyn)
	}
	eg := c.SecurityGroups[0].Egress
	if eg[0].DestinationPrefixList != s3 || eg[1].DestinationPrefixList != dyn {
		t.Fatalf("egress prefix lists %q %q", eg[0].DestinationPrefixList, eg[1].DestinationPrefixList)
	}
	gwS3, gwDyn := &c.Endpoints[0], &c.Endpoints[1]
	if gwS3.IsDynamoDB() || !gwDyn.IsDynamoDB() || c.PrefixListOf(gwDyn) != dyn || c.PrefixListOf(gwS3) != s3 {
		t.Fatalf("services: %s %s", gwS3.Service, gwDyn.Service)
	}
	if !slices.Equal(gwDyn.RouteTables, []string{"rtb-b", "rtb-a"}) {
		t.Fatalf("route tables of %s: %v", gwDyn.ID, gwDyn.RouteTables)
	}
	checks := []struct{ subnet, pl, endpoint string }{
		{"subnet-a", s3, gwS3.ID},
		{"subnet-a", dyn, gwDyn.ID},
		{"subnet-b", dyn, gwDyn.ID},
	}
	for _, ck := range checks {
		if r := c.RouteTableOf(ck.subnet).Route(ck.pl); r == nil || r.GatewayEndpoint != ck.endpoint {
			t.Errorf("%s → %s: route %+v, want %s", ck.subnet, ck.pl, r, ck.endpoint)
		}
	}
	if r := c.RouteTableOf("subnet-b").Route(s3); r != nil {
		t.Errorf("subnet-b has a route to S3: %+v", r)
	}
	pls := c.PrefixLists()
	if got := pls[dyn]; len(got) != 1 || got[0].String() != "127.0.7.2/32" {
		t.Errorf("DynamoDB prefix list CIDRs %v", got)
	}
	if got := pls[s3]; len(got) != 1 || got[0].String() != "127.0.7.1/32" {
		t.Errorf("S3 prefix list CIDRs %v", got)
	}
	if c.DynamoDB.Addr().String() != "127.0.7.2:8000" || c.DynamoDB.Backend != "http://127.0.0.1:8001" {
		t.Errorf("dynamodb %+v", c.DynamoDB)
	}
}

func TestDynamoDBPrefixListElsewhere(t *testing.T) {
	a, b := DynamoDBPrefixList("eu-central-1"), S3PrefixList("eu-central-1")
	if len(a) != 11 || a[:3] != "pl-" || a == b || a != DynamoDBPrefixList("eu-central-1") {
		t.Fatalf("derived prefix lists %s %s", a, b)
	}
}
