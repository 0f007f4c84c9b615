package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder maps a YAML node tree onto typed structs strictly: unknown and
// repeated keys are errors, every error names its line and key path, and the
// line of every path is remembered for the validator.
type decoder struct {
	file  string
	lines map[string]int
	errs  Errors
	// guessed are the key paths unknown keys were probably meant as (the
	// "did you mean" of each): their values are unknown, not missing.
	guessed []string
}

// defaulter is implemented by structs that fill AWS defaults before their
// keys are decoded, so an omitted key keeps its default.
type defaulter interface{ setDefaults() }

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		d.text(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		if n.Value != "true" && n.Value != "false" {
			d.errorf(n, path, "expected true or false, got %q", n.Value)
			return
		}
		v.SetBool(n.Value == "true")
	case reflect.Int, reflect.Int64:
		if !d.scalar(n, path, "an integer") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			d.errorf(n, path, "expected an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint16:
		if !d.scalar(n, path, "a port number") {
			return
		}
		i, err := strconv.ParseUint(n.Value, 10, 64)
		if err != nil || i < 1 || i > 65535 {
			d.errorf(n, path, "port %q is out of range 1-65535", n.Value)
			return
		}
		v.SetUint(i)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

// scalar checks that n is a scalar; want describes the expected value.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got a %s", want, kindName(n))
		return false
	}
	return true
}

func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) {
	if !d.scalar(n, path, "a value") {
		return
	}
	if n.Tag == "!!null" {
		return
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
		d.errorf(n, path, "%s", friendlyTextError(v.Type(), n.Value, err))
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got a %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elem := s.Index(i)
		if df, ok := elem.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(item, elem, path+"["+strconv.Itoa(i)+"]")
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of keys, got a %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		kp := join(path, key.Value)
		idx, ok := fields[key.Value]
		switch {
		case key.Value == "<<":
			d.errorf(key, kp, "YAML merge keys are not supported; write the keys out")
			continue
		case !ok:
			best := closest(key.Value, fields)
			d.errorf(key, kp, "unknown key%s", didYouMean(best))
			if best != "" {
				d.guessed = append(d.guessed, join(path, best))
			}
			continue
		case seen[key.Value]:
			d.errorf(key, kp, "key given twice")
			continue
		}
		seen[key.Value] = true
		d.lines[kp] = key.Line
		d.decode(val, v.Field(idx), kp)
	}
}

// yamlFields maps yaml key names to field indexes of struct type t.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = i
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar " + strconv.Quote(n.Value)
	}
	return "node"
}

// closest returns the known key nearest to key (at most two edits), or "".
func closest(key string, fields map[string]int) string {
	best, bestD := "", 3
	for name := range fields {
		if dist := editDistance(key, name); dist < bestD || dist == bestD && name < best {
			best, bestD = name, dist
		}
	}
	return best
}

// didYouMean returns ` (did you mean "x"?)`, or "" without a guess.
func didYouMean(best string) string {
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// friendlyTextError rewrites the standard library's parse errors for
// addresses and prefixes into advice.
func friendlyTextError(t reflect.Type, s string, err error) string {
	switch t.String() {
	case "netip.Prefix":
		if !strings.Contains(s, "/") {
			return fmt.Sprintf("invalid CIDR %q: missing prefix length (write %s/32 for one address)", s, s)
		}
		return fmt.Sprintf("invalid CIDR %q", s)
	case "netip.Addr":
		return fmt.Sprintf("invalid IP address %q", s)
	}
	return err.Error()
}
