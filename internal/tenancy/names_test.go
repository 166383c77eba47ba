package tenancy_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// tenantShape is what every accepted schema name must look like.
var tenantShape = regexp.MustCompile(`^tenant_[a-z0-9_]+$`)

func TestValidateSchemaName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"Generated", "tenant_barberia_juan_1a2b3c4d", true},
		{"Short", "tenant_a", true},
		{"Digits", "tenant_0", true},
		{"Max63Bytes", "tenant_" + strings.Repeat("a", 56), true},
		{"64Bytes", "tenant_" + strings.Repeat("a", 57), false},
		{"VeryLong", "tenant_" + strings.Repeat("a", 300), false},
		{"Empty", "", false},
		{"PrefixOnly", "tenant_", false},
		{"UnderscoreAfterPrefix", "tenant__x", false},
		{"NoPrefix", "barberia_juan", false},
		{"Public", "public", false},
		{"PgCatalog", "pg_catalog", false},
		{"PgToast", "pg_toast", false},
		{"InformationSchema", "information_schema", false},
		{"UpperCase", "tenant_Barberia", false},
		{"UpperCasePrefix", "TENANT_barberia", false},
		{"DoubleQuote", `tenant_x"y`, false},
		{"QuoteInjection", `tenant_x"; DROP SCHEMA public CASCADE; --`, false},
		{"SingleQuote", "tenant_x'y", false},
		{"Semicolon", "tenant_x;y", false},
		{"Space", "tenant_x y", false},
		{"LeadingSpace", " tenant_x", false},
		{"TrailingNewline", "tenant_x\n", false},
		{"Tab", "tenant_x\ty", false},
		{"Hyphen", "tenant_barberia-juan", false},
		{"Dot", "tenant_x.citas_cita", false},
		{"Dollar", "tenant_x$1", false},
		{"Accent", "tenant_barbería", false},
		{"Unicode", "tenant_日本", false},
		{"CyrillicA", "tenant_\u0430", false},
		{"FullwidthLetter", "tenant_\uff41", false},
		{"NUL", "tenant_x\x00", false},
		{"InvalidUTF8", "tenant_\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tenancy.ValidateSchemaName(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateSchemaName(%q) = %v; want ok %v", tt.in, err, tt.ok)
			}
			q, identErr := tenancy.Ident(tt.in)
			if !tt.ok {
				if !errors.Is(err, tenancy.ErrInvalidName) || !errors.Is(identErr, tenancy.ErrInvalidName) || q != "" {
					t.Errorf("rejected name %q: errors %v / %v, Ident %q; want ErrInvalidName and no identifier", tt.in, err, identErr, q)
				}
				return
			}
			if identErr != nil || q != `"`+tt.in+`"` {
				t.Errorf("Ident(%q) = %q, %v; want %q", tt.in, q, identErr, `"`+tt.in+`"`)
			}
		})
	}
}

func TestValidateSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"barberia-juan", true},
		{"a", true},
		{"spa-belleza-2", true},
		{"0", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"a--b", false},
		{"a_b", false},
		{"Barberia", false},
		{"barbería", false},
		{"x'; drop", false},
		{"a b", false},
		{"a\n", false},
	}
	for _, tt := range tests {
		if err := tenancy.ValidateSlug(tt.in); tt.ok != (err == nil) {
			t.Errorf("ValidateSlug(%q) = %v; want ok %v", tt.in, err, tt.ok)
		}
	}
}

