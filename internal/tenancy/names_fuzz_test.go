package tenancy_test

import (
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/tenancy"
)

func FuzzValidateSchemaName(f *testing.F) {
	for _, s := range []string{"tenant_a", "tenant_barberia_juan_1a2b3c4d", "tenant_", "public", `tenant_x"y`,
		"tenant_x;y", "tenant_\u00e9", "TENANT_X", "tenant_x\n", "tenant_" + strings.Repeat("a", 57), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := tenancy.ValidateSchemaName(s); err != nil {
			if _, identErr := tenancy.Ident(s); identErr == nil {
				t.Errorf("Ident accepts %q, which ValidateSchemaName rejects", s)
			}
			return
		}
		checkAcceptedName(t, s)
		if q, err := tenancy.Ident(s); err != nil || q != `"`+s+`"` {
			t.Errorf("Ident(%q) = %q, %v", s, q, err)
		}
	})
}

func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Barbería Juan", "Clínica Dental", "", "---", "日本", "ﬁ", "İstanbul", "K\u212a", "a\u0301", strings.Repeat("ab ", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		slug := tenancy.Slugify(name)
		if err := tenancy.ValidateSlug(slug); err != nil {
			t.Fatalf("Slugify(%q) = %q: %v", name, slug, err)
		}
		schema, err := tenancy.NewSchemaName(slug)
		if err != nil {
			t.Fatalf("NewSchemaName(Slugify(%q) = %q): %v", name, slug, err)
		}
		checkAcceptedName(t, schema)
	})
}

func FuzzNewSchemaName(f *testing.F) {
	for _, s := range []string{"a", "barberia-juan", "a-b-c", strings.Repeat("a", 19) + "-b", strings.Repeat("9", 63), "bad slug"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, slug string) {
		schema, err := tenancy.NewSchemaName(slug)
		if tenancy.ValidateSlug(slug) != nil {
			if err == nil {
				t.Fatalf("NewSchemaName(%q) = %q for an invalid slug", slug, schema)
			}
			return
		}
		if err != nil {
			t.Fatalf("NewSchemaName(%q): %v", slug, err)
		}
		if err := tenancy.ValidateSchemaName(schema); err != nil {
			t.Fatalf("NewSchemaName(%q) = %q: %v", slug, schema, err)
		}
		checkAcceptedName(t, schema)
	})
}
