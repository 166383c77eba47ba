-- Fewer indexes per tenant. Every index is a relation that each PostgreSQL backend serving the
-- tenant keeps in its caches, a file it opens, and a path the planner costs on every statement that
-- reads the table: at 10,000 tenants that is most of the time of a request (BENCHMARKS.md, issue 3).
-- What is left serves every query:
--   citas_cita: primary key; (inicio, id) for listings, whose filters (branch, staff member, state,
--   client) are checked along that ordered scan, which stops at the page's end; the exclusion
--   constraint's GiST index (profesional_id, busy block), which also finds the busy blocks that
--   availability reads;
--   citas_horario: primary key and the exclusion constraint's index; citas_excepcion: primary key
--   and (fecha, sede_id). Both tables hold a few rows per staff member.
DROP INDEX citas_cita_inicio_idx;
DROP INDEX citas_cita_sede_inicio_idx;
DROP INDEX citas_cita_profesional_inicio_idx;
DROP INDEX citas_cita_estado_inicio_idx;
DROP INDEX citas_cita_profesional_bloqueo_idx;
DROP INDEX citas_horario_sede_idx;
DROP INDEX citas_excepcion_profesional_idx;
