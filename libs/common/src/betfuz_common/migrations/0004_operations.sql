-- Operations: every exception a service cannot resolve by itself is a case; a person resolves
-- it through the ops API, never with SQL. An action that moves money is proposed by one ops
-- user and applied only when another approves it. Unqualified names: the runner sets
-- search_path to the owning service's schema.
CREATE TABLE cases (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        VARCHAR(48)  NOT NULL,             -- e.g. sla_breached, deposit_held
    subject     VARCHAR(200) NOT NULL,             -- what it is about: a reference, a bet slip
    reason      TEXT         NOT NULL,
    refs        JSONB        NOT NULL DEFAULT '{}'::jsonb,  -- every reference involved
    amounts     JSONB        NOT NULL DEFAULT '{}'::jsonb,  -- name -> Naira, exact
    detail      JSONB        NOT NULL DEFAULT '{}'::jsonb,
    status      VARCHAR(16)  NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution  VARCHAR(48),                        -- the action that resolved it
    occurrences INTEGER      NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    -- One case per thing that went wrong: a repeat of the same exception is the same case.
    UNIQUE (kind, subject),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX cases_by_status ON cases (status, created_at DESC, id DESC);

CREATE TABLE case_actions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     BIGINT       NOT NULL REFERENCES cases (id),
    action      VARCHAR(32)  NOT NULL,
    parameters  JSONB        NOT NULL DEFAULT '{}'::jsonb,
    reason      TEXT         NOT NULL,
    moves_money BOOLEAN      NOT NULL,
    needs_approval BOOLEAN   NOT NULL,             -- proposed, then decided by another ops user
    status      VARCHAR(16)  NOT NULL
                CHECK (status IN ('proposed', 'applied', 'rejected', 'failed')),
    proposed_by VARCHAR(128) NOT NULL,
    decided_by  VARCHAR(128),
    outcome     JSONB,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    decided_at  TIMESTAMPTZ,
    -- Four eyes: whoever decides a proposal is not who proposed it.
    CHECK (decided_by IS NULL OR NOT needs_approval OR decided_by <> proposed_by)
);
CREATE INDEX case_actions_by_case ON case_actions (case_id, id);
-- At most one proposal waiting per case: two people cannot race two different resolutions.
CREATE UNIQUE INDEX case_actions_one_proposal ON case_actions (case_id) WHERE status = 'proposed';

CREATE TABLE ops_audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    actor       VARCHAR(128) NOT NULL,
    request     VARCHAR(64)  NOT NULL,             -- what was asked: list_cases, approve, ...
    case_id     BIGINT,
    action_id   BIGINT,
    reason      TEXT,
    before      JSONB,
    after       JSONB,
    request_id  VARCHAR(128) NOT NULL
);
CREATE INDEX ops_audit_newest ON ops_audit (id DESC);

-- Append-only, whoever asks: the service's own role cannot rewrite what it did.
CREATE FUNCTION ops_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops_audit is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER ops_audit_no_update_or_delete BEFORE UPDATE OR DELETE ON ops_audit
    FOR EACH ROW EXECUTE FUNCTION ops_audit_is_append_only();
CREATE TRIGGER ops_audit_no_truncate BEFORE TRUNCATE ON ops_audit
    FOR EACH STATEMENT EXECUTE FUNCTION ops_audit_is_append_only();
