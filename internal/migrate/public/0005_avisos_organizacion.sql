-- Every change to the organization catalog is announced on the channel appcitas_organizacion with
-- the organization's id, whoever makes it (this process, another appcitas command, psql), so that
-- the API's organization cache drops that entry at once instead of waiting for its TTL. A
-- NOTIFY is delivered at commit, and only if the transaction commits.
CREATE FUNCTION public.appcitas_organizacion_aviso() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('appcitas_organizacion', OLD.id::text);
    ELSE
        PERFORM pg_notify('appcitas_organizacion', NEW.id::text);
        IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
            PERFORM pg_notify('appcitas_organizacion', OLD.id::text);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER organizacion_organizacion_aviso
    AFTER INSERT OR UPDATE OR DELETE ON public.organizacion_organizacion
    FOR EACH ROW EXECUTE FUNCTION public.appcitas_organizacion_aviso();
