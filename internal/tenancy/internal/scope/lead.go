package scope

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Lead is a one-row query sent with the scope's opening.
// The opening travels as one simple-protocol message.
// So the arguments are integers, written into the SQL as literals.
// Nothing else can be injected that way.
//
// When the tenant pools keep statements (tenancy.PoolOptions.StatementCache), the lead is
// prepared once per tenant and connection, in the opening itself (PREPARE … AS, then EXECUTE).
// Later openings only EXECUTE it.
// Its generic plan is then kept like every other statement of the scope.
type Lead struct {
	// SQL is one SELECT that returns at most one row, with placeholders $1 … $9 for Args (each
	// a bigint).
	SQL string
	// Args are the values of $1 … $9.
	Args []int64
	// Dest receives the row's columns (as pgx's Scan would), when there is a row.
	Dest []any
	// Found is set to whether the query returned a row.
	Found bool
}

// Check refuses a lead whose placeholders and arguments do not match.
func (l *Lead) Check() error {
	if len(l.Args) > 9 {
		return errors.New("a lead query takes at most 9 arguments")
	}
	s := l.SQL
	for i := len(l.Args); i >= 1; i-- {
		s = strings.ReplaceAll(s, "$"+strconv.Itoa(i), "")
	}
	if strings.Contains(s, "$") {
		return errors.New("a lead query has a placeholder without an argument")
	}
	return nil
}

// args returns the lead's arguments as SQL literals, each in parentheses (so that a negative one
// after a minus sign is not a comment).
func (l *Lead) args() []string {
	out := make([]string, len(l.Args))
	for i, a := range l.Args {
		out[i] = "(" + strconv.FormatInt(a, 10) + ")"
	}
	return out
}

// inline returns the lead's SQL with its placeholders replaced by the arguments.
func (l *Lead) inline() string {
	s := l.SQL
	args := l.args()
	for i := len(args); i >= 1; i-- {
		s = strings.ReplaceAll(s, "$"+strconv.Itoa(i), args[i-1])
	}
	return s
}

// statementName names the lead's prepared statement for one tenant: a hash of the schema and the
// SQL, so that no two tenants (nor two leads) share a statement on a connection. Should two ever
// collide, the other tenant's statement would fail with "permission denied" under this tenant's
// role, never read the other tenant's rows.
func (l *Lead) statementName(schema string) string {
	h := sha256.Sum256([]byte(schema + "\x00" + l.SQL))
	return "appcitas_lead_" + hex.EncodeToString(h[:16])
}

// prepareSQL is the PREPARE of the lead's statement (every parameter a bigint).
func (l *Lead) prepareSQL(name string) string {
	var b strings.Builder
	b.WriteString("PREPARE " + name)
	if len(l.Args) > 0 {
		b.WriteString(" (bigint" + strings.Repeat(", bigint", len(l.Args)-1) + ")")
	}
	b.WriteString(" AS " + l.SQL)
	return b.String()
}

// executeSQL is the EXECUTE of the lead's statement with its arguments.
func (l *Lead) executeSQL(name string) string {
	if len(l.Args) == 0 {
		return "EXECUTE " + name
	}
	return "EXECUTE " + name + "(" + strings.Join(l.args(), ", ") + ")"
}

// leadStatementsKey is where a connection's [leadStatements] live in pgconn's CustomData: the
// connection is only ever used by one scope at a time, so no lock is needed, and the set goes
// with the connection when it closes.
const leadStatementsKey = "appcitas.tenancy.leads"

// leadStatements are the lead statements prepared on one connection, least recently used first,
// at most limit of them.
type leadStatements struct {
	limit int
	order *list.List // of string, front = most recently used
	names map[string]*list.Element
}

// leadsOf returns conn's set of prepared lead statements, creating it with room for limit.
func leadsOf(conn *pgconn.PgConn, limit int) *leadStatements {
	data := conn.CustomData()
	if s, ok := data[leadStatementsKey].(*leadStatements); ok {
		return s
	}
	s := &leadStatements{limit: max(limit, 1), order: list.New(), names: map[string]*list.Element{}}
	data[leadStatementsKey] = s
	return s
}

// use reports whether name is prepared on the connection, and marks it recently used.
func (s *leadStatements) use(name string) bool {
	e, ok := s.names[name]
	if ok {
		s.order.MoveToFront(e)
	}
	return ok
}

// add records name as prepared and returns the statement that must be deallocated to keep the
// set within its limit ("" when none).
func (s *leadStatements) add(name string) (evict string) {
	if _, ok := s.names[name]; ok {
		return ""
	}
	if s.order.Len() >= s.limit {
		oldest := s.order.Back()
		evict = s.order.Remove(oldest).(string)
		delete(s.names, evict)
	}
	s.names[name] = s.order.PushFront(name)
	return evict
}

// forget records that name may not be prepared (or not as the set believed).
func (s *leadStatements) forget(name string) {
	if e, ok := s.names[name]; ok {
		s.order.Remove(e)
		delete(s.names, name)
	}
}

// isLeadStatementError reports whether err says the connection's prepared lead is not as the
// set believed: already there (42P05), missing (26000), or planned for a result of another shape
// after a migration (0A000, "cached plan must not change result type").
func isLeadStatementError(err error) bool {
	switch SQLState(err) {
	case "42P05", "26000", "0A000":
		return true
	}
	return false
}

// SQLState returns the SQLSTATE code of a PostgreSQL error in err's chain, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
