-- Change lead time: from a commit's author date (its committer date when no author date is
-- known) to the finish of the successful production deployment that first shipped it
-- (changes.deployment_id). The author date survives rebases, cherry-picks, amends and "rebase
-- and merge", which give a commit a new committer date; a squash-merged pull request is
-- represented by its own commits (collectors/git.py), so it is timed from where its work began.
-- A change whose shipping deployment is unknown, failed or not production has no lead time. A
-- commit dated after its deployment (clock skew, rewritten history) counts as 0 hours.
CREATE OR REPLACE TEMP VIEW change_lead_times AS
SELECT
    c.repo, c.sha, d.team, d.repo AS deployment_repo, c.deployment_id, c.pr_number, c.author, c.committed_at,
    coalesce(c.authored_at, c.committed_at) AS started_at,
    d.finished_at AS shipped_at,
    greatest(epoch(d.finished_at - coalesce(c.authored_at, c.committed_at)) / 3600.0, 0) AS lead_time_hours
FROM changes c
JOIN prod_deployments d ON d.deployment_id = c.deployment_id AND d.status = 'success';
