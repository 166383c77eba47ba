package tenancy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidName is returned for a schema, role, slug or server name that fails validation.
var ErrInvalidName = errors.New("invalid name")

var (
	// schemaName is the only shape of a runtime-built SQL identifier: a tenant schema and the role
	// that owns it share the name. At most 63 bytes (PostgreSQL's identifier limit).
	schemaName = regexp.MustCompile(`^tenant_[a-z0-9][a-z0-9_]{0,55}$`)
	slugShape  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	serverName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	// readerName is the shape of a server's query role ([Manager.OpenReader]).
	readerName = regexp.MustCompile(`^consulta_[0-9a-f]{8}$`)
)

// schemaBaseMax is how much of the slug a generated schema name keeps (DESIGN.md: 20 characters).
const schemaBaseMax = 20

// ValidateSchemaName checks that s is a tenant schema (and role) name: "tenant_" followed by
// lower-case letters, digits and underscores, at most 63 bytes. Every identifier the program
// builds at run time passes through here before [Ident] quotes it.
func ValidateSchemaName(s string) error {
	if !schemaName.MatchString(s) {
		return fmt.Errorf("%w: schema name %q must match %s", ErrInvalidName, s, schemaName)
	}
	return nil
}

// Ident validates a tenant schema or role name and returns it quoted for SQL. It is the one place
// where run-time identifiers are turned into SQL text.
func Ident(s string) (string, error) {
	if err := ValidateSchemaName(s); err != nil {
		return "", err
	}
	return pgx.Identifier{s}.Sanitize(), nil
}

// readerIdent validates the name of a server's query role ("consulta_" + 8 hex digits) and returns
// it quoted for SQL.
func readerIdent(s string) (string, error) {
	if !readerName.MatchString(s) {
		return "", fmt.Errorf("%w: query role name %q must match %s", ErrInvalidName, s, readerName)
	}
	return pgx.Identifier{s}.Sanitize(), nil
}

// newReaderName builds a query role name: "consulta_" + 8 random hex digits.
func newReaderName() (string, error) {
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("generating query role name: %w", err)
	}
	return "consulta_" + hex.EncodeToString(suffix[:]), nil
}

// ValidateSlug checks an organization slug: lower-case words of a-z and 0-9 joined by single
// hyphens, at most 63 characters.
func ValidateSlug(s string) error {
	if len(s) > 63 || !slugShape.MatchString(s) {
		return fmt.Errorf("%w: slug %q must be lower-case letters and digits joined by single hyphens (at most 63)", ErrInvalidName, s)
	}
	return nil
}

// ValidateServerName checks a configured PostgreSQL server name (the organization's database_name).
func ValidateServerName(s string) error {
	if !serverName.MatchString(s) {
		return fmt.Errorf("%w: server name %q must match %s", ErrInvalidName, s, serverName)
	}
	return nil
}

// Slugify turns an organization's name into a slug: accents dropped, lower case, runs of other
// characters as one hyphen. "Barbería Juan" gives "barberia-juan". A name with no usable letter
// gives "org".
func Slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(name) {
		if b.Len() >= 50 {
			break
		}
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(unicode.ToLower(r))
		default:
			hyphen = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "org"
	}
	return s
}

// NewSchemaName builds a schema name for a slug as the guide does: "tenant_" + the slug with "-" as
// "_", cut to 20 characters, + "_" + 8 random hex digits.
func NewSchemaName(slug string) (string, error) {
	if err := ValidateSlug(slug); err != nil {
		return "", err
	}
	base := strings.ReplaceAll(slug, "-", "_")
	if len(base) > schemaBaseMax {
		base = base[:schemaBaseMax]
	}
	base = strings.TrimRight(base, "_")
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("generating schema name: %w", err)
	}
	name := "tenant_" + base + "_" + hex.EncodeToString(suffix[:])
	if err := ValidateSchemaName(name); err != nil {
		return "", err
	}
	return name, nil
}
