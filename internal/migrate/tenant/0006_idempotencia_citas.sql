-- Idempotency-Key of POST /api/citas (issue 25). A booking whose answer was lost (a broken
-- connection, a 503 outcome_unknown) is retried with the same key: the retry finds the key and
-- answers with the appointment it booked instead of booking a second one. The key is claimed in
-- the same transaction as the appointment's insert, so it exists exactly when the appointment
-- does. Keys are kept for 24 hours; the booking package deletes older ones as it goes.
--
-- Only the primary key: one more index would be one more relation for every backend serving
-- the tenant to cache.
CREATE TABLE citas_idempotencia (
    clave          text        PRIMARY KEY CHECK (length(clave) BETWEEN 1 AND 200),
    -- The request's fingerprint (sha256 of the caller's profile and the booking's fields).
    solicitud_hash text        NOT NULL,
    -- The appointment the key booked; NULL only inside the transaction that claims the key.
    cita_id        bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);

ANALYZE citas_idempotencia;
