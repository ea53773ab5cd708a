-- Change lead time: from a commit's time to the finish of the successful production
-- deployment that first shipped it (changes.deployment_id). A change whose shipping
-- deployment is unknown, failed or not production has no lead time. A commit timestamp later
-- than its deployment (clock skew, rewritten history) counts as 0 hours, not negative.
CREATE OR REPLACE TEMP VIEW change_lead_times AS
SELECT
    c.repo, c.sha, d.team, c.deployment_id, c.pr_number, c.author, c.committed_at,
    d.finished_at AS shipped_at,
    greatest(epoch(d.finished_at - c.committed_at) / 3600.0, 0) AS lead_time_hours
FROM changes c
JOIN prod_deployments d ON d.deployment_id = c.deployment_id AND d.status = 'success';
