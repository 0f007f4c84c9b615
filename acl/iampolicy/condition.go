package iampolicy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// setQualifier is a condition's ForAnyValue:/ForAllValues: prefix.
type setQualifier uint8

const (
	single setQualifier = iota
	forAnyValue
	forAllValues
)

// Condition is one key of one condition operator block.
type Condition struct {
	// Operator is the operator as written (ForAnyValue:StringLikeIfExists).
	Operator string
	// Key is the condition key as written (keys are case-insensitive).
	Key    string
	Values []string

	op       *operator
	set      setQualifier
	ifExists bool
	key      string // lower case
	nets     []netip.Prefix
	nums     []float64
	times    []time.Time
}

// operator is a base condition operator. match compares one request value
// with the condition's value i in the positive sense; negated operators
// (StringNotEquals, NotIpAddress, ...) hold when no value matches.
type operator struct {
	name    string
	negated bool
	kind    valueKind
	match   func(c *Condition, v string, i int) bool
}

// valueKind says how an operator's values are parsed.
type valueKind uint8

const (
	valString valueKind = iota
	valNumber
	valDate
	valIP
	valBool
	valBinary
	valNull
)

var operators = map[string]*operator{}

func init() {
	add := func(name string, kind valueKind, m func(c *Condition, v string, i int) bool, negName string) {
		operators[name] = &operator{name: name, kind: kind, match: m}
		if negName != "" {
			operators[negName] = &operator{name: negName, kind: kind, match: m, negated: true}
		}
	}
	add("StringEquals", valString, func(c *Condition, v string, i int) bool { return v == c.Values[i] }, "StringNotEquals")
	add("StringEqualsIgnoreCase", valString, func(c *Condition, v string, i int) bool { return strings.EqualFold(v, c.Values[i]) }, "StringNotEqualsIgnoreCase")
	add("StringLike", valString, func(c *Condition, v string, i int) bool { return globMatch(c.Values[i], v) }, "StringNotLike")
	arn := func(c *Condition, v string, i int) bool { return arnLike(c.Values[i], v) }
	add("ArnEquals", valString, arn, "ArnNotEquals")
	add("ArnLike", valString, arn, "ArnNotLike")
	add("IpAddress", valIP, matchIP, "NotIpAddress")
	add("Bool", valBool, func(c *Condition, v string, i int) bool { return strings.EqualFold(v, c.Values[i]) }, "")
	add("BinaryEquals", valBinary, matchBinary, "")
	add("Null", valNull, nil, "")
	add("NumericEquals", valNumber, numeric(func(a, b float64) bool { return a == b }), "NumericNotEquals")
	add("NumericLessThan", valNumber, numeric(func(a, b float64) bool { return a < b }), "")
	add("NumericLessThanEquals", valNumber, numeric(func(a, b float64) bool { return a <= b }), "")
	add("NumericGreaterThan", valNumber, numeric(func(a, b float64) bool { return a > b }), "")
	add("NumericGreaterThanEquals", valNumber, numeric(func(a, b float64) bool { return a >= b }), "")
	add("DateEquals", valDate, date(func(a, b time.Time) bool { return a.Equal(b) }), "DateNotEquals")
	add("DateLessThan", valDate, date(func(a, b time.Time) bool { return a.Before(b) }), "")
	add("DateLessThanEquals", valDate, date(func(a, b time.Time) bool { return !a.After(b) }), "")
	add("DateGreaterThan", valDate, date(func(a, b time.Time) bool { return a.After(b) }), "")
	add("DateGreaterThanEquals", valDate, date(func(a, b time.Time) bool { return !a.Before(b) }), "")
}

func matchIP(c *Condition, v string, i int) bool {
	a, err := netip.ParseAddr(v)
	return err == nil && c.nets[i].Contains(a.Unmap())
}

func matchBinary(c *Condition, v string, i int) bool {
	want, err1 := base64.StdEncoding.DecodeString(c.Values[i])
	got, err2 := base64.StdEncoding.DecodeString(v)
	return err1 == nil && err2 == nil && bytes.Equal(want, got)
}

func numeric(cmp func(a, b float64) bool) func(c *Condition, v string, i int) bool {
	return func(c *Condition, v string, i int) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && cmp(f, c.nums[i])
	}
}

func date(cmp func(a, b time.Time) bool) func(c *Condition, v string, i int) bool {
	return func(c *Condition, v string, i int) bool {
		t, ok := parseDate(v)
		return ok && cmp(t, c.times[i])
	}
}

// parseDate reads an ISO 8601 date or time, or epoch seconds.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// parseOperator splits ForAnyValue:StringLikeIfExists into its parts.
func parseOperator(name string) (*operator, setQualifier, bool, string) {
	set, base := single, name
	if q, rest, ok := strings.Cut(name, ":"); ok {
		switch q {
		case "ForAnyValue":
			set = forAnyValue
		case "ForAllValues":
			set = forAllValues
		default:
			return nil, 0, false, fmt.Sprintf("unknown set qualifier %q (use ForAnyValue: or ForAllValues:)", q)
		}
		base = rest
	}
	ifExists := false
	if b, ok := strings.CutSuffix(base, "IfExists"); ok && b != "Null" {
		base, ifExists = b, true
	}
	op := operators[base]
	if op == nil {
		for n := range operators {
			if strings.EqualFold(n, base) {
				return nil, 0, false, fmt.Sprintf("unknown condition operator %q (operators are case-sensitive: did you mean %q?)", base, n)
			}
		}
		return nil, 0, false, fmt.Sprintf("unknown condition operator %q", base)
	}
	if op.kind == valNull && (ifExists || set != single) {
		return nil, 0, false, "Null takes neither IfExists nor a set qualifier"
	}
	return op, set, ifExists, ""
}

