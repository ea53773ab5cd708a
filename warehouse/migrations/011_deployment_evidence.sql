-- Failure evidence as facts: what each source observed about a deployment, one row per
-- observation. The rule that turns evidence into rollback, hotfix and failed is one SQL file,
-- warehouse/sql/01_prod_deployments.sql; collectors only write these rows.
-- Key: (deployment_id, kind, source, points_at).
--   deployment_id  the deployment the evidence was observed on (the fix, revert or rollback)
--   kind           hotfix_ref    its own ref, branch, title or tag names a hotfix
--                  rollback_ref  its own ref, branch, title or tag names a rollback
--                  hotfix_change it ships a change marked as a hotfix (label, branch name)
--                  revert_of     it ships a revert ("This reverts commit <sha>"); points_at = sha
--                  revert_of_pr  it ships a revert of a pull request ("Reverts o/r#N"); points_at = N
--                  redeploy      it deployed an ancestor of the sha deployed before it in the
--                                same sequence; points_at = that deployment
--                  (imported is_hotfix / is_rollback stay on `deployments` and are read as
--                  evidence by the rule)
--   source         github | git | ...
--   points_at      what it blames (a sha, a pull request number, a deployment id) or NULL
--   observed_at    when the evidence was made (the commit's or deployment's time)
CREATE TABLE deployment_evidence (
    deployment_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    points_at VARCHAR,
    observed_at TIMESTAMPTZ
);

-- The text evidence already gathered moves over; commit-walk evidence is re-derived (below).
INSERT INTO deployment_evidence
SELECT deployment_id, 'hotfix_ref', 'github', NULL, NULL FROM deployment_signals WHERE origin = 'text' AND hotfix
UNION ALL
SELECT deployment_id, 'rollback_ref', 'github', NULL, NULL FROM deployment_signals WHERE origin = 'text' AND rollback;
UPDATE deployment_evidence e SET source = d.source FROM deployments d
WHERE d.deployment_id = e.deployment_id AND d.source IS NOT NULL;

-- Flags that the collectors wrote from their own evidence (not imported ones) are cleared:
-- the rule reads the evidence now.
UPDATE deployments SET is_hotfix = NULL, is_rollback = NULL
WHERE deployment_id IN (SELECT deployment_id FROM deployment_signals);
DROP TABLE deployment_signals;

-- The commit graph is walked again on the next sync (its evidence and a consistent
-- attribution of every branch).
DELETE FROM sync_state WHERE resource = 'changes';

-- The incident time window is applied by the metric rule for every source; only named causes
-- stay written on GitHub incidents.
UPDATE incidents SET deployment_id = NULL
WHERE incident_id IN (SELECT incident_id FROM github_incident_causes WHERE attributed_by = 'window');
UPDATE github_incident_causes SET attributed_by = NULL WHERE attributed_by = 'window';

-- Deployments finishing in the same second are ordered by their id with numbers compared as
-- numbers (v1.9.0 before v1.10.0), never as strings.
CREATE MACRO natural_key(id) AS list_transform(
    regexp_extract_all(id, '\d+|\D+'),
    lambda x: CASE WHEN regexp_matches(x, '^\d') THEN lpad(ltrim(x, '0'), 24, '0') ELSE x END
);
