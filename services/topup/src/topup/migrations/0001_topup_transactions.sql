-- Topup purchases (the spec's table, with types tightened) and what reconciliation needs.
-- Unqualified names: the migration runner sets search_path to `topup, public`.
CREATE TABLE topup_transactions (
    id                 VARCHAR(64)    PRIMARY KEY,                  -- top_<hex>, shown to clients
    user_id            VARCHAR(128)   NOT NULL,
    phone              VARCHAR(16)    NOT NULL,                     -- E.164
    carrier            VARCHAR(16)    NOT NULL CHECK (carrier IN ('mtn', 'airtel', 'glo', '9mobile')),
    amount             NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    type               VARCHAR(8)     NOT NULL CHECK (type IN ('airtime', 'data')),
    status             VARCHAR(16)    NOT NULL DEFAULT 'pending'
                                      CHECK (status IN ('pending', 'completed', 'failed')),
    reference          VARCHAR(64)    NOT NULL UNIQUE,              -- Selcom's transid
    external_reference VARCHAR(128),                                -- Selcom's own reference
    -- Not UNIQUE on its own (unlike the spec): a derived key must allow the same purchase again
    -- after the 24 h window. The money is guarded by idempotency_keys' primary key, claimed in
    -- the same transaction as the debit.
    idempotency_key    VARCHAR(255)   NOT NULL,
    metadata           JSONB          NOT NULL DEFAULT '{}'::jsonb,
    error_message      TEXT,
    result_code        VARCHAR(16),                                  -- last code Selcom gave
    submitted_at       TIMESTAMPTZ,                                  -- first process call answered or timed out
    attempts           INTEGER        NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- status queries
    next_check_at      TIMESTAMPTZ    NOT NULL,                      -- when reconciliation looks next
    review_flag        VARCHAR(32)    CHECK (review_flag IN ('sla_breached', 'contradicting_status')),
    completed_at       TIMESTAMPTZ,
    failed_at          TIMESTAMPTZ,
    created_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CHECK (status <> 'completed' OR completed_at IS NOT NULL),
    CHECK (status <> 'failed' OR failed_at IS NOT NULL)
);

CREATE INDEX idx_topup_user_id ON topup_transactions (user_id, created_at DESC, id DESC);
CREATE INDEX idx_topup_status ON topup_transactions (status);
CREATE INDEX idx_topup_idempotency ON topup_transactions (user_id, idempotency_key);
-- Reconciliation scans only what is still open.
CREATE INDEX idx_topup_pending_due ON topup_transactions (next_check_at) WHERE status = 'pending';

-- One row per refund; the primary key makes a second refund of the same topup impossible.
CREATE TABLE refunds (
    topup_id   VARCHAR(64)    PRIMARY KEY REFERENCES topup_transactions (id),
    user_id    VARCHAR(128)   NOT NULL,
    amount     NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    source     VARCHAR(16)    NOT NULL CHECK (source IN ('process', 'webhook', 'query')),
    reason     TEXT,
    created_at TIMESTAMPTZ    NOT NULL DEFAULT now()
);

-- Every webhook whose signature verified, and what we did with it (audit trail).
CREATE TABLE webhook_events (
    id           BIGSERIAL    PRIMARY KEY,
    order_id     VARCHAR(128) NOT NULL,
    status       VARCHAR(32)  NOT NULL,
    reference_id VARCHAR(128),
    result_code  VARCHAR(16),
    outcome      VARCHAR(24)  NOT NULL CHECK (outcome IN
                   ('applied', 'duplicate', 'contradicting', 'unknown_reference', 'noted')),
    payload      JSONB        NOT NULL,
    received_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhook_events_order_id ON webhook_events (order_id);

-- What a human must look at. One item per reference and reason; repeats bump a counter.
CREATE TABLE review_items (
    id           BIGSERIAL    PRIMARY KEY,
    reference    VARCHAR(128) NOT NULL,
    topup_id     VARCHAR(64)  REFERENCES topup_transactions (id),
    reason       VARCHAR(32)  NOT NULL CHECK (reason IN
                   ('unknown_reference', 'contradicting_status', 'sla_breached')),
    detail       JSONB        NOT NULL DEFAULT '{}'::jsonb,
    occurrences  INTEGER      NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    resolved_at  TIMESTAMPTZ,
    UNIQUE (reference, reason)
);
