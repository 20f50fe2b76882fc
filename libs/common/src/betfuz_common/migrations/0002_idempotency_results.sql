-- Expand: keys store the domain result of the first request (JSON), not HTTP bytes, and the
-- scope (operation + caller) gets room for a 128-character subject beside the operation name.
-- Widening a VARCHAR rewrites nothing. response_status/response_body stay until a contract
-- migration: the previous release still writes them while both run during a deploy, and a row
-- it finished (result NULL) is replayed by looking its resource up.
ALTER TABLE idempotency_keys ADD COLUMN result JSONB;
ALTER TABLE idempotency_keys ALTER COLUMN scope TYPE VARCHAR(300);
