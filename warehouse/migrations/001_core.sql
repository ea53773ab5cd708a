-- Core schema. Every table states its natural key; loads are upserts on that key
-- (see Warehouse.load in warehouse/db.py), so loading the same rows twice changes nothing.
-- All timestamps are TIMESTAMPTZ and stored as instants; the session time zone is UTC.

-- Which team owns a repository. Key: repo.
CREATE TABLE teams (
    repo VARCHAR NOT NULL,
    team VARCHAR NOT NULL,
    source VARCHAR
);

-- One row per deployment attempt that reached a terminal status. Key: deployment_id.
-- finished_at is the first terminal status, never a later `inactive`.
CREATE TABLE deployments (
    deployment_id VARCHAR NOT NULL,
    repo VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('success', 'failure')),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ NOT NULL,
    sha VARCHAR,
    team VARCHAR,
    service VARCHAR,
    is_rollback BOOLEAN,
    is_hotfix BOOLEAN,
    source VARCHAR
);

-- Commits. Key: (repo, sha). deployment_id: the deployment that first shipped it.
CREATE TABLE changes (
    repo VARCHAR NOT NULL,
    sha VARCHAR NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    authored_at TIMESTAMPTZ,
    author VARCHAR,
    pr_number BIGINT,
    deployment_id VARCHAR,
    source VARCHAR
);

-- Pull requests. Key: (repo, number). reviewers and labels are `;`-separated.
CREATE TABLE pull_requests (
    repo VARCHAR NOT NULL,
    number BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    merged_at TIMESTAMPTZ,
    author VARCHAR,
    first_commit_at TIMESTAMPTZ,
    first_review_at TIMESTAMPTZ,
    approved_at TIMESTAMPTZ,
    merge_sha VARCHAR,
    reviewers VARCHAR,
    labels VARCHAR,
    source VARCHAR
);

-- Reviews of pull requests. Key: (repo, number, review_id).
CREATE TABLE reviews (
    repo VARCHAR NOT NULL,
    number BIGINT NOT NULL,
    review_id VARCHAR NOT NULL,
    reviewer VARCHAR,
    state VARCHAR,
    submitted_at TIMESTAMPTZ,
    source VARCHAR
);

-- Incidents. Key: incident_id. deployment_id: the deployment that caused it, if known.
CREATE TABLE incidents (
    incident_id VARCHAR NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    repo VARCHAR,
    service VARCHAR,
    team VARCHAR,
    severity VARCHAR,
    deployment_id VARCHAR,
    source VARCHAR
);

-- Platform initiatives. Key: name. teams is `;`-separated.
CREATE TABLE initiatives (
    name VARCHAR NOT NULL,
    started_on DATE NOT NULL,
    teams VARCHAR,
    kind VARCHAR,
    ramp_weeks INTEGER,
    ended_on DATE,
    description VARCHAR,
    source VARCHAR
);

-- Incremental sync cursors, owned by the warehouse. Key: (source, scope, resource).
-- A cursor is advanced in the same transaction as the rows it covers.
CREATE TABLE sync_state (
    source VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,
    resource VARCHAR NOT NULL,
    cursor VARCHAR,
    etag VARCHAR,
    updated_at TIMESTAMPTZ NOT NULL
);
