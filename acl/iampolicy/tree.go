package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// nodeKind is the JSON type of a document value.
type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindString
	kindNumber
	kindBool
	kindObject
	kindArray
)

func (k nodeKind) String() string {
	return [...]string{"null", "string", "number", "boolean", "object", "list"}[k]
}

// node is one value of a policy document, JSON or YAML alike, with the line
// it starts on (0 when unknown).
type node struct {
	kind  nodeKind
	text  string   // string, number and boolean values as written
	keys  []string // object keys in document order
	vals  []*node  // object values (by keys) or list items
	line  int
	quote bool // a YAML scalar was quoted (so "true" stays a string)
}

// get returns the value of key in an object, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// scalar reports whether n is a string, number or boolean.
func (n *node) scalar() bool {
	return n.kind == kindString || n.kind == kindNumber || n.kind == kindBool
}

// maxDepth bounds nesting: a policy is never deeper than 5 levels.
const maxDepth = 32

// maxSize bounds the text parsed; MaxChars is the policy language's limit.
const maxSize = 1 << 20

// parseTree reads a JSON document (text starting with '{') or a YAML one.
func parseTree(data []byte) (*node, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("the policy is %d bytes, more than %d", len(data), maxSize)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSON(data)
	}
	return parseYAML(data)
}

// jsonTree builds nodes from a token stream, computing lines from offsets.
type jsonTree struct {
	dec   *json.Decoder
	lines []int // offsets where lines start
}

func parseJSON(data []byte) (*node, error) {
	t := &jsonTree{dec: json.NewDecoder(bytes.NewReader(data)), lines: []int{0}}
	t.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			t.lines = append(t.lines, i+1)
		}
	}
	n, err := t.value(0)
	if err != nil {
		return nil, t.syntax(err)
	}
	if _, err := t.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line %d: text after the policy document", t.line())
	}
	return n, nil
}

// line is the line of the decoder's current offset.
func (t *jsonTree) line() int {
	off := int(t.dec.InputOffset())
	return sort.Search(len(t.lines), func(i int) bool { return t.lines[i] > off })
}

func (t *jsonTree) syntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: invalid JSON: %v", sort.Search(len(t.lines), func(i int) bool { return t.lines[i] > int(se.Offset) }), se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: the document ends early")
	}
	return err
}

func (t *jsonTree) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: the document nests deeper than %d levels", t.line(), maxDepth)
	}
	tok, err := t.dec.Token()
	if err != nil {
		return nil, err
	}
	n := &node{line: t.line()}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return n, t.object(n, depth)
		}
		if v == '[' {
			return n, t.array(n, depth)
		}
		return nil, fmt.Errorf("line %d: unexpected %q", n.line, v)
	case string:
		n.kind, n.text = kindString, v
	case json.Number:
		n.kind, n.text = kindNumber, v.String()
	case bool:
		n.kind, n.text = kindBool, strconv.FormatBool(v)
	case nil:
		n.kind = kindNull
	}
	return n, nil
}

func (t *jsonTree) object(n *node, depth int) error {
	n.kind = kindObject
	for t.dec.More() {
		tok, err := t.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if n.get(key) != nil {
			return fmt.Errorf("line %d: key %q given twice", t.line(), key)
		}
		v, err := t.value(depth + 1)
		if err != nil {
			return err
		}
		n.keys, n.vals = append(n.keys, key), append(n.vals, v)
	}
	_, err := t.dec.Token() // '}'
	return err
}

func (t *jsonTree) array(n *node, depth int) error {
	n.kind = kindArray
	for t.dec.More() {
		v, err := t.value(depth + 1)
		if err != nil {
			return err
		}
		n.vals = append(n.vals, v)
	}
	_, err := t.dec.Token() // ']'
	return err
}

func parseYAML(data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the policy is empty")
	}
	return fromYAML(doc.Content[0], 0)
}

// fromYAML converts a YAML node into the document tree, keeping its lines.
// Scalars keep their text: an unquoted 2012-10-17 stays "2012-10-17".
func fromYAML(y *yaml.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: the document nests deeper than %d levels", y.Line, maxDepth)
	}
	if y.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: YAML aliases are not supported in policies; write the value out", y.Line)
	}
	n := &node{line: y.Line}
	switch y.Kind {
	case yaml.MappingNode:
		n.kind = kindObject
		for i := 0; i+1 < len(y.Content); i += 2 {
			k := y.Content[i]
			if n.get(k.Value) != nil {
				return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
			}
			v, err := fromYAML(y.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			n.keys, n.vals = append(n.keys, k.Value), append(n.vals, v)
		}
	case yaml.SequenceNode:
		n.kind = kindArray
		for _, c := range y.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
	case yaml.ScalarNode:
		n.text, n.quote = y.Value, y.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0
		n.kind = scalarKind(y)
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", y.Line)
	}
	return n, nil
}

func scalarKind(y *yaml.Node) nodeKind {
	switch y.ShortTag() {
	case "!!null":
		return kindNull
	case "!!bool":
		return kindBool
	case "!!int", "!!float":
		return kindNumber
	}
	return kindString
}

// jsonChars is the length in characters of n written as compact JSON.
func jsonChars(n *node) int {
	switch n.kind {
	case kindNull:
		return len("null")
	case kindString:
		return quotedChars(n.text)
	case kindNumber, kindBool:
		return utf8.RuneCountInString(n.text)
	}
	size := 2 + max(len(n.vals)-1, 0) // brackets and commas
	for i, v := range n.vals {
		size += jsonChars(v)
		if n.kind == kindObject {
			size += quotedChars(n.keys[i]) + 1 // "key":
		}
	}
	return size
}

func quotedChars(s string) int {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return utf8.RuneCount(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
