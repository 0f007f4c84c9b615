package iampolicy_test

import (
	"fmt"

	"github.com/privlink/privlink/acl/iampolicy"
)

func ExamplePolicy_Evaluate() {
	p, err := iampolicy.Parse([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Sid": "OnlyMyBucket",
	    "Effect": "Allow",
	    "Principal": "*",
	    "Action": ["s3:GetObject", "s3:PutObject"],
	    "Resource": ["arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/*"]
	  }]
	}`))
	if err != nil {
		panic(err)
	}
	for _, action := range []string{"s3:PutObject", "s3:ListAllMyBuckets"} {
		res := p.Evaluate(&iampolicy.Request{Action: action, Resource: "arn:aws:s3:::my-bucket/test.txt"}, iampolicy.GatewayEndpointPolicy)
		fmt.Printf("%s: %s by statement %d\n", action, res.Decision, res.Statement)
		fmt.Printf("  %s\n", res.Statements[0].Reason)
	}
	// Output:
	// s3:PutObject: allow by statement 0
	//   applies
	// s3:ListAllMyBuckets: implicit_deny by statement -1
	//   s3:ListAllMyBuckets is not in Action ["s3:GetObject", "s3:PutObject"]
}
