-- Owner notices are claimed before they are sent (issue 5, "each sent once"): a deliverer marks
-- the notice as sending (reclamada_en, and intentos + 1) in a committed transaction, then talks to
-- SMTP, then marks it sent (enviada_en). A notice left sending (the process died in between) is
-- not sent again by itself: operators see it and may resend it explicitly.
ALTER TABLE public.billing_notificacion ADD COLUMN reclamada_en timestamptz;
DROP INDEX public.billing_notificacion_pendiente_idx;
CREATE INDEX billing_notificacion_pendiente_idx ON public.billing_notificacion (id)
    WHERE enviada_en IS NULL AND reclamada_en IS NULL;
CREATE INDEX billing_notificacion_enviando_idx ON public.billing_notificacion (reclamada_en)
    WHERE enviada_en IS NULL AND reclamada_en IS NOT NULL;
