package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary YAML to Parse. Invariants: it never panics
// (the validator also runs over files that decoded only in part), every
// error names the file and says something, and the result is the same
// when parsed again.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range append(files, "default.yaml") {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %v is not a non-empty config.Errors", err)
		}
		for _, e := range errs {
			if e.File != "f.yaml" || e.Msg == "" {
				t.Fatalf("error %q lacks the file or a message", e.Error())
			}
		}
		if _, again := Parse("f.yaml", data); again == nil || again.Error() != err.Error() {
			t.Fatalf("second parse differs:\n%v\nthen:\n%v", err, again)
		}
	})
}
