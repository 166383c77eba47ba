-- Invitations to join an organization (issue 22, item 5). An admin invites an e-mail address with
-- a role; the e-mail carries a random token, and only its SHA-256 is kept here. The invitee accepts
-- with the token: a new user chooses a username and password, an existing user signs in. An
-- invitation is pending until it is accepted, revoked or past expira_at. Owned by the invitations
-- package.
CREATE TABLE public.usuarios_invitacion (
    id              bigserial   PRIMARY KEY,
    organizacion_id bigint      NOT NULL REFERENCES public.organizacion_organizacion (id) ON DELETE CASCADE,
    email           text        NOT NULL CHECK (email <> '' AND length(email) <= 254),
    role            text        NOT NULL CHECK (role IN ('admin', 'staff', 'receptionist')),
    nombre_visible  text        NOT NULL DEFAULT '' CHECK (length(nombre_visible) <= 200),
    token_hash      bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    invitado_por    bigint      REFERENCES public.auth_user (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expira_at       timestamptz NOT NULL,
    aceptada_at     timestamptz,
    aceptada_por    bigint      REFERENCES public.auth_user (id) ON DELETE SET NULL,
    revocada_at     timestamptz
);
CREATE INDEX usuarios_invitacion_pendiente_idx ON public.usuarios_invitacion (organizacion_id, lower(email))
    WHERE aceptada_at IS NULL AND revocada_at IS NULL;
