-- A counter every load bumps inside its transaction: the precomputed tables
-- (warehouse/precompute.py) record the count they were built from, so a reader can tell
-- whether they still describe the data.
CREATE TABLE load_version (version BIGINT NOT NULL);
INSERT INTO load_version VALUES (0);

-- When each source's last load committed (an import, a sync, the demo): the dashboard's
-- "data as of" line.
CREATE TABLE source_loads (source VARCHAR PRIMARY KEY, loaded_at TIMESTAMPTZ NOT NULL);
