package tenancy

import (
	"reflect"
	"testing"
)

func TestRedactArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sql  string
		args []any
		want []any
	}{
		{"KeepsArgumentsOfPlainStatements", `SELECT id FROM citas_servicio WHERE id = $1 AND nombre = $2`, []any{int64(3), "Corte"}, []any{int64(3), "Corte"}},
		{"RedactsAnyByteSlice", `SELECT $1::bytea, $2`, []any{[]byte{1, 2}, 7}, []any{Redacted, 7}},
		{"RedactsEveryArgumentOfAPasswordStatement", `UPDATE auth_user SET password = $2 WHERE id = $1`, []any{int64(1), "$argon2id$v=19$..."}, []any{Redacted, Redacted}},
		{"RedactsTokenHashStatements", `SELECT user_id FROM public.auth_refresh_token WHERE token_hash = $1`, []any{"abc"}, []any{Redacted}},
		{"RedactsHashColumns", `INSERT INTO onboarding_idempotencia (clave, solicitud_hash) VALUES ($1, $2)`, []any{"k", "h"}, []any{Redacted, Redacted}},
		{"RedactsSecrets", `SELECT 1 WHERE events_secret = $1`, []any{"s"}, []any{Redacted}},
		{"KeepsNullsVisible", `UPDATE auth_user SET password = $1`, []any{nil}, []any{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactArgs(tt.sql, tt.args); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("redactArgs(%q, %v) = %v; want %v", tt.sql, tt.args, got, tt.want)
			}
		})
	}
}
