package iampolicy

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Effect is a statement's Effect.
type Effect uint8

// The two effects.
const (
	Allow Effect = iota + 1
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "-"
}

// MarshalText writes "Allow" or "Deny".
func (e Effect) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// Policy is a parsed, validated policy document.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid    string
	Effect Effect
	// Principal is the Principal or NotPrincipal element, which an
	// endpoint policy's statements must have (Parse refuses a statement
	// without); nil in a Policy built by hand means every principal.
	Principal *Principal
	// Action and Resource are Action/NotAction and Resource/NotResource.
	Action, Resource List
	// Conditions are ANDed: every one must hold.
	Conditions []Condition
	// Line is where the statement starts in its document (0: unknown).
	Line int
}

// Name describes the statement for people: its Sid, or its index.
func (s *Statement) Name(index int) string {
	if s.Sid != "" {
		return fmt.Sprintf("Statement[%d] (Sid %q)", index, s.Sid)
	}
	return fmt.Sprintf("Statement[%d]", index)
}

// Principal is a Principal or NotPrincipal element.
type Principal struct {
	Not bool // NotPrincipal
	// Any is "*" (or {"AWS": "*"}): every principal, anonymous included.
	Any bool
	// AWS lists account IDs and IAM ARNs; Other holds the other types
	// (Service, Federated, CanonicalUser), which no privlink request carries.
	AWS   []string
	Other map[string][]string
}

// List is an Action/NotAction or Resource/NotResource element.
type List struct {
	Not      bool // NotAction, NotResource
	Patterns []string
}

// Error is one problem of a policy document: where (the line when the
// text has lines, and the element's path) and what.
type Error struct {
	Line int
	Path string // e.g. Statement[1].Condition.IpAddress
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one document.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// MaxChars is the size limit of an endpoint policy: 20,480 characters,
// white space included (AWS, vpc-endpoints-access.html). A policy
// written as YAML is measured as compact JSON, the document AWS would get.
const MaxChars = 20480

// Parse reads a policy written as JSON (text starting with '{') or YAML and
// validates it. The error is an Errors with every problem found.
func Parse(data []byte) (*Policy, error) {
	root, err := parseTree(data)
	if err != nil {
		return nil, Errors{{Msg: err.Error()}}
	}
	size := -1
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		size = utf8.RuneCount(data)
	}
	return decode(root, size)
}

// ParseNode reads a policy written as YAML inside another YAML document
// (privlink's configuration): lines are those of the enclosing document.
func ParseNode(y *yaml.Node) (*Policy, error) {
	root, err := fromYAML(y, 0)
	if err != nil {
		return nil, Errors{{Line: y.Line, Msg: err.Error()}}
	}
	return decode(root, -1)
}

// FullAccess is AWS's default endpoint policy: Allow * on * for *.
func FullAccess() *Policy {
	return &Policy{Version: "2008-10-17", Statements: []Statement{{
		Effect: Allow, Principal: &Principal{Any: true},
		Action: List{Patterns: []string{"*"}}, Resource: List{Patterns: []string{"*"}},
	}}}
}

// parser decodes the document tree and collects every problem.
type parser struct{ errs Errors }

