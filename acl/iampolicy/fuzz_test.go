package iampolicy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPolicyParse: any input parses or fails with located errors, never
// panics; a parsed policy is complete and decides requests consistently.
func FuzzPolicyParse(f *testing.F) {
	for _, p := range policies {
		f.Add([]byte(p))
	}
	f.Add([]byte("Statement:\n  Effect: Deny\n  Principal: '*'\n  Action: '*'\n  NotResource: arn:aws:s3:::b\n"))
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"ForAllValues:NumericLessThanIfExists":{"k":[1,2.5]}}}}`))
	reqs := []*Request{
		{Action: "s3:GetObject", Resource: obj, Context: ctx("aws:SourceVpce=vpce-1a2b3c4d", "aws:VpcSourceIp=10.0.1.5")},
		{Principal: alice, Action: "s3:ListAllMyBuckets", Resource: "arn:aws:s3:::*", Context: ctx("aws:PrincipalAccount=111122223333")},
		{Principal: root, Action: "ec2:RunInstances", Resource: "*", Context: Context{}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			es, ok := err.(Errors)
			if !ok || len(es) == 0 || es[0].Msg == "" {
				t.Fatalf("error %T %v: want a non-empty Errors", err, err)
			}
			return
		}
		if len(p.Statements) == 0 {
			t.Fatal("a parsed policy without statements")
		}
		for i, st := range p.Statements {
			if st.Effect != Allow && st.Effect != Deny || len(st.Action.Patterns) == 0 || len(st.Resource.Patterns) == 0 || st.Principal == nil {
				t.Fatalf("statement %d incomplete: %+v", i, st)
			}
		}
		for _, r := range reqs {
			for _, k := range []Kind{GatewayEndpointPolicy, ResourcePolicy, InterfaceEndpointPolicy} {
				res := p.Evaluate(r, k)
				d, i := p.Decide(r, k)
				if d != res.Decision || i != res.Statement || len(res.Statements) != len(p.Statements) {
					t.Fatalf("Decide %s %d, Evaluate %s %d", d, i, res.Decision, res.Statement)
				}
				if (d == ImplicitDeny) != (i < 0) {
					t.Fatalf("decision %s with statement %d", d, i)
				}
			}
		}
	})
}

// FuzzGlob checks globMatch against a regular expression built from the
// pattern.
func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("arn:aws:s3:::b/*", "arn:aws:s3:::b/k")
	f.Add("*?*", "é")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)^`)
		for _, r := range pattern {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString("$")
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := globMatch(pattern, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}
