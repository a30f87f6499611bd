package config_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dbsync/dbsync/config"
	"github.com/dbsync/dbsync/connectors"

	// Every connector package, as cmd/dbsync imports them; the test below fails when
	// one is missing here.
	_ "github.com/dbsync/dbsync/connectors/bigquery"
	_ "github.com/dbsync/dbsync/connectors/mysql"
	_ "github.com/dbsync/dbsync/connectors/postgres"
	_ "github.com/dbsync/dbsync/connectors/sqlite"
)

const module = "github.com/dbsync/dbsync"

var registerCall = regexp.MustCompile(`connectors\.Register\(`)

// The source types a config may name are the ones the connector packages register,
// and the binary imports every package that registers one (the checklist in
// connectors/connectors.go).
func TestSourceTypesAreTheRegisteredOnes(t *testing.T) {
	registering := registeringPackages(t)
	if len(registering) == 0 {
		t.Fatal("found no package under connectors/ that calls connectors.Register")
	}

	// Each registering package is imported here (so Types below is complete) and by
	// the binary.
	self := imports(t, "sourcetypes_test.go")
	binary := imports(t, filepath.Join("..", "cmd", "dbsync", "main.go"))
	for _, pkg := range registering {
		if !slices.Contains(self, pkg) {
			t.Errorf("%s registers a source type: import it in config/sourcetypes_test.go", pkg)
		}
		if !slices.Contains(binary, pkg) {
			t.Errorf("%s registers a source type: import it in cmd/dbsync/main.go, or the binary cannot open it", pkg)
		}
	}

	registered := connectors.Types()
	if len(registered) != len(registering) {
		t.Errorf("%d packages call connectors.Register, %d types are registered: %q", len(registering), len(registered), registered)
	}
	inConfig := slices.Sorted(slices.Values(config.SourceTypes()))
	for _, typ := range registered {
		if !slices.Contains(inConfig, typ) {
			t.Errorf("source type %q is registered but config does not take it: add it to config.SourceTypes and validateSource", typ)
		}
	}
	for _, typ := range inConfig {
		if !slices.Contains(registered, typ) {
			t.Errorf("config takes source type %q but no connector registers it", typ)
		}
	}
}

// registeringPackages lists the import paths of the packages under connectors/ whose
// non-test files call connectors.Register, leaving out nested modules (the BigQuery
// emulator's tests).
func registeringPackages(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "connectors")
	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) != ".go" || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == root {
			return nil // root: connectors itself defines Register
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if registerCall.Match(src) {
			rel, err := filepath.Rel("..", filepath.Dir(path))
			if err != nil {
				return err
			}
			if pkg := module + "/" + filepath.ToSlash(rel); !slices.Contains(pkgs, pkg) {
				pkgs = append(pkgs, pkg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list connector packages: %v", err)
	}
	return pkgs
}

// imports lists the import paths of a Go file.
func imports(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatalf("read imports of %s: %v", path, err)
	}
	var out []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatalf("import in %s: %v", path, err)
		}
		out = append(out, p)
	}
	return out
}
