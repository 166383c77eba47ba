-- Which tenants have reminders coming, and from when (package reminders). One row per
-- organization with pending reminders: proximo_en is the earliest, or earlier (a 5-minute
-- bucket's start); never later. The server's listener writes it from the tenants' notifications
-- (channel appcitas_recordatorios), each tenant's reminder job rewrites it after a batch, and a
-- slow sweep rebuilds it. The dispatcher reads only rows that are due, through the index, so the
-- cost of finding work does not grow with the number of tenants.
-- version changes with every write: a job that read version v overwrites proximo_en only if no
-- notification moved it in between. encolado_en is when the dispatcher last queued the tenant's
-- job, in the transaction that inserted it: the next dispatch skips it (for 10 minutes) and takes
-- the next due tenants; the job's rewrite clears it.
CREATE TABLE public.recordatorios_agenda (
    organizacion_id bigint      PRIMARY KEY REFERENCES public.organizacion_organizacion (id) ON DELETE CASCADE,
    proximo_en      timestamptz NOT NULL,
    version         bigint      NOT NULL DEFAULT 1,
    encolado_en     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordatorios_agenda_proximo_idx ON public.recordatorios_agenda (proximo_en);
