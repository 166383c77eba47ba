package tenancy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestFreeSlug(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	createOrgs(t, m, "Spa Belleza", "WWW 2")
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	free := func(t *testing.T, base string, reserved map[string]bool) string {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		slug, err := tenancy.FreeSlug(ctx, tx, base, reserved)
		if err != nil {
			t.Fatal(err)
		}
		return slug
	}
	tests := []struct {
		name, base string
		reserved   map[string]bool
		want       string
	}{
		{"KeepsAFreeBase", "spa-nuevo", nil, "spa-nuevo"},
		{"TakenBaseGetsTheNextVariant", "spa-belleza", nil, "spa-belleza-2"},
		{"ReservedBaseGetsAVariant", "soporte", map[string]bool{"soporte": true}, "soporte-2"},
		{"ReservedBaseSkipsTakenVariants", "www", map[string]bool{"www": true}, "www-3"},
		{"CutsALongBaseTo50", strings.Repeat("a", 60), nil, strings.Repeat("a", 50)},
		{"CutDropsATrailingHyphen", strings.Repeat("a", 49) + "-bbbb", nil, strings.Repeat("a", 49)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := free(t, tt.base, tt.reserved); got != tt.want {
				t.Errorf("FreeSlug(%q) = %q; want %q", tt.base, got, tt.want)
			}
		})
	}

	t.Run("HasOneImplementation", func(t *testing.T) {
		fset := token.NewFileSet()
		err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if ok && strings.EqualFold(fn.Name.Name, "freeSlug") && filepath.Dir(path) != filepath.Join("..", "tenancy") {
					t.Errorf("%s: a second free-slug function; use tenancy.FreeSlug", fset.Position(fn.Pos()))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
