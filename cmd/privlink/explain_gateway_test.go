package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestExplainInterfaceS3: privlink explain --action with the S3 interface
// endpoint of examples/interface-s3.yaml: the policy's decision, and with
// --from the endpoint's security group on the interface path.
func TestExplainInterfaceS3(t *testing.T) {
	const file = "../../examples/interface-s3.yaml"
	for _, tt := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"list denied", []string{"--action", "s3:ListAllMyBuckets", "--access-key", "AKIAIOSFODNN7EXAMPLE"}, 1,
			[]string{"through vpce-0f1e2d3c4b5a69788", "decision: IMPLICIT DENY", "S3 answers: 403 AccessDenied"}},
		{"put from the host", []string{"--action", "s3:PutObject", "--resource", "arn:aws:s3:::my-bucket/k", "--from", "127.0.0.1"}, 0,
			[]string{"path: interface 127.0.7.10:80 (use1-az1): allowed", "sg-s3-endpoint ingress[0]", `decision: ALLOW by Statement[0] (Sid "OnlyMyBucket")`, "verdict: ALLOWED"}},
		{"sg denies batch", []string{"--action", "s3:PutObject", "--resource", "arn:aws:s3:::my-bucket/k", "--from", "127.0.6.50"}, 1,
			[]string{"endpoint_sg_ingress", "no matching rule", "S3 answers: no connection"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"explain", "-c", file}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestExplainGateway: privlink explain --action prints the statement that
// decides an S3 request through the gateway endpoint of the docs' example,
// and --from with a gateway endpoint explains the route.
func TestExplainGateway(t *testing.T) {
	const file = "../../examples/gateway-s3.yaml"
	gw := "vpce-0a1b2c3d4e5f60718"
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout []string
		wantStderr string
	}{
		{"allowed", []string{"--action", "s3:GetObject", "--resource", "arn:aws:s3:::my-bucket/test.txt"}, 0,
			[]string{`decision: ALLOW by Statement[0] (Sid "OnlyMyBucket") (line 34)`, "verdict: ALLOWED"}, ""},
		{"list buckets denied", []string{"--action", "s3:ListAllMyBuckets", "--access-key", "AKIAIOSFODNN7EXAMPLE"}, 1,
			[]string{`s3:ListAllMyBuckets is not in Action ["s3:GetObject", "s3:PutObject"]`, "decision: IMPLICIT DENY: no statement allows the request",
				"S3 answers: 403 AccessDenied: User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:ListAllMyBuckets because no VPC endpoint policy allows the s3:ListAllMyBuckets action"}, ""},
		{"other bucket from the host", []string{"--action", "s3:PutObject", "--resource", "arn:aws:s3:::other-bucket/test.txt", "--from", "127.0.0.1"}, 1,
			[]string{"rtb-app: pl-63a5400a → " + gw, "path: allowed", "verdict: DENIED"}, ""},
		{"no route", []string{"--action", "s3:GetObject", "--resource", "arn:aws:s3:::my-bucket/k", "--from", "127.0.6.50"}, 1,
			[]string{"rtb-batch has no route to pl-63a5400a (S3)", "verdict: DENIED (no path: the connection gets deny_action (reset))"}, ""},
		{"path only", []string{"--from", "127.0.6.50", "--endpoint", gw}, 1,
			[]string{"path: DENIED", "suggestion: add rtb-batch to the route_tables of gateway endpoint " + gw}, ""},
		{"unknown endpoint", []string{"--action", "s3:GetObject", "--endpoint", "vpce-nope"}, 1, nil,
			`privlink: gateway: unknown endpoint "vpce-nope" (S3 endpoints: ` + gw + ")"},
		{"both callers", []string{"--action", "s3:GetObject", "--principal", "arn:aws:iam::111122223333:root", "--access-key", "AKIAIOSFODNN7EXAMPLE"}, 2, nil,
			"give --principal or --access-key, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"explain", "-c", file}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d (want %d), stdout:\n%s\nstderr %q (want %q)", code, tt.code, out, errOut, tt.wantStderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
	code, out, _ := runCmd(t, "explain", "-c", file, "--action", "s3:PutObject", "--resource", "arn:aws:s3:::my-bucket/x", "--json")
	var r struct {
		Deciding string `json:"deciding_statement"`
		Policy   struct {
			Decision  string `json:"decision"`
			Statement int    `json:"statement"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.Policy.Decision != "allow" || r.Policy.Statement != 0 || r.Deciding != `Statement[0] (Sid "OnlyMyBucket")` {
		t.Fatalf("exit %d, %v, %+v\n%s", code, err, r, out)
	}
}

// TestExplainDynamoDB: privlink explain --action dynamodb:... answers
// offline for the DynamoDB gateway endpoint of the docs' example.
func TestExplainDynamoDB(t *testing.T) {
	const file = "../../examples/gateway-dynamodb.yaml"
	const music = "arn:aws:dynamodb:us-east-1:111122223333:table/Music"
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"GetItem allowed", []string{"--action", "dynamodb:GetItem", "--resource", music, "--from", "127.0.0.1"}, 0,
			[]string{"from 127.0.0.1 to DynamoDB 127.0.5.2:8000 (pl-02cd2c6b) through gateway endpoint vpce-0d1d2d3d4d5d6d7d8",
				`decision: ALLOW by Statement[0] (Sid "MusicOnly")`, "verdict: ALLOWED"}},
		{"ListTables denied", []string{"--action", "dynamodb:ListTables", "--access-key", "AKIAIOSFODNN7EXAMPLE"}, 1,
			[]string{"DynamoDB answers: 400 AccessDeniedException: User: arn:aws:iam::111122223333:user/alice is not authorized to perform: dynamodb:ListTables because no VPC endpoint policy allows the dynamodb:ListTables action"}},
		{"no route", []string{"--action", "dynamodb:GetItem", "--resource", music, "--from", "127.0.6.50"}, 1,
			[]string{"rtb-batch has no route to pl-02cd2c6b (DynamoDB)", "verdict: DENIED (no path"}},
		{"path only", []string{"--from", "127.0.6.50", "--endpoint", "vpce-0d1d2d3d4d5d6d7d8"}, 1,
			[]string{"to DynamoDB 127.0.5.2:8000", "{prefix_list: dynamodb, gateway_endpoint: vpce-0d1d2d3d4d5d6d7d8}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"explain", "-c", file}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d (want %d), stdout:\n%s\nstderr %s", code, tt.code, out, errOut)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
