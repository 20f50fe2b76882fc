-- Expand: keys store the domain result of the first request (JSON), not HTTP bytes.
-- response_status/response_body stay until a contract migration: the previous release still
-- writes them while both run during a deploy, and a row it finished (result NULL) is replayed
-- by looking its resource up.
ALTER TABLE idempotency_keys ADD COLUMN result JSONB;
