package admin_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/admin"
)

func TestCheckReadOnly(t *testing.T) {
	t.Parallel()
	accepted := []string{
		"SELECT count(*) FROM citas_cita",
		"select id, updated_at, created_at from citas_cita where estado = 'cancelada';",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"TABLE citas_servicio",
		"VALUES (1, 'a'), (2, 'b')",
		"SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3",
		"SELECT 'DELETE FROM x; DROP TABLE y' AS texto",
		"SELECT 1 -- ; DROP TABLE x\n",
		"(SELECT 1)",
		"SELECT $$;COMMIT;$$ AS dolar, E'\\'' AS e /* a /* nested */ comment */",
		"SELECT date_trunc('month', inicio) AS mes, count(*), sum(precio_centavos), coalesce(max(notas), '') FROM citas_cita GROUP BY 1 ORDER BY 1 LIMIT 10",
		"SELECT lower(nombre), to_char(now(), 'YYYY'), extract(year FROM now()), now() AT TIME ZONE 'America/Bogota' FROM citas_servicio",
		"SELECT c.id, s.nombre FROM citas_cita c JOIN citas_servicio s ON s.id = c.servicio_id WHERE c.id IN (SELECT id FROM citas_cita WHERE id > 1)",
		"SELECT id, row_number() OVER (PARTITION BY servicio_id ORDER BY inicio) FROM citas_cita",
		"SELECT s.* FROM citas_servicio s",
		"SELECT 1::int, '2024-01-01'::pg_catalog.date, pg_catalog.lower('A'), 1 OPERATOR(pg_catalog.+) 2",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n",
	}
	for _, sql := range accepted {
		t.Run("Accepts "+sql, func(t *testing.T) {
			if err := admin.CheckReadOnly(sql); err != nil {
				t.Fatal(err)
			}
		})
	}
	refused := []string{
		"",
		"  ;  ",
		"-- only a comment",
		"DELETE FROM citas_cita",
		"UPDATE citas_cita SET estado = 'cancelada'",
		"INSERT INTO citas_cita DEFAULT VALUES",
		"MERGE INTO citas_cita c USING citas_cita d ON c.id = d.id WHEN MATCHED THEN DELETE",
		"SELECT 1; DELETE FROM citas_cita",
		"SELECT $$'$$ AS a; COMMIT; CREATE TABLE public.x (i int); SELECT '' AS b",
		"SELECT E'\\'' AS a; COMMIT; UPDATE auth_user SET is_superuser = true; SELECT '' AS b",
		"SELECT $$/*$$ AS a; DELETE FROM citas_cita; SELECT $$*/$$ AS b",
		"SELECT 1 /* a /* nested */ still comment */; COPY (SELECT 1) TO PROGRAM 'id'",
		"WITH d AS (DELETE FROM citas_cita RETURNING *) SELECT * FROM d",
		"WITH x AS (SELECT 1) SELECT * FROM (WITH u AS (UPDATE citas_cita SET estado = 'x' RETURNING id) SELECT * FROM u) y",
		"WITH i AS (INSERT INTO citas_servicio (nombre) VALUES ('x') RETURNING id) SELECT 1",
		"SELECT * INTO copia FROM citas_cita",
		"SELECT * FROM citas_cita FOR UPDATE",
		"SELECT * FROM citas_cita FOR NO KEY UPDATE",
		"SELECT * FROM citas_cita FOR SHARE",
		"SELECT * FROM (SELECT * FROM citas_cita FOR KEY SHARE) x",
		"SELECT pg_advisory_lock(1)",
		"SELECT set_config('search_path', 'public', false)",
		`SELECT "set_config"('role','postgres',true), query_to_xml('SELECT username, password FROM public.auth_user', true, false, '')`,
		`SELECT "set_config"('statement_timeout','1',false)`,
		`SELECT pg_catalog.set_config('role', 'postgres', true)`,
		`SELECT "pg_catalog"."set_config"('role', 'postgres', true)`,
		`SELECT SET_CONFIG('role', 'postgres', true)`,
		"SELECT current_setting('is_superuser')",
		"SELECT query_to_xml('select 1', true, false, '')",
		"SELECT query_to_json('select 1')",
		"SELECT xmlexists('//a' PASSING BY VALUE query_to_xml('SELECT * FROM auth_user', true, false, ''))",
		"SELECT table_to_xml('auth_user', true, false, '')",
		"SELECT * FROM ts_stat('SELECT to_tsvector(password) FROM auth_user')",
		"SELECT ts_rewrite('a'::tsquery, 'SELECT 1')",
		"SELECT database_to_xml(true, false, '')",
		"SELECT nextval('x')",
		"SELECT pg_sleep(10)",
		"SELECT pg_read_file('/etc/passwd')",
		"SELECT pg_terminate_backend(1)",
		"SELECT pg_reload_conf()",
		"SELECT lo_import('/etc/passwd')",
		"SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
		"SELECT public.sneaky()",
		`SELECT "public"."sneaky"()`,
		"SELECT * FROM tenant_other_1234abcd.citas_cita",
		`SELECT * FROM "tenant_other_1234abcd"."citas_cita"`,
		"SELECT * FROM appcitas.public.auth_user",
		"SELECT * FROM public.auth_user",
		"SELECT tenant_other_1234abcd.citas_cita.id FROM citas_cita",
		"SELECT * FROM pg_class",
		`SELECT * FROM "pg_authid"`,
		"SELECT * FROM pg_catalog.pg_class",
		"SELECT * FROM information_schema.tables",
		"SELECT 1 OPERATOR(public.===) 2",
		"SELECT 'x'::public.mytype",
		"/* hola */ TRUNCATE citas_cita",
		"COPY citas_cita TO '/tmp/x'",
		"CREATE TABLE x (a int)",
		"SET ROLE postgres",
		"BEGIN",
		"COMMIT",
		"EXPLAIN ANALYZE SELECT 1",
		"DO $$ BEGIN END $$",
		"CALL p()",
		"PREPARE p AS SELECT 1",
		"SELECT (SELECT pg_sleep(1))",
		"SELECT * FROM citas_cita WHERE id = (SELECT max(id) FROM citas_cita WHERE pg_sleep(1) IS NULL)",
		"SELECT * FROM generate_series(1, 2) g, LATERAL (SELECT set_config('a.b', 'c', false)) s",
		"SELECT count(*) FILTER (WHERE current_setting('x') = '') FROM citas_cita",
		"SELECT 1 ORDER BY pg_backend_pid()",
		"SELECT * FROM citas_cita WHERE id = $1",
	}
	for _, sql := range refused {
		t.Run("Refuses "+sql, func(t *testing.T) {
			err := admin.CheckReadOnly(sql)
			if !errors.Is(err, admin.ErrNotReadOnly) {
				t.Fatalf("got error %v; want %v", err, admin.ErrNotReadOnly)
			}
		})
	}
	t.Run("ReportsSyntaxErrorWithItsPosition", func(t *testing.T) {
		err := admin.CheckReadOnly("SELECT id FROM citas_cita WHERE")
		if !errors.Is(err, admin.ErrSyntax) {
			t.Fatalf("got error %v; want %v", err, admin.ErrSyntax)
		}
		if errors.Is(err, admin.ErrNotReadOnly) {
			t.Fatalf("got error %v; want one that is not %v", err, admin.ErrNotReadOnly)
		}
		if s := err.Error(); !strings.Contains(s, "at position 32") {
			t.Fatalf("s = %v; want it to contain %v", s, "at position 32")
		}
		if s := err.Error(); !strings.Contains(s, "syntax error at end of input") {
			t.Fatalf("s = %v; want it to contain %v", s, "syntax error at end of input")
		}
	})
}
