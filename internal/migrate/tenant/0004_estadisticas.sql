-- Planner statistics for every tenant table from the start. Autovacuum analyzes a table only after
-- 50 rows changed, so the tables of a small tenant never had any: PostgreSQL then assumes each is
-- at least 10 pages, and plans index scans (and a lookup per row in joins) for tables of one page.
-- Tenant statements are kept with generic plans (PoolOptions.StatementCache), so those plans stay.
-- Once analyzed, even empty, a table is planned from its real size (a scan of its one page reads
-- less and opens no index), autovacuum's threshold counts from there, and every later analyze
-- (the table grew) invalidates the kept plans, which are then made again for the new size.
ANALYZE organizacion_sede, usuarios_perfilusuario, citas_servicio, citas_horario, citas_descanso,
    citas_excepcion, citas_cita;
