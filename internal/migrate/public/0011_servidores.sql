-- The database servers that hold tenants, besides the default one (DATABASE_URL). Every process
-- (serve, each command) resolves a server name through this table, so a server registered by one
-- process is usable by every other without a restart. No credentials are kept here: the login
-- role is DATABASE_URL's, its password comes from the passfile (PGPASSFILE, ~/.pgpass) or, without
-- an entry there, from DATABASE_URL; a server named in APPCITAS_SERVERS uses that URL instead.
CREATE TABLE public.servidores (
    nombre     text PRIMARY KEY CHECK (nombre ~ '^[a-z][a-z0-9_]{0,62}$' AND nombre <> 'default'),
    host       text NOT NULL CHECK (host <> ''),
    puerto     integer NOT NULL DEFAULT 5432 CHECK (puerto BETWEEN 1 AND 65535),
    base       text NOT NULL CHECK (base <> ''),
    -- parametros are extra connection parameters as a query string (sslmode=require&...).
    parametros text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every change to a server is announced on the catalog channel with the payload
-- 'servidor:<nombre>', so running processes drop what they cached of it.
CREATE FUNCTION public.appcitas_servidor_aviso() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('appcitas_organizacion', 'servidor:' || OLD.nombre);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('appcitas_organizacion', 'servidor:' || NEW.nombre);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER servidores_aviso
    AFTER INSERT OR UPDATE OR DELETE ON public.servidores
    FOR EACH ROW EXECUTE FUNCTION public.appcitas_servidor_aviso();
