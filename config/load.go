package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EmbeddedName is the Source of the embedded default topology.
const EmbeddedName = "<embedded default>"

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default topology's YAML text.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default topology, parsed and validated.
func Default() *Config {
	c, err := Parse(EmbeddedName, defaultYAML)
	if err != nil {
		panic("config: embedded default is invalid: " + err.Error())
	}
	return c
}

// Override sets one scalar key from outside the file (an environment
// variable or a command-line flag); Source names it in errors.
type Override struct {
	Key    string // dotted key, e.g. admin.listen
	Value  string
	Source string // e.g. "env PRIVLINK_ADMIN_LISTEN" or "flag --admin"
}

// Load reads the file at path (the embedded default when path is ""),
// applies overrides, defaults and validation. The error is an Errors listing
// every problem.
func Load(path string, overrides ...Override) (*Config, error) {
	name, data := EmbeddedName, defaultYAML
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		name, data = path, b
	}
	return parse(name, data, overrides)
}

// LoadData is Load for a configuration held in memory, named name in
// errors (e.g. the embedded default, rewritten).
func LoadData(name string, data []byte, overrides ...Override) (*Config, error) {
	return parse(name, data, overrides)
}

// Parse decodes and validates a configuration held in memory; name is used
// in error messages in place of a file name.
func Parse(name string, data []byte) (*Config, error) { return parse(name, data, nil) }

func parse(name string, data []byte, overrides []Override) (*Config, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	c := &Config{Source: name}
	c.setDefaults()
	d := &decoder{file: name, lines: map[string]int{}}
	d.decode(root, reflect.ValueOf(c).Elem(), "")
	for _, o := range overrides {
		d.override(reflect.ValueOf(c).Elem(), o)
	}
	c.lines = d.lines
	// Validate even when decoding failed, so every problem of the file is
	// reported at once; the validator keeps quiet about what did not decode.
	v := &validator{c: c, unknown: unknownPaths(d)}
	v.run()
	c.Warnings = v.warns
	if errs := slices.Concat(d.errs, v.errs); len(errs) > 0 {
		sortErrors(errs, name)
		return nil, errs
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Msg: "the configuration is empty"}}
		}
		e := Error{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "YAML syntax: " + m[2]
		}
		return nil, Errors{e}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document; privlink reads one"}}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: name, Msg: "the configuration is empty"}}
	}
	return doc.Content[0], nil
}

// override decodes o.Value into the field named by o.Key.
func (d *decoder) override(root reflect.Value, o Override) {
	v := root
	for _, part := range strings.Split(o.Key, ".") {
		idx, ok := yamlFields(v.Type())[part]
		if v.Kind() != reflect.Struct || !ok {
			d.errs = append(d.errs, Error{File: o.Source, Path: o.Key, Msg: "not a configuration key that can be overridden"})
			return
		}
		v = v.Field(idx)
	}
	sub := &decoder{file: o.Source, lines: map[string]int{}}
	sub.decode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: o.Value}, v, o.Key)
	for _, e := range sub.errs {
		e.Line = 0
		d.errs = append(d.errs, e)
	}
}

// Line returns the line where the key path was written, or 0.
func (c *Config) Line(path string) int { return c.lines[path] }
