-- Cases for entries (issue 13): an entry that failed LEDGER_MAX_ATTEMPTS times is set aside
-- like one that can never be recorded, and both become cases in the same transaction. An ops
-- `retry` puts a set-aside entry back in the queue; `ops_retries` counts those, so an entry that
-- fails past its retries again opens a new case instead of counting on the resolved one.
-- Expand-only: a NOT NULL column with a constant default is metadata only (no rewrite), and a
-- new table. A worker of the previous release ignores both.
ALTER TABLE ledger_entries ADD COLUMN ops_retries INTEGER NOT NULL DEFAULT 0;

-- One row per `python -m ledger audit` that ran to its end: the service's /metrics reads the
-- last run and the total of mismatches found from here (the audit is a process of its own,
-- whose counters would die with it).
CREATE TABLE audit_runs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    checked      BIGINT      NOT NULL CHECK (checked >= 0),
    mismatches   BIGINT      NOT NULL CHECK (mismatches >= 0),
    cases_opened BIGINT      NOT NULL CHECK (cases_opened >= 0)
);
CREATE INDEX audit_runs_newest ON audit_runs (finished_at DESC);
