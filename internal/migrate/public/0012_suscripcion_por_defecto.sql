-- Every organization has a subscription (issue 20, item 5). One made without one (create_organization,
-- demo, a restore as a new organization, psql) gets, when its transaction commits, a trial on the
-- default plan: 'basico' when offered, else the cheapest plan offered. The trial lasts the plan's
-- dias_prueba; a plan without trial days starts active with its first period due at once, as a
-- signup's does. A signup, or create_organization --plan, creates the subscription in the same
-- transaction, and this leaves it alone.
CREATE FUNCTION public.billing_prueba_por_defecto(org bigint, causa text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p   public.billing_plan;
    sub bigint;
    ini timestamptz := now();
    fin timestamptz;
BEGIN
    IF NOT EXISTS (SELECT FROM public.organizacion_organizacion WHERE id = org)
       OR EXISTS (SELECT FROM public.billing_suscripcion WHERE organizacion_id = org) THEN
        RETURN;
    END IF;
    SELECT * INTO p FROM public.billing_plan WHERE is_active
        ORDER BY codigo = 'basico' DESC, precio_mensual_centavos, id LIMIT 1;
    IF NOT FOUND THEN
        RETURN; -- no plan is offered: nothing to subscribe to
    END IF;
    IF p.dias_prueba > 0 THEN
        fin := ini + make_interval(days => p.dias_prueba);
        INSERT INTO public.billing_suscripcion
                (organizacion_id, plan_id, estado, prueba_termina_en, periodo_actual_inicio, periodo_actual_fin)
            VALUES (org, p.id, 'trialing', fin, ini, fin)
            ON CONFLICT (organizacion_id) DO NOTHING RETURNING id INTO sub;
    ELSE
        INSERT INTO public.billing_suscripcion
                (organizacion_id, plan_id, estado, periodo_actual_inicio, periodo_actual_fin)
            VALUES (org, p.id, 'active', ini, ini + interval '1 second')
            ON CONFLICT (organizacion_id) DO NOTHING RETURNING id INTO sub;
    END IF;
    IF sub IS NOT NULL THEN
        INSERT INTO public.billing_suscripcion_evento (suscripcion_id, desde, hasta, causa, detalle, en)
            VALUES (sub, '', CASE WHEN p.dias_prueba > 0 THEN 'trialing' ELSE 'active' END, causa, 'plan ' || p.codigo, ini);
    END IF;
END;
$$;

CREATE FUNCTION public.billing_suscripcion_por_defecto() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.billing_prueba_por_defecto(NEW.id, 'default trial');
    RETURN NULL;
END;
$$;

-- Deferred: it runs at commit, after whatever else the transaction did (a signup's own trial).
CREATE CONSTRAINT TRIGGER organizacion_suscripcion_por_defecto
    AFTER INSERT ON public.organizacion_organizacion
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.billing_suscripcion_por_defecto();

-- The organizations made before this migration without a subscription get their trial now.
SELECT public.billing_prueba_por_defecto(id, 'migration 0012: default trial')
FROM public.organizacion_organizacion o
WHERE NOT EXISTS (SELECT FROM public.billing_suscripcion s WHERE s.organizacion_id = o.id);
