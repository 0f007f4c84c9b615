package gateway

import (
	"strings"
	"testing"
)

// Access keys of the condition-key labs beside the lab's alice
// (111122223333) and mallory (444455556666).
const (
	aliceKey   = "AKIAIOSFODNN7EXAMPLE"
	malloryKey = "AKIAI44QH8DHBEXAMPLE"
	bobKey     = "AKIAJBOBEXAMPLE00000" // arn:aws:iam::111122223333:user/bob
	rootKey    = "AKIAJROOTEXAMPLE0000" // arn:aws:iam::111122223333:root
	labVPC     = "vpc-0a1b2c3d4e5f60001"
)

// The classic statements of the gateway and the interface endpoint, which
// the labs below replace.
const (
	gatewayStatement = `        - Sid: OnlyMyBucket
          Effect: Allow
          Principal: "*"
          Action: [s3:GetObject, s3:PutObject]
          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]
`
	ifaceStatement = `        - Sid: OnlyMyBucketThroughInterface
          Effect: Allow
          Principal: "*"
          Action: [s3:GetObject, s3:PutObject]
          Resource: [arn:aws:s3:::my-bucket, arn:aws:s3:::my-bucket/*]
`
)

// newPolicyLab is newIfaceLab with both endpoints in labVPC, bob and the
// account's root user among the principals, and the statements gateway
// and iface (YAML list items) as the endpoints' policies.
func newPolicyLab(t *testing.T, gateway, iface string) (*lab, string) {
	t.Helper()
	return newIfaceLab(t, Options{},
		"principals:\n", "principals:\n  "+bobKey+": arn:aws:iam::111122223333:user/bob\n  "+rootKey+": arn:aws:iam::111122223333:root\n",
		"    route_tables: [rtb-app]\n", "    route_tables: [rtb-app]\n    vpc_id: "+labVPC+"\n",
		"    security_groups: [sg-s3-endpoint]\n", "    security_groups: [sg-s3-endpoint]\n    vpc_id: "+labVPC+"\n",
		gatewayStatement, gateway, ifaceStatement, iface)
}

// keyStatements allows s3:PutObject under my-bucket/PREFIX/ when one
// condition key has the value a request through endpoint id must carry.
func keyStatements(id, other, app string) string {
	st := func(prefix, cond string) string {
		return `        - {Sid: ` + prefix + `, Effect: Allow, Principal: "*", Action: s3:PutObject, Resource: "arn:aws:s3:::my-bucket/` + prefix + `/*", Condition: ` + cond + "}\n"
	}
	return st("vpce", "{StringEquals: {aws:SourceVpce: "+id+"}}") +
		st("othervpce", "{StringEquals: {aws:SourceVpce: "+other+"}}") +
		st("vpc", "{StringEquals: {aws:SourceVpc: "+labVPC+"}}") +
		st("wrongvpc", "{StringEquals: {aws:SourceVpc: vpc-0fffffffffffffff0}}") +
		st("ip", "{StringEquals: {aws:VpcSourceIp: \""+app+"\"}}") +
		st("cidr", "{IpAddress: {aws:VpcSourceIp: \""+app+"/32\"}}") +
		st("account", "{StringEquals: {aws:PrincipalAccount: \"111122223333\"}}") +
		st("arn", "{StringEquals: {aws:PrincipalArn: arn:aws:iam::111122223333:user/alice}}")
}

// TestConditionKeys: requests through a gateway endpoint and through an
// S3 interface endpoint carry aws:SourceVpce (the endpoint they pass),
// aws:SourceVpc, aws:VpcSourceIp, aws:PrincipalAccount and
// aws:PrincipalArn: each statement allows one key's value, and a caller
// (or endpoint, or VPC) with another value is denied, over real sockets.
func TestConditionKeys(t *testing.T) {
	app := "APP.50" // newLab writes the lab's subnet-app range in
	l, iface := newPolicyLab(t, keyStatements(vpce, ifaceVPCE, app), keyStatements(ifaceVPCE, vpce, app))
	other := strings.TrimSuffix(l.app, ".50") + ".51" // subnet-app too: routed, admitted by the SG
	for _, ep := range []struct{ name, id, addr string }{{"gateway", vpce, l.s3}, {"interface", ifaceVPCE, iface}} {
		for _, c := range []struct {
			name, key, src, prefix string
			want                   int
		}{
			{"SourceVpce this endpoint", aliceKey, l.app, "vpce", 200},
			{"SourceVpce other endpoint", aliceKey, l.app, "othervpce", 403},
			{"SourceVpc", aliceKey, l.app, "vpc", 200},
			{"SourceVpc wrong VPC", aliceKey, l.app, "wrongvpc", 403},
			{"VpcSourceIp this client", aliceKey, l.app, "ip", 200},
			{"VpcSourceIp other client", aliceKey, other, "ip", 403},
			{"VpcSourceIp IpAddress this client", "", l.app, "cidr", 200},
			{"VpcSourceIp IpAddress other client", "", other, "cidr", 403},
			{"PrincipalAccount same account", bobKey, l.app, "account", 200},
			{"PrincipalAccount other account", malloryKey, l.app, "account", 403},
			{"PrincipalAccount anonymous", "", l.app, "account", 403},
			{"PrincipalArn alice", aliceKey, l.app, "arn", 200},
			{"PrincipalArn bob", bobKey, l.app, "arn", 403},
		} {
			t.Run(ep.name+"/"+c.name, func(t *testing.T) {
				key := c.prefix + "/" + strings.ReplaceAll(c.name, " ", "-")
				resp, body := l.doAt(ep.addr, c.src, "PUT", "/my-bucket/"+key, "x", c.key)
				if resp.StatusCode != c.want {
					t.Fatalf("PUT %s through %s: %d, want %d\n%s", key, ep.id, resp.StatusCode, c.want, body)
				}
				_, err := l.srv.EmbeddedObject("my-bucket", key)
				if (err == nil) != (c.want == 200) {
					t.Fatalf("object %s in the backend: %v", key, err)
				}
			})
		}
	}
}

// accountStatement allows PutObject on my-bucket to the account
// 111122223333 written as a Principal element.
const accountStatement = `        - {Sid: Account, Effect: Allow, Principal: {AWS: "111122223333"}, Action: s3:PutObject, Resource: "arn:aws:s3:::my-bucket/*"}
`

// TestAccountPrincipal: {"AWS": "111122223333"} as the Principal grants
// the account's root user only through a gateway endpoint, and every
// principal of the account through an interface endpoint (AWS,
// vpc-endpoints-access.html, "Principals for gateway endpoints").
func TestAccountPrincipal(t *testing.T) {
	l, iface := newPolicyLab(t, accountStatement, accountStatement)
	for _, c := range []struct {
		name, addr, key string
		want            int
	}{
		{"gateway root", l.s3, rootKey, 200},
		{"gateway user of the account", l.s3, aliceKey, 403},
		{"gateway other account", l.s3, malloryKey, 403},
		{"gateway anonymous", l.s3, "", 403},
		{"interface root", iface, rootKey, 200},
		{"interface user of the account", iface, aliceKey, 200},
		{"interface other account", iface, malloryKey, 403},
		{"interface anonymous", iface, "", 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := l.doAt(c.addr, l.app, "PUT", "/my-bucket/"+strings.ReplaceAll(c.name, " ", "-"), "x", c.key)
			if resp.StatusCode != c.want {
				t.Fatalf("%d, want %d\n%s", resp.StatusCode, c.want, body)
			}
		})
	}
}
