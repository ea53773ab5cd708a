-- The sequential detector (warehouse/alert_detect.py) and delivery failures (docs/alerts.md).
-- alert_state: the week a regression was raised and the CUSUM's evidence at the last run.
ALTER TABLE alert_state ADD COLUMN opened_week VARCHAR;
ALTER TABLE alert_state ADD COLUMN cusum DOUBLE;
-- alert_outbox: a message whose channel answered for good (410 channel_is_archived, 404, 403,
-- 400 invalid_payload) leaves the queue: failed_at is set and last_error says why.
ALTER TABLE alert_outbox ADD COLUMN failed_at TIMESTAMPTZ;
