package tenancy

import (
	"context"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// Redacted is what SQL logs print in place of an argument that may hold a secret.
const Redacted = "[redacted]"

// sensitiveSQL matches statements that name a column or table holding secrets: password hashes
// (auth_user.password), refresh-token hashes (auth_refresh_token.token_hash), any *_hash column,
// any secret or token, signup's idempotency keys, and the query role's password
// (public.rol_consulta.clave). Every argument of such a statement is
// redacted, whatever its position.
var sensitiveSQL = regexp.MustCompile(`(?i)password|passwd|secret|token|_hash|hash_|idempotenc|clave|rol_consulta`)

// redactArgs returns the arguments of sql as SQL logs may print them. A []byte argument (a hash, a
// key) is always redacted. Every argument of a statement that matches sensitiveSQL is redacted.
// The statement itself gets the original arguments: this copy is for logs only.
func redactArgs(sql string, args []any) []any {
	if len(args) == 0 {
		return args
	}
	all := sensitiveSQL.MatchString(sql)
	out := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case []byte:
			out[i] = Redacted
		default:
			if all && a != nil {
				out[i] = Redacted
			} else {
				out[i] = a
			}
		}
	}
	return out
}

// TraceBatchQuery logs one statement of a batch, as tracelog does, with its arguments redacted.
func (t tenantTracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if schema, ok := t.conns.Load(conn); ok {
		ctx = withLogTenant(ctx, schema.(string))
	}
	data.Args = redactArgs(data.SQL, data.Args)
	t.TraceLog.TraceBatchQuery(ctx, conn, data)
}
