package config

import (
	"regexp"
	"slices"
	"strings"
)

// A file with decoding errors (bad values, unknown keys, wrong types) is
// still validated, so that one run of privlink validate reports every
// problem. A value that did not decode is unknown, not missing: the
// validator stays silent about it, about what contains it, what it
// contains, and about references to the entries of a list it broke.

// unsure reports whether path's value is unknown: decoding it, a value
// inside it or a value around it failed, or a mistyped key probably meant it.
func (v *validator) unsure(path string) bool {
	for _, u := range v.unknown {
		if u == path || within(path, u) || within(u, path) {
			return true
		}
	}
	return false
}

// within reports whether path lies inside the value at anc.
func within(path, anc string) bool {
	if anc == "" {
		return path != ""
	}
	return len(path) > len(anc) && strings.HasPrefix(path, anc) && (path[len(anc)] == '.' || path[len(anc)] == '[')
}

// entryKey matches what follows a list's path when an entry, or one of the
// given keys of an entry, did not decode: "", "[3]", "[3].id".
var entryKey = regexp.MustCompile(`^(\[[0-9]+\](\.[a-z_]+)?)?$`)

// broken reports whether the list at path may be missing entries or their
// keys: the list itself, one of its entries, or one of keys of an entry
// did not decode. References into a broken list are not reported as
// dangling.
func (v *validator) broken(path string, keys ...string) bool {
	for _, u := range v.unknown {
		rest, ok := strings.CutPrefix(u, path)
		if !ok || !entryKey.MatchString(rest) {
			continue
		}
		_, key, hasKey := strings.Cut(rest, "].")
		if !hasKey || len(keys) == 0 || slices.Contains(keys, key) {
			return true
		}
	}
	return false
}

// reff reports a dangling reference unless the list it points into is broken.
func (v *validator) reff(list, path, format string, args ...any) {
	if !v.broken(list, "id", "name") {
		v.errf(path, format, args...)
	}
}

// unknownPaths lists the paths decoding could not fill.
func unknownPaths(d *decoder) []string {
	out := append([]string(nil), d.guessed...)
	for _, e := range d.errs {
		out = append(out, e.Path)
	}
	return out
}
