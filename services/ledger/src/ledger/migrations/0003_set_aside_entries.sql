-- An entry that can never be recorded (a win the contract cannot hold, a bet hash that is not
-- the SHA-256 of its bet slip id) is set aside: `failed` with its error, and `set_aside_at` says
-- when the worker gave up on it. No later tick picks it (it leaves the queue's index too); it
-- stays here, queryable, until a person decides what becomes of it.
-- Expand-only: a nullable column without a default and new indexes; nothing is rewritten. (A
-- worker of the previous release, still running during a deploy, knows no set_aside_at and may
-- try such an entry once more: it fails as it did before, and its batch is retried.)
ALTER TABLE ledger_entries ADD COLUMN set_aside_at TIMESTAMPTZ;
ALTER TABLE ledger_entries ADD CONSTRAINT set_aside_is_failed
    CHECK (set_aside_at IS NULL OR status = 'failed');

-- The worker's queue: unfinished entries that are still to be tried, in the order they fall due.
DROP INDEX ledger_entries_due;
CREATE INDEX ledger_entries_due ON ledger_entries (next_attempt_at, id)
    WHERE status <> 'confirmed' AND set_aside_at IS NULL;
-- What operations look at: the entries set aside, oldest first.
CREATE INDEX ledger_entries_set_aside ON ledger_entries (set_aside_at, id)
    WHERE set_aside_at IS NOT NULL;
