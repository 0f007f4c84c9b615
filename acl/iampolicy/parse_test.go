package iampolicy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"bad effect", `{"Statement":[{"Effect":"allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
			`line 1: Statement[0].Effect: must be "Allow" or "Deny", got "allow"`},
		{"missing action", "{\"Statement\":[\n{\"Effect\":\"Allow\",\"Resource\":\"*\"}]}",
			`line 2: Statement[0].Action: is required (or NotAction)`},
		{"action and not action", `{"Statement":{"Effect":"Deny","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}`,
			`line 1: Statement: give either Action or NotAction, not both`},
		{"missing effect", `{"Statement":{"Action":"s3:*","Resource":"*"}}`,
			`line 1: Statement.Effect: is required ("Allow" or "Deny")`},
		{"missing resource", `{"Statement":{"Effect":"Allow","Action":"s3:*"}}`,
			`line 1: Statement.Resource: is required (or NotResource)`},
		{"unknown element case", `{"Statement":{"effect":"Allow","Action":"s3:*","Resource":"*"}}`,
			`line 1: Statement.effect: unknown statement element "effect" (names are case-sensitive: did you mean "Effect"?)`},
		{"unknown top key", `{"Statment":[]}`, `line 1: Statment: unknown policy element "Statment" (elements: Version, Id, Statement)`},
		{"action without service", `{"Statement":{"Effect":"Allow","Action":["s3:GetObject","PutObject"],"Resource":"*"}}`,
			`line 1: Statement.Action[1]: "PutObject" is not an action: write service:Action, e.g. s3:GetObject (wildcards * and ? allowed)`},
		{"resource not arn", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"my-bucket/*"}}`,
			`line 1: Statement.Resource: "my-bucket/*" is not a resource: write * or an ARN, e.g. arn:aws:s3:::my-bucket/*`},
		{"principal string", `{"Statement":{"Effect":"Allow","Principal":"111122223333","Action":"s3:*","Resource":"*"}}`,
			`line 1: Statement.Principal: a principal string must be "*"; write {"AWS": "111122223333"} for an account or ARN`},
		{"principal bad AWS", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:*","Resource":"*"}}`,
			`line 1: Statement.Principal.AWS: "alice" is not an AWS principal: write *, a 12-digit account ID or an IAM ARN (arn:aws:iam::111122223333:user/NAME)`},
		{"unknown operator", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringMatches":{"k":"v"}}}}`,
			`line 1: Statement.Condition.StringMatches: unknown condition operator "StringMatches"`},
		{"operator case", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"stringEquals":{"k":"v"}}}}`,
			`line 1: Statement.Condition.stringEquals: unknown condition operator "stringEquals" (operators are case-sensitive: did you mean "StringEquals"?)`},
		{"bad set qualifier", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ForEach:StringEquals":{"k":"v"}}}}`,
			`line 1: Statement.Condition.ForEach:StringEquals: unknown set qualifier "ForEach" (use ForAnyValue: or ForAllValues:)`},
		{"bad ip", "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\",\n\"Condition\":{\"IpAddress\":{\n\"aws:VpcSourceIp\":\"10.0.0.300/24\"}}}}",
			`line 3: Statement.Condition.IpAddress.aws:VpcSourceIp: "10.0.0.300/24" is not an IP address or CIDR`},
		{"bad bool", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}`,
			`line 1: Statement.Condition.Bool.aws:SecureTransport: Bool takes "true" or "false", got "yes"`},
		{"bad number", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}}`,
			`line 1: Statement.Condition.NumericLessThan.s3:max-keys: "ten" is not a number`},
		{"bad date", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}}`,
			`line 1: Statement.Condition.DateLessThan.aws:CurrentTime: "tomorrow" is not a date (ISO 8601, e.g. 2026-01-31T00:00:00Z, or epoch seconds)`},
		{"null with ifexists", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ForAnyValue:Null":{"k":"true"}}}}`,
			`line 1: Statement.Condition.ForAnyValue:Null: Null takes neither IfExists nor a set qualifier`},
		{"bad version", `{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
			`line 1: Version: "2012-10-18" is not a policy language version (use "2012-10-17")`},
		{"empty statements", `{"Statement":[]}`, `line 1: Statement: is empty: a policy needs at least one statement`},
		{"no statement", `{"Version":"2012-10-17"}`, `line 1: Statement: is required: a list of statements`},
		{"duplicate key", "{\"Statement\":{\"Effect\":\"Allow\",\n\"Effect\":\"Deny\"}}", `line 2: key "Effect" given twice`},
		{"json syntax", "{\"Statement\":\n[{\"Effect\":\"Allow\",}]}", `line 2: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{"truncated", `{"Statement":[`, `invalid JSON: the document ends early`},
		{"trailing text", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}} {}`, `line 1: text after the policy document`},
		{"not an object", `[1,2]`, `line 1: a policy is an object with Version and Statement, got a list`},
		{"yaml lines", "Statement:\n  - Effect: Allow\n    Action: [s3:GetObject, GetObject]\n    Resource: '*'\n",
			`line 3: Statement[0].Action[1]: "GetObject" is not an action: write service:Action, e.g. s3:GetObject (wildcards * and ? allowed)`},
		{"statement not object", `{"Statement":["Allow"]}`, `line 1: Statement[0]: expected a statement object, got a string`},
		{"empty", "", `the policy is empty`},
		{"no principal", "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\"*\"},\n{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}",
			`line 2: Statement[1].Principal: is required: an endpoint policy must contain a Principal element (AWS); write Principal: "*" and name principals with the aws:PrincipalArn condition key`},
		{"no principal yaml", "Statement:\n  - Effect: Allow\n    Action: s3:*\n    Resource: '*'\n",
			`line 2: Statement[0].Principal: is required`},
		{"wildcard on PrincipalAccount", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalAccount":["111122223333","1111*"]}}}}`,
			`line 1: Statement.Condition.StringLike.aws:PrincipalAccount: aws:PrincipalAccount holds a system-generated identifier: wildcards (* or ?) cannot be used with it in an endpoint policy (AWS), got "1111*"; list the exact values with StringEquals`},
		{"wildcard on SourceVpc", `{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotLikeIfExists":{"AWS:SourceVpc":"vpc-0?"}}}}`,
			`Statement.Condition.StringNotLikeIfExists.AWS:SourceVpc: AWS:SourceVpc holds a system-generated identifier: wildcards (* or ?) cannot be used`},
		{"wildcard on SourceVpce", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:SourceVpce":"vpce-*"}}}}`,
			`aws:SourceVpce holds a system-generated identifier: wildcards (* or ?) cannot be used`},
		{"numeric on PrincipalAccount", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"NumericEquals":{"aws:PrincipalAccount":111122223333}}}}`,
			`line 1: Statement.Condition.NumericEquals.aws:PrincipalAccount: aws:PrincipalAccount holds a system-generated identifier: numeric operators cannot be used with it in an endpoint policy (AWS); use StringEquals`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("parsed without error")
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Fatalf("error\n  %s\nwant it to contain\n  %s", got, tt.want)
			}
		})
	}
}

func TestParseYAMLKeepsText(t *testing.T) {
	doc := `
Version: 2012-10-17
Statement:
  - Sid: insecure
    Effect: Deny
    Principal: "*"
    Action: s3:*
    Resource: "*"
    Condition:
      Bool: {aws:SecureTransport: false}
      NumericLessThan: {s3:max-keys: 10}
`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "2012-10-17" || p.Statements[0].Line != 4 {
		t.Fatalf("version %q line %d", p.Version, p.Statements[0].Line)
	}
	c := p.Statements[0].Conditions
	if len(c) != 2 || c[0].Values[0] != "false" || c[1].Values[0] != "10" {
		t.Fatalf("conditions %+v", c)
	}
}

func TestParseNode(t *testing.T) {
	var doc yaml.Node
	src := "endpoint:\n  policy:\n    Statement:\n      - Effect: Allow\n        Principal: '*'\n        Action: s3:GetObject\n        Resource: bucket\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	pol := doc.Content[0].Content[1].Content[1]
	_, err := ParseNode(pol)
	want := `line 7: Statement[0].Resource: "bucket" is not a resource`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	var es Errors
	if e, ok := err.(Errors); !ok || len(e) != 1 {
		t.Fatalf("error %T %v, want one Errors entry", err, es)
	}
}

// TestParseSize: an endpoint policy has at most 20,480 characters, white
// space included; a YAML policy counts as its compact JSON.
func TestParseSize(t *testing.T) {
	base := policies["classic"]
	pad := func(n int) string { return strings.Replace(base, "{", "{"+strings.Repeat(" ", n), 1) }
	if _, err := Parse([]byte(pad(MaxChars - len(base)))); err != nil {
		t.Fatalf("a policy of %d characters: %v", MaxChars, err)
	}
	_, err := Parse([]byte(pad(MaxChars - len(base) + 1)))
	want := "line 1: the policy is 20481 characters, more than an endpoint policy's 20480 (AWS)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	long := "Statement:\n  - {Effect: Allow, Principal: '*', Action: s3:GetObject, Resource: 'arn:aws:s3:::b/" + strings.Repeat("é", MaxChars) + "'}\n"
	if _, err := Parse([]byte(long)); err == nil || !strings.Contains(err.Error(), "characters as JSON, more than an endpoint policy's 20480 (AWS)") {
		t.Fatalf("a long YAML policy: %v", err)
	}
}

// TestJSONChars: a document's size is that of its compact JSON.
func TestJSONChars(t *testing.T) {
	for name, doc := range policies {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		root, err := parseTree([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := jsonChars(root), utf8.RuneCount(b.Bytes()); got != want {
			t.Errorf("%s: %d characters, compact JSON has %d", name, got, want)
		}
	}
}

// TestParseSystemIDKeys: wildcards and numeric operators stay allowed on
// keys that are not system-generated identifiers, and exact values on
// those that are.
func TestParseSystemIDKeys(t *testing.T) {
	for _, c := range []string{
		`"StringLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app-*"}`,
		`"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/a*"}`,
		`"StringEquals":{"aws:PrincipalAccount":"111122223333","aws:SourceVpc":"vpc-1a2b3c4d"}`,
		`"StringNotEquals":{"aws:SourceVpce":["vpce-1a2b3c4d","vpce-5e6f"]}`,
		`"NumericLessThan":{"s3:max-keys":"10"}`,
		`"Null":{"aws:PrincipalAccount":"true"}`,
	} {
		if _, err := Parse([]byte(cond(c))); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func TestFullAccess(t *testing.T) {
	d, i := FullAccess().Decide(&Request{Action: "s3:DeleteBucket", Resource: "arn:aws:s3:::b"}, GatewayEndpointPolicy)
	if d != Allowed || i != 0 {
		t.Fatalf("%s %d", d, i)
	}
}
