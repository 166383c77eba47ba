-- Fewer indexes per tenant. Every index is a relation that each PostgreSQL backend serving the
-- tenant keeps in its caches, a file it opens, and a path the planner costs on every statement that
-- reads the table: at 10,000 tenants planning is the largest part of PostgreSQL's time in a request
-- (BENCHMARKS.md, issue 3).
-- What is left serves every query:
--   citas_cita: primary key; (inicio, id) for listings, whose filters (branch, staff member, state,
--   client) are checked along that ordered scan, which stops at the page's end; the exclusion
--   constraint's GiST index (profesional_id, busy block). The busy blocks that availability reads
--   (bloqueo_inicio < end AND bloqueo_fin > start) are read by scanning the table: the dropped
--   (profesional_id, bloqueo_inicio) index bounded only the start, so its range held a staff
--   member's whole history anyway, and at a few hundred rows a scan is what the planner picks;
--   written as && on the busy block the GiST index would serve it, but measured slower (planning
--   and execution) for tenants of that size;
--   citas_horario: primary key and the exclusion constraint's index; citas_excepcion: primary key
--   and (fecha, sede_id). Both tables hold a few rows per staff member.
DROP INDEX citas_cita_inicio_idx;
DROP INDEX citas_cita_sede_inicio_idx;
DROP INDEX citas_cita_profesional_inicio_idx;
DROP INDEX citas_cita_estado_inicio_idx;
DROP INDEX citas_cita_profesional_bloqueo_idx;
DROP INDEX citas_horario_sede_idx;
DROP INDEX citas_excepcion_profesional_idx;