func (p *parser) errorf(n *node, path, format string, args ...any) {
	p.errs = append(p.errs, Error{Line: n.line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode validates the document root of size characters (-1: measure it
// as compact JSON).
func decode(root *node, size int) (*Policy, error) {
	p := &parser{}
	as := ""
	if size < 0 {
		size, as = jsonChars(root), " as JSON"
	}
	if size > MaxChars {
		p.errorf(root, "", "the policy is %d characters%s, more than an endpoint policy's %d (AWS)", size, as, MaxChars)
	}
	pol := p.policy(root)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return pol, nil
}

func (p *parser) policy(n *node) *Policy {
	pol := &Policy{}
	if n.kind != kindObject {
		p.errorf(n, "", "a policy is an object with Version and Statement, got a %s", n.kind)
		return pol
	}
	for i, k := range n.keys {
		v := n.vals[i]
		switch k {
		case "Version":
			pol.Version = p.str(v, k)
			if pol.Version != "2012-10-17" && pol.Version != "2008-10-17" && v.scalar() {
				p.errorf(v, k, "%q is not a policy language version (use \"2012-10-17\")", pol.Version)
			}
		case "Id":
			pol.ID = p.str(v, k)
		case "Statement":
			pol.Statements = p.statements(v)
		default:
			p.errorf(v, k, "unknown policy element%s (elements: Version, Id, Statement)", hint(k, "Version", "Id", "Statement"))
		}
	}
	if n.get("Statement") == nil {
		p.errorf(n, "Statement", "is required: a list of statements")
	}
	return pol
}

func (p *parser) statements(n *node) []Statement {
	switch n.kind {
	case kindObject:
		return []Statement{p.statement(n, "Statement")}
	case kindArray:
		out := make([]Statement, 0, len(n.vals))
		for i, v := range n.vals {
			out = append(out, p.statement(v, fmt.Sprintf("Statement[%d]", i)))
		}
		if len(out) == 0 {
			p.errorf(n, "Statement", "is empty: a policy needs at least one statement")
		}
		return out
	}
	p.errorf(n, "Statement", "expected a statement object or a list of them, got a %s", n.kind)
	return nil
}

var statementKeys = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
	"Resource", "NotResource", "Condition"}

func (p *parser) statement(n *node, path string) Statement {
	st := Statement{Line: n.line}
	if n.kind != kindObject {
		p.errorf(n, path, "expected a statement object, got a %s", n.kind)
		return st
	}
	for i, k := range n.keys {
		v, kp := n.vals[i], path+"."+k
		switch k {
		case "Sid":
			st.Sid = p.str(v, kp)
		case "Effect":
			st.Effect = p.effect(v, kp)
		case "Principal", "NotPrincipal":
			st.Principal = p.principal(v, kp, k == "NotPrincipal")
		case "Action", "NotAction":
			st.Action = List{Not: k == "NotAction", Patterns: p.strs(v, kp, checkAction)}
		case "Resource", "NotResource":
			st.Resource = List{Not: k == "NotResource", Patterns: p.strs(v, kp, checkResource)}
		case "Condition":
			st.Conditions = p.conditions(v, kp)
		default:
			p.errorf(v, kp, "unknown statement element%s", hint(k, statementKeys...))
		}
	}
	p.exactlyOne(n, path, "Effect", "")
	p.exactlyOne(n, path, "Action", "NotAction")
	p.exactlyOne(n, path, "Resource", "NotResource")
	switch hasP, hasNot := n.get("Principal") != nil, n.get("NotPrincipal") != nil; {
	case hasP && hasNot:
		p.errorf(n, path, "give either Principal or NotPrincipal, not both")
	case !hasP && !hasNot:
		p.errorf(n, path+".Principal", `is required: an endpoint policy must contain a Principal element (AWS); write Principal: "*" and name principals with the aws:PrincipalArn condition key`)
	}
	return st
}

// exactlyOne checks that a statement has key or its Not form, but not both.
func (p *parser) exactlyOne(n *node, path, key, notKey string) {
	has, hasNot := n.get(key) != nil, notKey != "" && n.get(notKey) != nil
	switch {
	case has && hasNot:
		p.errorf(n, path, "give either %s or %s, not both", key, notKey)
	case !has && !hasNot && notKey == "":
		p.errorf(n, path+"."+key, "is required (\"Allow\" or \"Deny\")")
	case !has && !hasNot:
		p.errorf(n, path+"."+key, "is required (or %s)", notKey)
	}
}

func (p *parser) effect(n *node, path string) Effect {
	switch s := p.str(n, path); s {
	case "Allow":
		return Allow
	case "Deny":
		return Deny
	default:
		if n.scalar() {
			p.errorf(n, path, "must be \"Allow\" or \"Deny\", got %q", s)
		}
	}
	return 0
}

// str reads a scalar as a string (numbers and booleans keep their text).
func (p *parser) str(n *node, path string) string {
	switch n.kind {
	case kindString, kindNumber, kindBool:
		return n.text
	}
	p.errorf(n, path, "expected a string, got a %s", n.kind)
	return ""
}

// strs reads a string or a list of strings, checking each with check.
func (p *parser) strs(n *node, path string, check func(string) string) []string {
	items := []*node{n}
	if n.kind == kindArray {
		items = n.vals
		if len(items) == 0 {
			p.errorf(n, path, "is an empty list")
		}
	}
	out := make([]string, 0, len(items))
	for i, v := range items {
		ip := path
		if n.kind == kindArray {
			ip = fmt.Sprintf("%s[%d]", path, i)
		}
		s := p.str(v, ip)
		if msg := check(s); msg != "" && v.scalar() {
			p.errorf(v, ip, "%s", msg)
		}
		out = append(out, s)
	}
	return out
}

var actionRE = regexp.MustCompile(`^[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+$`)

func checkAction(s string) string {
	if s == "*" || actionRE.MatchString(s) {
		return ""
	}
	return fmt.Sprintf("%q is not an action: write service:Action, e.g. s3:GetObject (wildcards * and ? allowed)", s)
}

func checkResource(s string) string {
	if s == "*" || strings.HasPrefix(s, "arn:") && strings.Count(s, ":") >= 5 {
		return ""
	}
	return fmt.Sprintf("%q is not a resource: write * or an ARN, e.g. arn:aws:s3:::my-bucket/*", s)
}

func noCheck(string) string { return "" }

var principalKeys = []string{"AWS", "Service", "Federated", "CanonicalUser"}

func (p *parser) principal(n *node, path string, not bool) *Principal {
	pr := &Principal{Not: not}
	if n.kind == kindString {
		if n.text != "*" {
			p.errorf(n, path, "a principal string must be \"*\"; write {\"AWS\": %q} for an account or ARN", n.text)
		}
		pr.Any = true
		return pr
	}
	if n.kind != kindObject {
		p.errorf(n, path, "expected \"*\" or an object such as {\"AWS\": \"arn:aws:iam::111122223333:root\"}, got a %s", n.kind)
		return pr
	}
	for i, k := range n.keys {
		v, kp := n.vals[i], path+"."+k
		switch k {
		case "AWS":
			for _, a := range p.strs(v, kp, checkAWSPrincipal) {
				if a == "*" {
					pr.Any = true
				}
				pr.AWS = append(pr.AWS, a)
			}
		case "Service", "Federated", "CanonicalUser":
			if pr.Other == nil {
				pr.Other = map[string][]string{}
			}
			pr.Other[k] = p.strs(v, kp, noCheck)
		default:
			p.errorf(v, kp, "unknown principal type%s", hint(k, principalKeys...))
		}
	}
	return pr
}

var awsPrincipalRE = regexp.MustCompile(`^(\*|[0-9]{12}|arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+)$`)

func checkAWSPrincipal(s string) string {
	if awsPrincipalRE.MatchString(s) {
		return ""
	}
	return fmt.Sprintf("%q is not an AWS principal: write *, a 12-digit account ID or an IAM ARN (arn:aws:iam::111122223333:user/NAME)", s)
}

// hint suggests the known name closest to a misspelt one.
func hint(got string, known ...string) string {
	for _, k := range known {
		if strings.EqualFold(k, got) {
			return fmt.Sprintf(" %q (names are case-sensitive: did you mean %q?)", got, k)
		}
	}
	return fmt.Sprintf(" %q", got)
}
