-- Every change to a subscription is announced on the organization channel, appcitas_organizacion,
-- with its organization's id, whoever makes it (a webhook, the billing sweep of any appcitas
-- process, the dashboard, psql): the billing service then drops the organization's cached
-- subscription state at once, so that it can keep it for an hour instead of reading it again on
-- almost every request of a fleet of thousands of tenants. A NOTIFY is delivered at commit, and
-- only if the transaction commits; identical notifications of one transaction are folded into one.
CREATE FUNCTION public.appcitas_suscripcion_aviso() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('appcitas_organizacion', OLD.organizacion_id::text);
    ELSE
        PERFORM pg_notify('appcitas_organizacion', NEW.organizacion_id::text);
        IF TG_OP = 'UPDATE' AND NEW.organizacion_id <> OLD.organizacion_id THEN
            PERFORM pg_notify('appcitas_organizacion', OLD.organizacion_id::text);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER billing_suscripcion_aviso
    AFTER INSERT OR UPDATE OR DELETE ON public.billing_suscripcion
    FOR EACH ROW EXECUTE FUNCTION public.appcitas_suscripcion_aviso();