func TestSlugify(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Barbería Juan", "barberia-juan"},
		{"Clínica Dental", "clinica-dental"},
		{"Spa Belleza", "spa-belleza"},
		{"  Peluquería  Ñandú & Cía. ", "peluqueria-nandu-cia"},
		{"ÀÉÎÕÜ çß", "aeiou-c"},
		{"Café #1", "cafe-1"},
		{"x'; DROP TABLE", "x-drop-table"},
		{"日本", "org"},
		{"", "org"},
		{"---", "org"},
		{"ﬁne", "fine"}, // NFKD splits the ligature
	}
	for _, tt := range tests {
		got := tenancy.Slugify(tt.in)
		if got != tt.want {
			t.Errorf("Slugify(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if err := tenancy.ValidateSlug(got); err != nil {
			t.Errorf("Slugify(%q) = %q, not a valid slug: %v", tt.in, got, err)
		}
	}
	if got := tenancy.Slugify(strings.Repeat("palabra ", 40)); len(got) > 63 || tenancy.ValidateSlug(got) != nil {
		t.Errorf("Slugify of a long name = %q (%d bytes); want a valid slug of at most 63", got, len(got))
	}
}

func TestNewSchemaName(t *testing.T) {
	t.Parallel()
	tests := []struct{ slug, prefix string }{
		{"barberia-juan", "tenant_barberia_juan_"},
		{"a", "tenant_a_"},
		{"clinica-dental-del-norte-y-sur", "tenant_clinica_dental_del_n_"}, // cut to 20 characters
		{"abcdefghijklmnopqrs-t", "tenant_abcdefghijklmnopqrs_"},           // the cut ends on "_", which is dropped
		{strings.Repeat("a", 63), "tenant_" + strings.Repeat("a", 20) + "_"},
	}
	hex8 := regexp.MustCompile(`^[0-9a-f]{8}$`)
	for _, tt := range tests {
		name, err := tenancy.NewSchemaName(tt.slug)
		if err != nil {
			t.Errorf("NewSchemaName(%q): %v", tt.slug, err)
			continue
		}
		base := strings.ReplaceAll(tt.slug, "-", "_")
		if len(base) > 20 {
			base = strings.TrimRight(base[:20], "_")
		}
		rest, ok := strings.CutPrefix(name, "tenant_"+base+"_")
		if !ok || !hex8.MatchString(rest) || tenancy.ValidateSchemaName(name) != nil {
			t.Errorf("NewSchemaName(%q) = %q; want tenant_%s_<8 hex>", tt.slug, name, base)
		}
		if !strings.HasPrefix(name, tt.prefix) {
			t.Errorf("NewSchemaName(%q) = %q; want prefix %q", tt.slug, name, tt.prefix)
		}
	}
	a, _ := tenancy.NewSchemaName("spa")
	b, _ := tenancy.NewSchemaName("spa")
	if a == b {
		t.Errorf("two schema names for one slug are equal (%s): the suffix must be random", a)
	}
	for _, bad := range []string{"", "Spa", "spa belleza", "x'; drop", "-spa"} {
		if _, err := tenancy.NewSchemaName(bad); !errors.Is(err, tenancy.ErrInvalidName) {
			t.Errorf("NewSchemaName(%q) err = %v; want ErrInvalidName", bad, err)
		}
	}
}

func TestValidateServerName(t *testing.T) {
	t.Parallel()
	names := map[string]bool{
		"default": true, "eu_1": true, "a": true,
		"": false, "1a": false, "Default": false, "eu-1": false, "a;b": false, strings.Repeat("a", 64): false,
	}
	for in, ok := range names {
		if err := tenancy.ValidateServerName(in); ok != (err == nil) {
			t.Errorf("ValidateServerName(%q) = %v; want ok %v", in, err, ok)
		}
	}
}

// checkAcceptedName is what every accepted schema name must satisfy (shared with the fuzz test).
func checkAcceptedName(t *testing.T, name string) {
	t.Helper()
	got, want := pgx.Identifier{name}.Sanitize(), `"`+name+`"`
	if got != want {
		t.Errorf("accepted name %q sanitizes to %s; want %s (nothing to escape)", name, got, want)
	}
	if !tenantShape.MatchString(name) || len(name) > 63 {
		t.Errorf("accepted name %q (%d bytes) does not match %s or is longer than 63 bytes", name, len(name), tenantShape)
	}
}