// conditions reads a Condition element: {operator: {key: value(s)}}.
func (p *parser) conditions(n *node, path string) []Condition {
	if n.kind != kindObject {
		p.errorf(n, path, "expected an object of condition operators, got a %s", n.kind)
		return nil
	}
	var out []Condition
	for i, name := range n.keys {
		block, bp := n.vals[i], path+"."+name
		op, set, ifExists, msg := parseOperator(name)
		if msg != "" {
			p.errorf(block, bp, "%s", msg)
			continue
		}
		if block.kind != kindObject || len(block.keys) == 0 {
			p.errorf(block, bp, "expected an object of condition keys and values, e.g. {\"aws:SourceVpce\": \"vpce-...\"}")
			continue
		}
		for j, key := range block.keys {
			c := Condition{Operator: name, Key: key, op: op, set: set, ifExists: ifExists, key: strings.ToLower(key)}
			c.Values = p.strs(block.vals[j], bp+"."+key, noCheck)
			p.conditionValues(block.vals[j], bp+"."+key, &c)
			p.systemIDKey(block.vals[j], bp+"."+key, &c)
			out = append(out, c)
		}
	}
	return out
}

// conditionValues parses the values an operator compares with.
func (p *parser) conditionValues(n *node, path string, c *Condition) {
	for _, v := range c.Values {
		switch c.op.kind {
		case valIP:
			pf, err := parsePrefix(v)
			if err != nil {
				p.errorf(n, path, "%q is not an IP address or CIDR", v)
			}
			c.nets = append(c.nets, pf)
		case valNumber:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				p.errorf(n, path, "%q is not a number", v)
			}
			c.nums = append(c.nums, f)
		case valDate:
			t, ok := parseDate(v)
			if !ok {
				p.errorf(n, path, "%q is not a date (ISO 8601, e.g. 2026-01-31T00:00:00Z, or epoch seconds)", v)
			}
			c.times = append(c.times, t)
		case valBool, valNull:
			if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				p.errorf(n, path, "%s takes \"true\" or \"false\", got %q", c.op.name, v)
			}
		case valBinary:
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				p.errorf(n, path, "%q is not base64", v)
			}
		}
	}
}

// systemIDKeys are the global condition keys whose values are identifiers
// AWS generates (lower case). AWS refuses an endpoint policy that uses
// wildcards or numeric operators with them (vpc-endpoints-access.html,
// "Considerations", naming aws:PrincipalAccount and aws:SourceVpc).
var systemIDKeys = map[string]bool{
	"aws:principalaccount": true, "aws:principalorgid": true, "aws:resourceaccount": true,
	"aws:resourceorgid": true, "aws:sourceaccount": true, "aws:sourceorgid": true,
	"aws:sourcevpc": true, "aws:sourcevpce": true, "aws:vpceaccount": true, "aws:vpceorgid": true,
}

// systemIDKey refuses what AWS refuses on a system-generated identifier:
// a numeric operator, or a value with a wildcard (* or ?).
func (p *parser) systemIDKey(n *node, path string, c *Condition) {
	if !systemIDKeys[c.key] {
		return
	}
	if c.op.kind == valNumber {
		p.errorf(n, path, "%s holds a system-generated identifier: numeric operators cannot be used with it in an endpoint policy (AWS); use StringEquals", c.Key)
		return
	}
	for _, v := range c.Values {
		if strings.ContainsAny(v, "*?") {
			p.errorf(n, path, "%s holds a system-generated identifier: wildcards (* or ?) cannot be used with it in an endpoint policy (AWS), got %q; list the exact values with StringEquals", c.Key, v)
			return
		}
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		return pf.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// holds decides the condition for the request context.
func (c *Condition) holds(ctx Context) bool {
	vals, present := ctx[c.key]
	present = present && len(vals) > 0
	if c.op.kind == valNull {
		for _, v := range c.Values {
			if strings.EqualFold(v, "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.ifExists, c.set == forAllValues:
			return true
		case c.set == forAnyValue:
			return false
		}
		return c.op.negated
	}
	switch c.set {
	case forAnyValue:
		for _, v := range vals {
			if c.check(v) {
				return true
			}
		}
		return false
	case forAllValues:
		for _, v := range vals {
			if !c.check(v) {
				return false
			}
		}
		return true
	}
	pos := false
	for _, v := range vals {
		pos = pos || c.positive(v)
	}
	return pos != c.op.negated
}

// positive reports whether request value v matches one of the values.
func (c *Condition) positive(v string) bool {
	for i := range c.Values {
		if c.op.match(c, v, i) {
			return true
		}
	}
	return false
}

// check is the operator (negated or not) on one request value.
func (c *Condition) check(v string) bool { return c.positive(v) != c.op.negated }

// String writes the condition as a policy shows it.
func (c *Condition) String() string {
	return fmt.Sprintf("%s %s %s", c.Operator, c.Key, formatValues(c.Values))
}

func formatValues(vs []string) string {
	if len(vs) == 1 {
		return strconv.Quote(vs[0])
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
