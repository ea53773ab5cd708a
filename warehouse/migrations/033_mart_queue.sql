-- What the precomputed tables (warehouse/precompute.py) still have to recompute, written in
-- the same transaction as the data that makes it necessary, so that a refresh killed half-way
-- is finished by the next one:
--   mart_dirty_repos: the repositories a load touched ('*': every one, e.g. a new file);
--   mart_dirty_periods: the periods whose aggregates recomputed rows moved.
CREATE TABLE mart_dirty_repos (repo VARCHAR NOT NULL);
CREATE TABLE mart_dirty_periods (period_kind VARCHAR NOT NULL, period_start DATE NOT NULL);
INSERT INTO mart_dirty_repos VALUES ('*');
-- The earlier precomputed layout (whole tables rebuilt at every load) is rebuilt in the new one.
DROP TABLE IF EXISTS mart_metrics;
DROP TABLE IF EXISTS mart_state;
DROP TABLE IF EXISTS mart_prod_deployments;
DROP TABLE IF EXISTS mart_change_lead_times;
