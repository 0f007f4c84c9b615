package main

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// internalRef matches references to the project's internal documents,
// which users do not have: "SPEC §4", "FACTS.md".
var internalRef = regexp.MustCompile(`\bSPEC\b|\bFACTS\b`)

// repoRoot is the repository's top directory, as seen from this package.
const repoRoot = "../.."

// Every command's help says what it does without pointing at documents
// users do not have.
func TestHelpCitesNoInternalDocs(t *testing.T) {
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(append(path[:len(path):len(path)], sub.Name()), sub)
		}
		name := strings.Join(append([]string{"privlink"}, path...), " ")
		code, out, errOut := runCmd(t, append(path, "--help")...)
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", name, code, errOut)
		}
		if m := internalRef.FindString(out + errOut); m != "" {
			t.Errorf("%s --help cites %q:\n%s", name, m, out)
		}
	}
	walk(nil, newRootCmd())
}

// The documentation users read — the README, docs/, examples/, deploy/ and
// the godoc of every package (package docs and exported declarations) —
// cites no internal document.
func TestUserDocsCiteNoInternalDocs(t *testing.T) {
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != repoRoot:
			return filepath.SkipDir
		case d.IsDir():
			checkGodoc(t, path)
		case strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".yaml") || d.Name() == "Dockerfile":
			checkText(t, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkText reports the lines of a file that cite an internal document.
func checkText(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if internalRef.MatchString(line) {
			t.Errorf("%s:%d cites an internal document: %s", path, i+1, line)
		}
	}
}

// checkGodoc reports the exported documentation of the package in dir
// that cites an internal document.
func checkGodoc(t *testing.T, dir string) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	names, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return
	}
	pkg, err := doc.NewFromFiles(fset, files, "example.com/"+dir)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, text string) {
		if m := internalRef.FindString(text); m != "" {
			t.Errorf("%s: godoc of %s cites %q: %s", dir, what, m, text)
		}
	}
	check("package "+pkg.Name, pkg.Doc)
	checkValues(check, pkg.Consts, pkg.Vars)
	for _, f := range pkg.Funcs {
		check(f.Name, f.Doc)
	}
	for _, ty := range pkg.Types {
		check(ty.Name, ty.Doc)
		ast.Inspect(ty.Decl, func(n ast.Node) bool {
			if cg, ok := n.(*ast.CommentGroup); ok {
				check(ty.Name, cg.Text())
			}
			return true
		})
		checkValues(check, ty.Consts, ty.Vars)
		for _, f := range append(ty.Funcs, ty.Methods...) {
			check(ty.Name+"."+f.Name, f.Doc)
		}
	}
}

// checkValues checks the docs of const and var groups and their specs.
func checkValues(check func(what, text string), groups ...[]*doc.Value) {
	for _, g := range groups {
		for _, v := range g {
			check(strings.Join(v.Names, ", "), v.Doc)
			ast.Inspect(v.Decl, func(n ast.Node) bool {
				if cg, ok := n.(*ast.CommentGroup); ok {
					check(strings.Join(v.Names, ", "), cg.Text())
				}
				return true
			})
		}
	}
}
