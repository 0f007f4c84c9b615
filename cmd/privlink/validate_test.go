package main

import (
	"os"
	"strings"
	"testing"
)

// privlink validate prints every error of a file in one run: a value that
// does not parse, an unknown key, a dangling reference and a duplicate
// listener, exactly as config's golden file lists them.
func TestValidateReportsEveryError(t *testing.T) {
	const file = "../../config/testdata/invalid/all-at-once.yaml"
	golden, err := os.ReadFile("../../config/testdata/invalid/all-at-once.err")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(golden), "testdata/invalid/", "../../config/testdata/invalid/")
	code, out, errOut := runCmd(t, "validate", "-c", file)
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", code, out, errOut, want)
	}
	if n := strings.Count(errOut, "\n"); n != 4 {
		t.Fatalf("%d error lines, want 4", n)
	}
}
