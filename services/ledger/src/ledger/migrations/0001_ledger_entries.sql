-- One row per settled big win: claimed as `pending`, `submitted` once its recordBets transaction
-- is sent, `confirmed` once that transaction is final; `failed` entries are retried with backoff.
CREATE TABLE ledger_entries (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bet_slip_id       VARCHAR(128)   NOT NULL UNIQUE,
    -- hex SHA-256 of the bet slip id's UTF-8 bytes: the key the contract stores the win under
    bet_hash          CHAR(64)       NOT NULL UNIQUE CHECK (bet_hash ~ '^[0-9a-f]{64}$'),
    win_amount        NUMERIC(20, 2) NOT NULL CHECK (win_amount >= 0),
    network           VARCHAR(32)    NOT NULL DEFAULT 'polygon-amoy',
    status            VARCHAR(16)    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'submitted', 'confirmed', 'failed')),
    -- the transaction that recorded the win (the last one sent while it is in flight)
    tx_hash           VARCHAR(66),
    block_number      BIGINT,
    -- every transaction ever sent for this entry: originals and fee-bumped replacements
    sent_tx_hashes    TEXT[]         NOT NULL DEFAULT '{}',
    -- set just before the first send: from here on the win may be on chain, and the recovery
    -- searches BetRecorded events from this block
    search_from_block BIGINT,
    attempts          INTEGER        NOT NULL DEFAULT 0,  -- failed attempts; drives the backoff
    next_attempt_at   TIMESTAMPTZ    NOT NULL DEFAULT now(),
    error_message     TEXT,
    created_at        TIMESTAMPTZ    NOT NULL DEFAULT now(),
    submitted_at      TIMESTAMPTZ,
    confirmed_at      TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CONSTRAINT confirmed_has_evidence CHECK (
        status <> 'confirmed'
        OR (tx_hash IS NOT NULL AND block_number IS NOT NULL AND confirmed_at IS NOT NULL)
    )
);

-- The worker's queue: only unfinished entries, in the order they fall due.
CREATE INDEX ledger_entries_due ON ledger_entries (next_attempt_at, id) WHERE status <> 'confirmed';
-- The API: newest first, optionally per status or between dates.
CREATE INDEX ledger_entries_status ON ledger_entries (status, id);
CREATE INDEX ledger_entries_created_at ON ledger_entries (created_at, id);
