-- Sessions: session_generation counts the user's "sign out everywhere". Every access token
-- carries the generation it was issued at; a token of an older generation is refused.
ALTER TABLE public.auth_user ADD COLUMN session_generation bigint NOT NULL DEFAULT 0;

-- Every change to a user's standing (created, deleted, activated, deactivated, superuser granted
-- or removed, sessions revoked) is announced on the catalog channel, appcitas_organizacion, with
-- the payload 'usuario:<id>', whoever makes it (this process, another appcitas command, psql).
-- The API's user cache then drops that user at once, so that the next request uses the new
-- standing. Other changes (a login, a new password, a renamed user) are not announced. A NOTIFY is
-- delivered at commit, and only if the transaction commits.
CREATE FUNCTION public.appcitas_usuario_aviso() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('appcitas_organizacion', 'usuario:' || OLD.id);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND NEW.is_active = OLD.is_active AND NEW.is_superuser = OLD.is_superuser
           AND NEW.session_generation = OLD.session_generation THEN
            RETURN NULL;
        END IF;
        IF NEW.id <> OLD.id THEN
            PERFORM pg_notify('appcitas_organizacion', 'usuario:' || OLD.id);
        END IF;
    END IF;
    PERFORM pg_notify('appcitas_organizacion', 'usuario:' || NEW.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER auth_user_aviso
    AFTER INSERT OR UPDATE OR DELETE ON public.auth_user
    FOR EACH ROW EXECUTE FUNCTION public.appcitas_usuario_aviso();
