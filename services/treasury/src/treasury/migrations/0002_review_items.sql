-- What a person must resolve that is neither a held deposit (unmatched_deposits) nor a signed
-- notification we could not read (refused_notifications):
--   deposit_reference_reused  Wema repeated a transaction_reference we already credited or
--                             held, with another amount or account. No money moved for it.
--   orphaned_wema_reference   a reference we sent Wema to open an account that no account of
--                             ours carries any more (its claim changed BVN, expired, or was
--                             refused after a call whose outcome we never learnt): Wema may
--                             hold an account opened under it, which must be found and closed.
-- The same thing seen again (same reason, reference and fingerprint) is the same item.
CREATE TABLE review_items (
    id           VARCHAR(40)  PRIMARY KEY,
    reason       VARCHAR(32)  NOT NULL
                 CHECK (reason IN ('deposit_reference_reused', 'orphaned_wema_reference')),
    reference    VARCHAR(128) NOT NULL,  -- Wema's transaction_reference, or our account reference
    fingerprint  CHAR(64)     NOT NULL,  -- sha256 of what was seen
    detail       JSONB        NOT NULL,
    occurrences  INTEGER      NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    resolved_at  TIMESTAMPTZ,
    UNIQUE (reason, reference, fingerprint)
);
CREATE INDEX idx_review_items_open ON review_items (created_at) WHERE resolved_at IS NULL;
