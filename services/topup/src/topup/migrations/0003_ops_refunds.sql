-- Operations (docs/DESIGN.md, "Topup operations"): a refund or settlement an ops action caused
-- records its source as 'ops'. Widening the CHECK is an expansion: the running release writes
-- only values the new constraint still accepts. The cases, their actions and the audit are the
-- common migration's tables in this schema.
ALTER TABLE refunds DROP CONSTRAINT IF EXISTS refunds_source_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_source_check
    CHECK (source IN ('process', 'webhook', 'query', 'ops'));
