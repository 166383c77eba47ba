-- The login role of the cross-tenant query (query_all_tenants, POST /api/admin/query), one per
-- server that holds tenants. appcitas creates it when first needed: "consulta_" + 8 random hex
-- digits, so that several appcitas databases on one cluster do not share it. It logs in with the
-- password kept here, is a member of no role, reads tenant tables only and is read-only.
-- Only the application's login role (the owner) reads this table.
CREATE TABLE public.rol_consulta (
    database_name text        PRIMARY KEY CHECK (database_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    rol           text        NOT NULL UNIQUE CHECK (rol ~ '^consulta_[0-9a-f]{8}$'),
    clave         text        NOT NULL,
    creado_en     timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON public.rol_consulta FROM PUBLIC;
