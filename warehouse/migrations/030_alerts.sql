-- Regression alerts (warehouse/alerts.py, docs/alerts.md).
-- alert_state: one row per (rule, key) ever alarmed: open while the regression lasts, with the
-- baseline it was judged against (kept fixed while open, so a long regression is not absorbed
-- into a sliding baseline) and the change last notified (to re-notify only on worsening).
CREATE TABLE alert_state (
    rule VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    direction VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- open / closed
    since_week VARCHAR,                 -- first week of the recent window when it opened
    baseline_label VARCHAR,             -- e.g. 2026-W20..2026-W31
    baseline_center DOUBLE,             -- on the detection scale (log)
    baseline_scale DOUBLE,
    baseline_value DOUBLE,              -- in the metric's unit, for messages
    notified_change DOUBLE,
    last_change DOUBLE,
    opened_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, key)
);

-- alert_outbox: every message to send, one row per channel, kept until delivered. A failed
-- delivery stays here (attempts, last_error) and is sent by the next run: none lost, none twice.
CREATE TABLE alert_outbox (
    id BIGINT PRIMARY KEY,              -- in order of creation
    created_at TIMESTAMPTZ NOT NULL,
    channel VARCHAR NOT NULL,           -- slack / webhook
    event VARCHAR NOT NULL,             -- regression / worsened / recovered
    rule VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    message VARCHAR NOT NULL,           -- JSON: what regressed, for whom, by how much, since when
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    delivered_at TIMESTAMPTZ
);
