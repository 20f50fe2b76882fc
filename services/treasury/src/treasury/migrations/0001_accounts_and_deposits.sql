-- Wema virtual accounts, the deposits credited to them, and deposits held for review.
-- Names are unqualified: the migration runner sets search_path to `treasury, public`.

CREATE TABLE bank_accounts (
    id             VARCHAR(40)    PRIMARY KEY,
    user_id        VARCHAR(128)   NOT NULL UNIQUE,  -- one account per user, enforced here
    -- NULL while the row is a 'creating' claim; set from Wema's answer on activation.
    account_number VARCHAR(10)    UNIQUE CHECK (account_number ~ '^[0-9]{10}$'),
    account_name   VARCHAR(200)   NOT NULL,
    bank_name      VARCHAR(64)    NOT NULL DEFAULT 'Wema Bank',
    bank_code      VARCHAR(6)     NOT NULL DEFAULT '035',
    balance        NUMERIC(20, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    status         VARCHAR(16)    NOT NULL DEFAULT 'creating'
                   CHECK (status IN ('creating', 'active', 'suspended', 'closed')),
    -- Our idempotency reference at Wema: a retry of a failed creation sends the same one.
    reference      VARCHAR(64)    NOT NULL UNIQUE,
    -- AES-256-GCM (version byte, nonce, ciphertext+tag); the user id is the associated data.
    bvn_encrypted  BYTEA          NOT NULL,
    -- HMAC-SHA256 of the BVN under a key derived from BVN_ENCRYPTION_KEY: one BVN, one account.
    bvn_hash       BYTEA          NOT NULL UNIQUE,
    -- While one request talks to Wema for a 'creating' claim, the others keep off until then.
    locked_until   TIMESTAMPTZ,
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CHECK (status = 'creating' OR account_number IS NOT NULL)
);

CREATE TABLE bank_transactions (
    id                    VARCHAR(40)    PRIMARY KEY,
    bank_account_id       VARCHAR(40)    NOT NULL REFERENCES bank_accounts (id),
    user_id               VARCHAR(128)   NOT NULL,
    type                  VARCHAR(8)     NOT NULL CHECK (type IN ('credit', 'debit')),
    amount                NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    transaction_reference VARCHAR(128)   NOT NULL UNIQUE,  -- exactly once per Wema reference
    sender_name           VARCHAR(200),
    sender_account        VARCHAR(20),
    sender_bank           VARCHAR(100),
    narration             TEXT,
    transaction_date      TIMESTAMPTZ    NOT NULL,
    status                VARCHAR(16)    NOT NULL DEFAULT 'completed'
                          CHECK (status IN ('completed', 'reversed')),
    created_at            TIMESTAMPTZ    NOT NULL DEFAULT now()
);

-- The history page reads a user's deposits newest first, keyset-paginated on (date, id).
CREATE INDEX idx_bank_tx_user_date ON bank_transactions (user_id, transaction_date DESC, id DESC);

-- Deposits Wema reported for an account we cannot credit (unknown, suspended, closed, or its
-- user row is gone). Nobody is credited; a person resolves them.
CREATE TABLE unmatched_deposits (
    id                    VARCHAR(40)    PRIMARY KEY,
    account_number        VARCHAR(10)    NOT NULL,
    bank_account_id       VARCHAR(40),
    reason                VARCHAR(32)    NOT NULL
                          CHECK (reason IN ('unknown_account', 'account_suspended',
                                            'account_closed', 'user_missing')),
    amount                NUMERIC(20, 2) NOT NULL CHECK (amount > 0),
    transaction_reference VARCHAR(128)   NOT NULL UNIQUE,  -- a re-delivery is a no-op
    payload               JSONB          NOT NULL,
    transaction_date      TIMESTAMPTZ    NOT NULL,
    resolved_at           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX idx_unmatched_open ON unmatched_deposits (created_at) WHERE resolved_at IS NULL;
