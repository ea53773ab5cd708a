-- What a GitHub incident names as its cause, parsed from the issue body at sync time, and
-- how warehouse/attribution.py attributed it. Key: incident_id.
-- Kept apart from `incidents` so that attribution can be redone on every sync: a cause that
-- names a pull request is only resolvable once a deployment has shipped it.
CREATE TABLE github_incident_causes (
    incident_id VARCHAR NOT NULL,
    repo VARCHAR,
    cause_kind VARCHAR,     -- deployment | run | pull_request | sha | NULL (none named)
    cause_ref VARCHAR,      -- deployment id, run id, pull request number, or a (short) sha
    cause_repo VARCHAR,     -- owner/name the reference points into
    attributed_by VARCHAR   -- cause | window | NULL (unattributed)
);

-- Why a deployment is a hotfix or a rollback, per kind of evidence. Key: (deployment_id, origin).
-- origin 'text': its ref, branch, title or tag matched the configured patterns;
-- origin 'commits': a commit it shipped is a revert or a hotfix, or it redeployed an older sha.
-- deployments.is_hotfix / is_rollback are the OR over origins (warehouse/attribution.py), so
-- that re-reading one kind of evidence never erases the other.
CREATE TABLE deployment_signals (
    deployment_id VARCHAR NOT NULL,
    origin VARCHAR NOT NULL,
    hotfix BOOLEAN NOT NULL,
    rollback BOOLEAN NOT NULL
);
