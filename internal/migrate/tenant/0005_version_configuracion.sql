-- The version of the tenant's set-up: its branches, services, members, working hours, breaks and
-- date exceptions, the rows every booking decision and every request's membership check read, and
-- that change rarely. The API keeps each tenant's set-up in memory (booking.SetupCache) and reads
-- only this one-row table at the start of each request, in the request's own transaction: when the
-- version (or the table itself, after a restore) is the one it holds, the set-up tables are not
-- opened at all. Opening a relation is most of PostgreSQL's cost per statement when thousands of
-- tenants share a backend's caches (BENCHMARKS.md, issue 3).
--
-- Statement triggers bump the version in the writing transaction, so the new version becomes
-- visible exactly when the change does: a reader that sees the old version would have seen the old
-- rows. The table is not tenant data: backups and moves skip it, and a restored schema starts with
-- a table (oid) of its own.
--
-- One row, without a key: an index would be one more relation for every request to open. The
-- triggers bump every row, so even a second row inserted by hand changes with every change.
CREATE TABLE organizacion_configuracion_version (
    version bigint NOT NULL DEFAULT 1
);
INSERT INTO organizacion_configuracion_version DEFAULT VALUES;

-- The trigger names the version table through the schema of the table that changed, so it works
-- under any search_path (a restore's COPY, an operator's psql).
CREATE FUNCTION organizacion_configuracion_cambio() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.organizacion_configuracion_version SET version = version + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizacion_sede
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();
CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON citas_servicio
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();
CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usuarios_perfilusuario
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();
CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON citas_horario
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();
CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON citas_descanso
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();
CREATE TRIGGER configuracion_cambio AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON citas_excepcion
    FOR EACH STATEMENT EXECUTE FUNCTION organizacion_configuracion_cambio();

ANALYZE organizacion_configuracion_version;
