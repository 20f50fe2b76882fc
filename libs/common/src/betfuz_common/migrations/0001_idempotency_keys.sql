-- Idempotency store (IETF Idempotency-Key semantics), one per service schema.
-- Unqualified names: the runner sets search_path to the owning service's schema.
CREATE TABLE idempotency_keys (
    scope          VARCHAR(128) NOT NULL,           -- who: the caller's user id
    key            VARCHAR(255) NOT NULL,
    request_hash   CHAR(64)     NOT NULL,           -- sha256 of the canonical request
    state          VARCHAR(16)  NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'done')),
    response_status SMALLINT,
    response_body  BYTEA,
    locked_until   TIMESTAMPTZ  NOT NULL,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idx_idempotency_keys_expires_at ON idempotency_keys (expires_at);
