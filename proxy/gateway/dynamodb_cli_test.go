package gateway

import (
	"strings"
	"testing"
)

// TestAWSCLIDynamoDB drives DynamoDB through the gateway endpoint with the
// AWS CLI (an independent client, bound to the client's address like
// TestAWSCLI): list-tables is denied (the policy allows no ListTables),
// put-item and get-item on Music are forwarded to the backend, get-item on
// Secrets meets the explicit deny, and a client whose subnet has no route
// gets no connection.
func TestAWSCLIDynamoDB(t *testing.T) {
	aws := needAWSCLI(t)
	l, fake, addr := newDynamoLab(t)
	const key = "AKIAIOSFODNN7EXAMPLE"
	cli := func(src string, args ...string) (string, error) {
		return l.awsCLIAt(aws, addr, src, key, append([]string{"dynamodb"}, args...)...)
	}

	out, err := cli(l.app, "list-tables")
	want := ": User: arn:aws:iam::111122223333:user/alice is not authorized to perform: dynamodb:ListTables because no VPC endpoint policy allows the dynamodb:ListTables action"
	if err == nil || !strings.Contains(out, "An error occurred (AccessDeniedException) when calling the ListTables operation") || !strings.Contains(out, want) {
		t.Fatalf("list-tables: err %v, output:\n%s\nwant:\n%s", err, out, want)
	}

	item := `{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}`
	if out, err := cli(l.app, "put-item", "--table-name", "Music", "--item", item); err != nil {
		t.Fatalf("put-item Music: %v\n%s", err, out)
	}
	out, err = cli(l.app, "get-item", "--table-name", "Music", "--key", `{"Artist":{"S":"No One You Know"}}`, "--output", "json")
	if err != nil || !strings.Contains(out, "Call Me Today") {
		t.Fatalf("get-item Music: %v\n%s", err, out)
	}

	out, err = cli(l.app, "get-item", "--table-name", "Secrets", "--key", `{"Id":{"S":"1"}}`)
	if err == nil || !strings.Contains(out, "(AccessDeniedException) when calling the GetItem operation") ||
		!strings.Contains(out, "on resource: arn:aws:dynamodb:us-east-1:111122223333:table/Secrets with an explicit deny in a VPC endpoint policy") {
		t.Fatalf("get-item Secrets: err %v, output:\n%s", err, out)
	}

	before := len(fake.received())
	out, err = cli(l.batch, "put-item", "--table-name", "Music", "--item", item)
	if err == nil || strings.Contains(out, "AccessDenied") || !strings.Contains(strings.ToLower(out), "connect") {
		t.Fatalf("put-item from the subnet without a route: err %v, output:\n%s", err, out)
	}
	if got := fake.received(); len(got) != before || strings.Join(got, ",") != "PutItem,GetItem" {
		t.Fatalf("the backend received %v", got)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", dynVPCE); n != 2 {
		t.Fatalf("allow decisions: %v", n)
	}
}
