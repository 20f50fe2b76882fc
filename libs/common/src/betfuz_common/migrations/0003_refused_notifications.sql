-- Provider notifications whose signature verified but whose content we refused (malformed,
-- out of range, a field we cannot store). The provider signed a notice of money: its raw bytes
-- are kept (BYTEA: even a NUL survives) before the refusal is answered, for a person to resolve.
-- A redelivery of the same bytes is the same row.
CREATE TABLE refused_notifications (
    id             BIGSERIAL    PRIMARY KEY,
    provider       VARCHAR(32)  NOT NULL,
    payload        BYTEA        NOT NULL,
    payload_sha256 CHAR(64)     NOT NULL UNIQUE,
    reason         TEXT         NOT NULL,
    deliveries     INTEGER      NOT NULL DEFAULT 1,
    received_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_seen_at   TIMESTAMPTZ  NOT NULL DEFAULT now()
);
