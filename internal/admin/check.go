package admin

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrNotReadOnly is returned for a query that is not a single plain SELECT, or that names
// something a cross-tenant query may not reach.
var ErrNotReadOnly = errors.New("only a single read-only SELECT is allowed")

// ErrSyntax is returned for a query that PostgreSQL's parser rejects.
var ErrSyntax = errors.New("invalid SQL")

// blockedFunctions are functions a cross-tenant query may not call, by lower-case name: they run
// SQL text or read whole relations by name, read or change session settings, or act on sequences
// and large objects.
var blockedFunctions = map[string]bool{
	"query_to_xml": true, "query_to_xml_and_xmlschema": true, "query_to_xmlschema": true,
	"table_to_xml": true, "table_to_xml_and_xmlschema": true, "table_to_xmlschema": true,
	"cursor_to_xml": true, "cursor_to_xmlschema": true,
	"schema_to_xml": true, "schema_to_xml_and_xmlschema": true, "schema_to_xmlschema": true,
	"database_to_xml": true, "database_to_xml_and_xmlschema": true, "database_to_xmlschema": true,
	"ts_stat": true, "ts_rewrite": true,
	"set_config": true, "current_setting": true,
	"nextval": true, "setval": true, "currval": true, "lastval": true,
	"loread": true, "lowrite": true,
}

// blockedPrefixes are prefixes of function names a cross-tenant query may not call: the server's
// administration and catalog functions (pg_read_file, pg_terminate_backend, pg_reload_conf,
// pg_sleep, pg_advisory_lock, ...), large objects, dblink, SQL-to-XML/JSON exports, index
// maintenance.
var blockedPrefixes = []string{"pg_", "lo_", "dblink", "query_to_", "table_to_", "cursor_to_", "schema_to_",
	"database_to_", "brin_", "gin_", "binary_upgrade_", "run_command_on_"}

// CheckReadOnly parses sql with PostgreSQL's own parser and accepts exactly one plain SELECT
// (VALUES, TABLE and set operations included) that stays inside the tenant it runs in:
//   - no SELECT INTO, no FOR UPDATE/SHARE, no data-modifying statement anywhere (writable CTEs);
//   - no schema-qualified relation, no three-part column reference, no relation named pg_*
//     (the catalogs, which resolve without a schema);
//   - no function, operator or type qualified by a schema other than pg_catalog;
//   - no function that runs SQL text, reads a relation by name, touches session settings,
//     sequences or large objects, and no pg_* function.
//
// Function names are matched as parsed and lower-cased, so quoting and qualification do not hide
// them. A syntax error wraps [ErrSyntax] and gives its position; anything else refused wraps
// [ErrNotReadOnly].
func CheckReadOnly(sql string) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) && pe.Cursorpos > 0 {
			return fmt.Errorf("%w at position %d: %s", ErrSyntax, pe.Cursorpos, pe.Message)
		}
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	switch len(tree.Stmts) {
	case 0:
		return fmt.Errorf("%w: the query is empty", ErrNotReadOnly)
	case 1:
	default:
		return fmt.Errorf("%w: give one statement (found %d)", ErrNotReadOnly, len(tree.Stmts))
	}
	stmt := tree.Stmts[0].GetStmt()
	if stmt.GetSelectStmt() == nil {
		return fmt.Errorf("%w: found %s", ErrNotReadOnly, statementKind(stmt))
	}
	return walk(stmt.ProtoReflect(), checkNode)
}

// statementKind names a statement node's kind for an error message ("DeleteStmt" gives "DELETE").
func statementKind(n *pg_query.Node) string {
	if n == nil || n.GetNode() == nil {
		return "an empty statement"
	}
	var kind string
	n.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		kind = string(fd.Message().Name())
		return false
	})
	return fmt.Sprintf("a %s statement", strings.ToUpper(strings.TrimSuffix(kind, "Stmt")))
}

// walk calls visit on m and every message under it, depth first, and stops at the first error.
func walk(m protoreflect.Message, visit func(proto.Message) error) error {
	if err := visit(m.Interface()); err != nil {
		return err
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = walk(l.Get(i).Message(), visit)
			}
		} else {
			err = walk(v.Message(), visit)
		}
		return err == nil
	})
	return err
}

// checkNode refuses one parse-tree node that could leave the tenant's box.
func checkNode(msg proto.Message) error {
	switch n := msg.(type) {
	case *pg_query.SelectStmt:
		if n.IntoClause != nil {
			return fmt.Errorf("%w: SELECT INTO is not allowed", ErrNotReadOnly)
		}
		if len(n.LockingClause) > 0 {
			return fmt.Errorf("%w: row locks (FOR UPDATE/SHARE) are not allowed", ErrNotReadOnly)
		}
	case *pg_query.RangeVar:
		if n.Catalogname != "" || n.Schemaname != "" {
			return fmt.Errorf("%w: %q: name tables without a schema (the query runs in each tenant's own)",
				ErrNotReadOnly, strings.Trim(n.Catalogname+"."+n.Schemaname+"."+n.Relname, "."))
		}
		if strings.HasPrefix(strings.ToLower(n.Relname), "pg_") {
			return fmt.Errorf("%w: system catalog %q is not allowed", ErrNotReadOnly, n.Relname)
		}
	case *pg_query.ParamRef:
		return fmt.Errorf("%w: parameters ($%d) are not supported: write the values in the query", ErrNotReadOnly, n.Number)
	case *pg_query.ColumnRef:
		if len(n.Fields) > 2 {
			return fmt.Errorf("%w: column references with a schema are not allowed", ErrNotReadOnly)
		}
	case *pg_query.FuncCall:
		name, schema := lastName(n.Funcname)
		if schema != "" && schema != "pg_catalog" {
			return fmt.Errorf("%w: function %s.%s: only functions of pg_catalog may be qualified", ErrNotReadOnly, schema, name)
		}
		if blockedFunction(name) {
			return fmt.Errorf("%w: function %s is not allowed in a cross-tenant query", ErrNotReadOnly, name)
		}
	case *pg_query.A_Expr:
		if name, schema := lastName(n.Name); schema != "" && schema != "pg_catalog" {
			return fmt.Errorf("%w: operator %s.%s: only operators of pg_catalog may be qualified", ErrNotReadOnly, schema, name)
		}
	case *pg_query.TypeName:
		if name, schema := lastName(n.Names); schema != "" && schema != "pg_catalog" {
			return fmt.Errorf("%w: type %s.%s: only types of pg_catalog may be qualified", ErrNotReadOnly, schema, name)
		}
	default:
		// Any other statement inside the tree (INSERT/UPDATE/DELETE/MERGE in a WITH) writes.
		if name := string(msg.ProtoReflect().Descriptor().Name()); strings.HasSuffix(name, "Stmt") {
			return fmt.Errorf("%w: a %s inside the query is not allowed", ErrNotReadOnly, strings.ToUpper(strings.TrimSuffix(name, "Stmt")))
		}
	}
	return nil
}

// lastName returns the lower-cased last part of a parsed qualified name and the part before it
// (the schema), if any.
func lastName(parts []*pg_query.Node) (name, schema string) {
	var names []string
	for _, p := range parts {
		names = append(names, strings.ToLower(p.GetString_().GetSval()))
	}
	switch len(names) {
	case 0:
		return "", ""
	case 1:
		return names[0], ""
	default:
		return names[len(names)-1], names[len(names)-2]
	}
}

// blockedFunction reports whether a lower-case function name is refused.
func blockedFunction(name string) bool {
	if blockedFunctions[name] {
		return true
	}
	for _, p := range blockedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
