package iampolicy

import (
	"strings"
	"testing"
)

// Policies of the table below, as the user would write them.
var policies = map[string]string{
	// The classic example.
	"classic": `{"Version":"2012-10-17","Statement":[{"Sid":"GetPut","Effect":"Allow","Principal":"*",
		"Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::my-bucket","arn:aws:s3:::my-bucket/*"]}]}`,
	"full": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`,
	"allowDenyDelete": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"},
		{"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"*"}]}`,
	"denyFirst": `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::ro/*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
	"allowNotAction": `{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"*"}}`,
	"denyNotAction": `{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":"*"},
		{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`,
	"allowNotResource": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"}]}`,
	"denyNotResource": `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":["arn:aws:s3:::ok","arn:aws:s3:::ok/*"]},
		{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
	"question": `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::log-20??/*"}]}`,
	"getStar":  `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"*"}]}`,
	"s3Star":   `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
	"awsStar":  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}]}`,
	"alice":    `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:*","Resource":"*"}]}`,
	"account":  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}]}`,
	"rootArn":  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root"]},"Action":"s3:*","Resource":"*"}]}`,
	"notPrincipal": `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"s3:*","Resource":"*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
	"role": `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"s3:*","Resource":"*"}]}`,
	"twoAllows": `{"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*"},
		{"Sid":"B","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`,
	"vpce":          cond(`"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}`),
	"vpceUpper":     cond(`"StringEquals":{"AWS:SOURCEVPCE":"vpce-1a2b3c4d"}`),
	"denyNotVpce":   denyCond(`"StringNotEquals":{"aws:SourceVpce":["vpce-1a2b3c4d","vpce-5e6f"]}`),
	"ignoreCase":    cond(`"StringEqualsIgnoreCase":{"aws:SourceVpc":"VPC-ABC"}`),
	"notIgnoreCase": denyCond(`"StringNotEqualsIgnoreCase":{"aws:SourceVpc":"VPC-ABC"}`),
	"like":          cond(`"StringLike":{"s3:prefix":["home/*","pub??c/*"]}`),
	"notLike":       denyCond(`"StringNotLike":{"s3:prefix":"home/*"}`),
	"vpcIP":         cond(`"IpAddress":{"aws:VpcSourceIp":["10.0.1.0/24","fd00::/64"]}`),
	"sourceIP":      cond(`"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}`),
	"denyNotIP":     denyCond(`"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}`),
	"denyNotVpcIP":  denyCond(`"NotIpAddress":{"aws:VpcSourceIp":"10.0.1.0/24"}`),
	"insecure":      denyCond(`"Bool":{"aws:SecureTransport":"false"}`),
	"secureOnly":    cond(`"Bool":{"aws:SecureTransport":true}`),
	"anonOnly":      cond(`"Null":{"aws:PrincipalAccount":"true"}`),
	"signedOnly":    cond(`"Null":{"aws:PrincipalAccount":"false"}`),
	"ifExists":      cond(`"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1a2b3c4d"}`),
	"notIPIfExists": denyCond(`"NotIpAddressIfExists":{"aws:SourceIp":"203.0.113.0/24"}`),
	"anyValue":      cond(`"ForAnyValue:StringEquals":{"aws:TagKeys":["team","env"]}`),
	"allValues":     cond(`"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}`),
	"allNotEquals":  cond(`"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret"]}`),
	"arnLike":       cond(`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/a*"}`),
	"arnEquals":     cond(`"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}`),
	"arnNotLike":    denyCond(`"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:*"}`),
	"maxKeys":       cond(`"NumericLessThanEquals":{"s3:max-keys":"100"}`),
	"numGE":         cond(`"NumericGreaterThanEquals":{"s3:max-keys":10}`),
	"numNotEquals":  cond(`"NumericNotEquals":{"s3:max-keys":"0"}`),
	"before":        cond(`"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}`),
	"afterEpoch":    cond(`"DateGreaterThan":{"aws:EpochTime":"1700000000"}`),
	"twoConds":      cond(`"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"},"IpAddress":{"aws:VpcSourceIp":"10.0.1.0/24"}`),
	"twoKeys":       cond(`"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d","aws:PrincipalAccount":"111122223333"}`),
	"binary":        cond(`"BinaryEquals":{"x:blob":"aGVsbG8="}`),
	"acctCond":      cond(`"StringEquals":{"aws:PrincipalAccount":["111122223333","444455556666"]}`),
	"principalArn":  cond(`"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}`),
}

func cond(c string) string {
	return `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{` + c + `}}]}`
}

func denyCond(c string) string {
	return `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{` + c + `}}]}`
}

const (
	alice = "arn:aws:iam::111122223333:user/alice"
	bob   = "arn:aws:iam::111122223333:user/bob"
	root  = "arn:aws:iam::111122223333:root"
	obj   = "arn:aws:s3:::my-bucket/k"
)

// ctx builds a context from "key=v1,v2" items.
func ctx(kvs ...string) Context {
	c := Context{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		c.Set(k, strings.Split(v, ",")...)
	}
	return c
}

func TestEvaluate(t *testing.T) {
	vpce := "aws:SourceVpce=vpce-1a2b3c4d"
	tests := []struct {
		name, policy   string
		kind           Kind
		principal, act string
		resource       string
		ctx            Context
		want           Decision
		stmt           int
	}{
		{"classic get", "classic", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 0},
		{"classic put", "classic", GatewayEndpointPolicy, alice, "s3:PutObject", obj, nil, Allowed, 0},
		{"classic bucket arn", "classic", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::my-bucket", nil, Allowed, 0},
		{"classic list buckets", "classic", GatewayEndpointPolicy, "", "s3:ListAllMyBuckets", "arn:aws:s3:::*", nil, ImplicitDeny, -1},
		{"classic other bucket", "classic", GatewayEndpointPolicy, "", "s3:PutObject", "arn:aws:s3:::other/k", nil, ImplicitDeny, -1},
		{"classic delete", "classic", GatewayEndpointPolicy, "", "s3:DeleteObject", obj, nil, ImplicitDeny, -1},
		{"classic list bucket", "classic", GatewayEndpointPolicy, "", "s3:ListBucket", "arn:aws:s3:::my-bucket", nil, ImplicitDeny, -1},
		{"action case-insensitive", "classic", GatewayEndpointPolicy, "", "S3:getobject", obj, nil, Allowed, 0},
		{"resource case-sensitive", "classic", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::My-Bucket/k", nil, ImplicitDeny, -1},
		{"prefix bucket name is not the bucket", "classic", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::my-bucket2/k", nil, ImplicitDeny, -1},
		{"full access", "full", GatewayEndpointPolicy, "", "ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/i-1", nil, Allowed, 0},
		{"deny overrides allow", "allowDenyDelete", GatewayEndpointPolicy, alice, "s3:DeleteObject", obj, nil, ExplicitDeny, 1},
		{"allow where deny does not apply", "allowDenyDelete", GatewayEndpointPolicy, alice, "s3:GetObject", obj, nil, Allowed, 0},
		{"deny listed first", "denyFirst", GatewayEndpointPolicy, "", "s3:PutObject", "arn:aws:s3:::ro/x", nil, ExplicitDeny, 0},
		{"deny first other resource", "denyFirst", GatewayEndpointPolicy, "", "s3:PutObject", "arn:aws:s3:::rw/x", nil, Allowed, 1},
		{"allow NotAction others", "allowNotAction", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 0},
		{"allow NotAction excluded", "allowNotAction", GatewayEndpointPolicy, "", "s3:DeleteObject", obj, nil, ImplicitDeny, -1},
		{"allow NotAction other service", "allowNotAction", GatewayEndpointPolicy, "", "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q", nil, Allowed, 0},
		{"deny NotAction denies the rest", "denyNotAction", GatewayEndpointPolicy, "", "s3:PutObject", obj, nil, ExplicitDeny, 0},
		{"deny NotAction grants nothing", "denyNotAction", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 1},
		{"allow NotResource excluded", "allowNotResource", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::secret/k", nil, ImplicitDeny, -1},
		{"allow NotResource others", "allowNotResource", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 0},
		{"deny NotResource outside", "denyNotResource", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, ExplicitDeny, 0},
		{"deny NotResource inside", "denyNotResource", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::ok/k", nil, Allowed, 1},
		{"question mark one char each", "question", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::log-2024/x", nil, Allowed, 0},
		{"question mark too short", "question", GatewayEndpointPolicy, "", "s3:GetObject", "arn:aws:s3:::log-202/x", nil, ImplicitDeny, -1},
		{"star action prefix", "getStar", GatewayEndpointPolicy, "", "s3:GetObjectVersion", obj, nil, Allowed, 0},
		{"star action other verb", "getStar", GatewayEndpointPolicy, "", "s3:PutObject", obj, nil, ImplicitDeny, -1},
		{"service star", "s3Star", GatewayEndpointPolicy, "", "s3:AbortMultipartUpload", obj, nil, Allowed, 0},
		{"service star other service", "s3Star", GatewayEndpointPolicy, "", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/t", nil, ImplicitDeny, -1},
		{"principal AWS star anonymous", "awsStar", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 0},
		{"principal user matches", "alice", GatewayEndpointPolicy, alice, "s3:GetObject", obj, nil, Allowed, 0},
		{"principal user other user", "alice", GatewayEndpointPolicy, bob, "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"principal user anonymous", "alice", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"account id is root only in endpoint policy", "account", GatewayEndpointPolicy, alice, "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"account id matches root", "account", GatewayEndpointPolicy, root, "s3:GetObject", obj, nil, Allowed, 0},
		{"account id in resource policy covers users", "account", ResourcePolicy, alice, "s3:GetObject", obj, nil, Allowed, 0},
		{"root arn is root only in endpoint policy", "rootArn", GatewayEndpointPolicy, bob, "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"root arn in resource policy other account", "rootArn", ResourcePolicy, "arn:aws:iam::444455556666:user/x", "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"role covers its sessions", "role", GatewayEndpointPolicy, "arn:aws:sts::111122223333:assumed-role/app/s1", "s3:GetObject", obj, nil, Allowed, 0},
		{"role does not cover other roles' sessions", "role", GatewayEndpointPolicy, "arn:aws:sts::111122223333:assumed-role/apps/s1", "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"NotPrincipal spares the listed", "notPrincipal", GatewayEndpointPolicy, alice, "s3:GetObject", obj, nil, Allowed, 1},
		{"NotPrincipal denies the others", "notPrincipal", GatewayEndpointPolicy, bob, "s3:GetObject", obj, nil, ExplicitDeny, 0},
		{"NotPrincipal denies anonymous", "notPrincipal", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, ExplicitDeny, 0},
		{"account id in interface endpoint policy covers users", "account", InterfaceEndpointPolicy, alice, "s3:GetObject", obj, nil, Allowed, 0},
		{"root arn in interface endpoint policy covers roles", "rootArn", InterfaceEndpointPolicy, "arn:aws:sts::111122223333:assumed-role/app/s1", "s3:GetObject", obj, nil, Allowed, 0},
		{"root arn in interface endpoint policy other account", "rootArn", InterfaceEndpointPolicy, "arn:aws:iam::444455556666:user/x", "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"root arn in interface endpoint policy anonymous", "rootArn", InterfaceEndpointPolicy, "", "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"root arn matches root in gateway endpoint policy", "rootArn", GatewayEndpointPolicy, root, "s3:GetObject", obj, nil, Allowed, 0},
		{"user principal in interface endpoint policy", "alice", InterfaceEndpointPolicy, bob, "s3:GetObject", obj, nil, ImplicitDeny, -1},
		{"gateway: aws:PrincipalArn names the user", "principalArn", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + alice), Allowed, 0},
		{"gateway: aws:PrincipalArn other user", "principalArn", GatewayEndpointPolicy, bob, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + bob), ImplicitDeny, -1},
		{"gateway: aws:PrincipalArn anonymous", "principalArn", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), ImplicitDeny, -1},
		{"gateway: aws:PrincipalAccount covers the account", "acctCond", GatewayEndpointPolicy, bob, "s3:GetObject", obj, ctx("aws:PrincipalAccount=111122223333"), Allowed, 0},
		{"first applying allow decides", "twoAllows", GatewayEndpointPolicy, "", "s3:GetObject", obj, nil, Allowed, 1},
		{"StringEquals matches", "vpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce), Allowed, 0},
		{"StringEquals other value", "vpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpce=vpce-9"), ImplicitDeny, -1},
		{"StringEquals key absent", "vpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), ImplicitDeny, -1},
		{"condition keys case-insensitive", "vpceUpper", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce), Allowed, 0},
		{"StringNotEquals absent holds", "denyNotVpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), ExplicitDeny, 1},
		{"StringNotEquals second value", "denyNotVpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpce=vpce-5e6f"), Allowed, 0},
		{"StringNotEquals other value", "denyNotVpce", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpce=vpce-0"), ExplicitDeny, 1},
		{"StringEqualsIgnoreCase", "ignoreCase", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpc=vpc-abc"), Allowed, 0},
		{"StringNotEqualsIgnoreCase equal", "notIgnoreCase", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpc=Vpc-Abc"), Allowed, 0},
		{"StringNotEqualsIgnoreCase differs", "notIgnoreCase", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpc=vpc-x"), ExplicitDeny, 1},
		{"StringLike star", "like", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:prefix=home/alice/"), Allowed, 0},
		{"StringLike question", "like", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:prefix=public/x"), Allowed, 0},
		{"StringLike no match", "like", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:prefix=etc/"), ImplicitDeny, -1},
		{"StringNotLike", "notLike", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:prefix=etc/"), ExplicitDeny, 1},
		{"IpAddress VpcSourceIp inside", "vpcIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:VpcSourceIp=10.0.1.7"), Allowed, 0},
		{"IpAddress VpcSourceIp outside", "vpcIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:VpcSourceIp=10.0.2.7"), ImplicitDeny, -1},
		{"IpAddress IPv6", "vpcIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:VpcSourceIp=fd00::5"), Allowed, 0},
		{"IpAddress SourceIp never through endpoint", "sourceIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce, "aws:VpcSourceIp=203.0.113.5"), ImplicitDeny, -1},
		{"NotIpAddress SourceIp absent always denies", "denyNotIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce, "aws:VpcSourceIp=203.0.113.5"), ExplicitDeny, 1},
		{"NotIpAddress outside", "denyNotVpcIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:VpcSourceIp=10.9.9.9"), ExplicitDeny, 1},
		{"NotIpAddress inside", "denyNotVpcIP", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:VpcSourceIp=10.0.1.9"), Allowed, 0},
		{"Bool false", "insecure", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SecureTransport=false"), ExplicitDeny, 1},
		{"Bool true", "insecure", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SecureTransport=true"), Allowed, 0},
		{"Bool JSON true vs false", "secureOnly", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SecureTransport=false"), ImplicitDeny, -1},
		{"Null true key absent", "anonOnly", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), Allowed, 0},
		{"Null true key present", "anonOnly", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalAccount=111122223333"), ImplicitDeny, -1},
		{"Null false key present", "signedOnly", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalAccount=111122223333"), Allowed, 0},
		{"IfExists absent holds", "ifExists", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), Allowed, 0},
		{"IfExists present mismatch", "ifExists", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:SourceVpce=vpce-9"), ImplicitDeny, -1},
		{"NotIpAddressIfExists absent holds", "notIPIfExists", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), ExplicitDeny, 1},
		{"ForAnyValue one matches", "anyValue", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:TagKeys=cost,env"), Allowed, 0},
		{"ForAnyValue none matches", "anyValue", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:TagKeys=cost"), ImplicitDeny, -1},
		{"ForAnyValue absent fails", "anyValue", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), ImplicitDeny, -1},
		{"ForAllValues all in set", "allValues", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:TagKeys=env,team"), Allowed, 0},
		{"ForAllValues one outside", "allValues", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:TagKeys=env,cost"), ImplicitDeny, -1},
		{"ForAllValues absent holds", "allValues", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(), Allowed, 0},
		{"ForAllValues negated", "allNotEquals", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:TagKeys=env,secret"), ImplicitDeny, -1},
		{"ArnLike per component", "arnLike", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + alice), Allowed, 0},
		{"ArnLike no match", "arnLike", GatewayEndpointPolicy, bob, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + bob), ImplicitDeny, -1},
		{"ArnEquals", "arnEquals", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + alice), Allowed, 0},
		{"ArnNotLike other account", "arnNotLike", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:PrincipalArn=arn:aws:iam::444455556666:user/x"), ExplicitDeny, 1},
		{"ArnNotLike own account", "arnNotLike", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx("aws:PrincipalArn=" + alice), Allowed, 0},
		{"NumericLessThanEquals", "maxKeys", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:max-keys=100"), Allowed, 0},
		{"NumericLessThanEquals above", "maxKeys", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:max-keys=1000"), ImplicitDeny, -1},
		{"NumericGreaterThanEquals JSON number", "numGE", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:max-keys=10"), Allowed, 0},
		{"NumericNotEquals not a number", "numNotEquals", GatewayEndpointPolicy, "", "s3:ListBucket", obj, ctx("s3:max-keys=abc"), Allowed, 0},
		{"DateLessThan", "before", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:CurrentTime=2026-12-05T10:00:00Z"), Allowed, 0},
		{"DateLessThan after", "before", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:CurrentTime=2031-01-01T00:00:00Z"), ImplicitDeny, -1},
		{"DateGreaterThan epoch", "afterEpoch", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:EpochTime=1800000000"), Allowed, 0},
		{"two operators both hold", "twoConds", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce, "aws:VpcSourceIp=10.0.1.1"), Allowed, 0},
		{"two operators one fails", "twoConds", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce, "aws:VpcSourceIp=10.0.3.1"), ImplicitDeny, -1},
		{"two keys one absent", "twoKeys", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx(vpce), ImplicitDeny, -1},
		{"two keys both", "twoKeys", GatewayEndpointPolicy, alice, "s3:GetObject", obj, ctx(vpce, "aws:PrincipalAccount=111122223333"), Allowed, 0},
		{"values are ORed", "acctCond", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("aws:PrincipalAccount=444455556666"), Allowed, 0},
		{"BinaryEquals", "binary", GatewayEndpointPolicy, "", "s3:GetObject", obj, ctx("x:blob=aGVsbG8="), Allowed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(policies[tt.policy]))
			if err != nil {
				t.Fatalf("policy %s: %v", tt.policy, err)
			}
			r := &Request{Principal: tt.principal, Action: tt.act, Resource: tt.resource, Context: tt.ctx}
			res := p.Evaluate(r, tt.kind)
			if res.Decision != tt.want || res.Statement != tt.stmt {
				t.Fatalf("got %s by statement %d, want %s by %d\n%+v", res.Decision, res.Statement, tt.want, tt.stmt, res.Statements)
			}
			if d, i := p.Decide(r, tt.kind); d != res.Decision || i != res.Statement {
				t.Fatalf("Decide = %s, %d; Evaluate = %s, %d", d, i, res.Decision, res.Statement)
			}
			for _, s := range res.Statements {
				if s.Applies != (s.Reason == "applies") || s.Reason == "" {
					t.Fatalf("statement %d: applies %v with reason %q", s.Index, s.Applies, s.Reason)
				}
			}
		})
	}
	if len(tests) < 60 {
		t.Fatalf("only %d cases", len(tests))
	}
}

func TestEvaluateReasons(t *testing.T) {
	p, err := Parse([]byte(policies["twoConds"]))
	if err != nil {
		t.Fatal(err)
	}
	res := p.Evaluate(&Request{Action: "s3:GetObject", Resource: obj, Context: ctx("aws:SourceVpce=vpce-9")}, GatewayEndpointPolicy)
	want := `condition StringEquals aws:SourceVpce "vpce-1a2b3c4d" does not hold: the request has "vpce-9"`
	if got := res.Statements[0].Reason; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	c, _ := Parse([]byte(policies["classic"]))
	res = c.Evaluate(&Request{Action: "s3:ListAllMyBuckets", Resource: "arn:aws:s3:::*"}, GatewayEndpointPolicy)
	want = `s3:ListAllMyBuckets is not in Action ["s3:GetObject", "s3:PutObject"]`
	if got := res.Statements[0].Reason; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	a, _ := Parse([]byte(policies["alice"]))
	res = a.Evaluate(&Request{Action: "s3:GetObject", Resource: obj}, GatewayEndpointPolicy)
	want = `principal anonymous is not matched by Principal {"AWS": "arn:aws:iam::111122223333:user/alice"}`
	if got := res.Statements[0].Reason; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "ab", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"?", "é", true}, {"??", "é", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxcyyb", false}, {"arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", true},
		{"", "", true}, {"", "a", false}, {"**", "x", true}, {"*x", "xxx", true}, {"*?", "", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}
