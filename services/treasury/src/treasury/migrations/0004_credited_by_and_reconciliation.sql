-- Reconciliation with Wema's transaction listing.
-- `credited_by` says which path credited a deposit: the notification, or reconciliation (the
-- notification never came). Expand only: the previous release, which has only the webhook,
-- keeps writing rows during a deploy, and the default is true of them. A constant default and a
-- CHECK on the new column only: PostgreSQL neither rewrites the table nor scans it long.
ALTER TABLE bank_transactions
    ADD COLUMN credited_by VARCHAR(16) NOT NULL DEFAULT 'webhook'
        CHECK (credited_by IN ('webhook', 'reconciliation'));

-- The one reconciliation state row: how far the listing has been read (the next tick starts
-- there, less the overlap) and when a tick last started (so that replicas tick once per
-- interval between them, not once each).
CREATE TABLE reconcile_state (
    id              BOOLEAN     PRIMARY KEY DEFAULT true CHECK (id),
    covered_to      TIMESTAMPTZ,
    last_started_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO reconcile_state (id) VALUES (true);
