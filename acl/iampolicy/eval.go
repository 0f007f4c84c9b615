package iampolicy

import (
	"fmt"
	"strings"
)

// Kind is the kind of policy, which decides what an account principal means.
type Kind uint8

const (
	// EndpointPolicy: a VPC endpoint policy, where an account principal
	// (111122223333 or arn:aws:iam::111122223333:root) means that
	// account's root user only (as AWS documents for endpoint policies).
	EndpointPolicy Kind = iota
	// ResourcePolicy: a resource-based policy (a bucket policy), where an
	// account principal means every principal of the account.
	ResourcePolicy
)

// Context holds a request's condition keys; keys are case-insensitive
// (stored in lower case), each with one or more values.
type Context map[string][]string

// Set sets a key's values.
func (c Context) Set(key string, values ...string) { c[strings.ToLower(key)] = values }

// Get returns a key's values.
func (c Context) Get(key string) ([]string, bool) {
	v, ok := c[strings.ToLower(key)]
	return v, ok
}

// Request is what a policy decides: who (Principal: an IAM ARN, "" for an
// anonymous request) does what (Action, e.g. s3:GetObject) on what
// (Resource, an ARN), in which context (condition keys).
type Request struct {
	Principal string
	Action    string
	Resource  string
	Context   Context
}

// Anonymous is how results name a request without a principal.
const Anonymous = "anonymous"

// Decision is a policy's answer.
type Decision uint8

// The decisions, in IAM's order of precedence (ExplicitDeny wins).
const (
	ImplicitDeny Decision = iota // no statement allows (and none denies)
	Allowed                      // a statement allows, none denies
	ExplicitDeny                 // a Deny statement applies
)

var decisionNames = [...]string{"implicit_deny", "allow", "explicit_deny"}

// String is the decision label of privlink_policy_decisions_total.
func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "decision(?)"
}

// MarshalText writes the decision name.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Result is a decision with the statement that made it and, for explain,
// why each statement did or did not apply.
type Result struct {
	Decision Decision `json:"decision"`
	// Statement is the index of the deciding statement: the first Deny
	// that applies, else the first Allow that applies; -1 for an implicit
	// deny.
	Statement  int               `json:"statement"`
	Sid        string            `json:"sid,omitempty"`
	Statements []StatementResult `json:"statements"`
}

// StatementResult is one statement's verdict on a request.
type StatementResult struct {
	Index   int    `json:"index"`
	Sid     string `json:"sid,omitempty"`
	Effect  Effect `json:"effect"`
	Applies bool   `json:"applies"`
	// Reason is why the statement does not apply (the first element that
	// fails), or "applies".
	Reason string `json:"reason"`
	Line   int    `json:"line,omitempty"`
}

// Decide evaluates r without recording why: the decision and the deciding
// statement's index (-1 for an implicit deny).
func (p *Policy) Decide(r *Request, k Kind) (Decision, int) {
	allow := -1
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.why(r, k) != "" {
			continue
		}
		if st.Effect == Deny {
			return ExplicitDeny, i
		}
		if allow < 0 {
			allow = i
		}
	}
	if allow >= 0 {
		return Allowed, allow
	}
	return ImplicitDeny, -1
}

// Evaluate decides r and explains every statement's part in it.
func (p *Policy) Evaluate(r *Request, k Kind) Result {
	res := Result{Statement: -1, Statements: make([]StatementResult, 0, len(p.Statements))}
	res.Decision, res.Statement = p.Decide(r, k)
	if res.Statement >= 0 {
		res.Sid = p.Statements[res.Statement].Sid
	}
	for i := range p.Statements {
		st := &p.Statements[i]
		sr := StatementResult{Index: i, Sid: st.Sid, Effect: st.Effect, Reason: st.why(r, k), Line: st.Line}
		if sr.Reason == "" {
			sr.Applies, sr.Reason = true, "applies"
		}
		res.Statements = append(res.Statements, sr)
	}
	return res
}

// why returns why the statement does not apply to r, or "" when it does.
func (st *Statement) why(r *Request, k Kind) string {
	if st.Principal != nil && !st.Principal.matches(r.Principal, k) {
		return fmt.Sprintf("principal %s is not matched by %s", principalName(r.Principal), st.Principal)
	}
	if matchAction(st.Action.Patterns, r.Action) == st.Action.Not {
		return listMiss("Action", st.Action, r.Action)
	}
	if matchAny(st.Resource.Patterns, r.Resource) == st.Resource.Not {
		return listMiss("Resource", st.Resource, r.Resource)
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if !c.holds(r.Context) {
			got := "absent from the request"
			if v, ok := r.Context[c.key]; ok && len(v) > 0 {
				got = "the request has " + formatValues(v)
			}
			return fmt.Sprintf("condition %s does not hold: %s", c, got)
		}
	}
	return ""
}

func listMiss(elem string, l List, value string) string {
	if l.Not {
		return fmt.Sprintf("%s is excluded by Not%s %s", value, elem, formatValues(l.Patterns))
	}
	return fmt.Sprintf("%s is not in %s %s", value, elem, formatValues(l.Patterns))
}

func principalName(arn string) string {
	if arn == "" {
		return Anonymous
	}
	return arn
}

// matches reports whether the element covers principal (an ARN, "" for
// anonymous).
func (p *Principal) matches(principal string, k Kind) bool {
	return p.listed(principal, k) != p.Not
}

func (p *Principal) listed(principal string, k Kind) bool {
	if p.Any {
		return true
	}
	if principal == "" {
		return false
	}
	acct, role := AccountOf(principal), sessionRole(principal)
	for _, a := range p.AWS {
		if len(a) == 12 && !strings.HasPrefix(a, "arn:") {
			a = "arn:aws:iam::" + a + ":root"
		}
		if a == principal || a == role {
			return true
		}
		if k == ResourcePolicy && strings.HasSuffix(a, ":root") && AccountOf(a) == acct && acct != "" {
			return true
		}
	}
	return false
}

// String writes the element as a policy shows it.
func (p *Principal) String() string {
	name := "Principal"
	if p.Not {
		name = "NotPrincipal"
	}
	if p.Any && len(p.AWS) == 0 {
		return name + ` "*"`
	}
	return fmt.Sprintf(`%s {"AWS": %s}`, name, formatValues(p.AWS))
}

// sessionRole returns the role ARN of an assumed-role session ARN
// (arn:aws:sts::ACCT:assumed-role/ROLE/SESSION → arn:aws:iam::ACCT:role/ROLE):
// a role principal covers its sessions. "" for other ARNs.
func sessionRole(arn string) string {
	acct := AccountOf(arn)
	_, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok || acct == "" {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return "arn:aws:iam::" + acct + ":role/" + name
}

// AccountOf returns the account ID of an IAM or STS ARN ("" if none).
func AccountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}
