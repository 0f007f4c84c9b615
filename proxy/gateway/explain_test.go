package gateway

import (
	"net/netip"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	l := newLab(t, Options{})
	tests := []struct {
		name     string
		q        Query
		decision string
		lines    []string
	}{
		{"allowed by the statement", Query{Action: "s3:PutObject", Resource: "arn:aws:s3:::my-bucket/test.txt"}, "allowed", []string{
			"request: s3:PutObject on arn:aws:s3:::my-bucket/test.txt by anonymous through " + vpce,
			"endpoint policy (inline):",
			`  Allow Statement[0] (Sid "OnlyMyBucket"): applies`,
			`decision: ALLOW by Statement[0] (Sid "OnlyMyBucket") (line 23)`,
			"verdict: ALLOWED",
		}},
		{"implicit deny", Query{Action: "s3:ListAllMyBuckets", AccessKey: "AKIAIOSFODNN7EXAMPLE"}, "denied", []string{
			"request: s3:ListAllMyBuckets on arn:aws:s3:::* by arn:aws:iam::111122223333:user/alice through " + vpce,
			`  Allow Statement[0] (Sid "OnlyMyBucket"): s3:ListAllMyBuckets is not in Action ["s3:GetObject", "s3:PutObject"]`,
			"decision: IMPLICIT DENY: no statement allows the request",
			"S3 answers: 403 AccessDenied: User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:ListAllMyBuckets because no VPC endpoint policy allows the s3:ListAllMyBuckets action",
		}},
		{"from a client with the route", Query{Action: "s3:GetObject", Resource: "arn:aws:s3:::my-bucket/k", From: netip.MustParseAddrPort(l.app + ":40000")}, "allowed", []string{
			"through gateway endpoint " + vpce,
			"verdict: ALLOWED",
		}},
		{"from a client without the route", Query{Action: "s3:GetObject", Resource: "arn:aws:s3:::my-bucket/k", From: netip.MustParseAddrPort(l.batch + ":0")}, "denied", []string{
			"rtb-batch has no route to pl-63a5400a (S3)",
			"verdict: DENIED (no path: the connection gets deny_action (reset))",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := l.srv.Explain(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tt.decision {
				t.Errorf("verdict %s, want %s", r.Verdict, tt.decision)
			}
			for _, want := range tt.lines {
				if !strings.Contains(b.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
	if _, err := l.srv.Explain(Query{Action: "s3:GetObject", Endpoint: "vpce-nope"}); err == nil || !strings.Contains(err.Error(), "unknown endpoint \"vpce-nope\" (S3 endpoints: "+vpce+")") {
		t.Errorf("unknown endpoint: %v", err)
	}
}
