-- Every production deployment tagged with the scope key asked for (org / team / repo),
-- whatever the range: where each key's data begins.
CREATE OR REPLACE TEMP VIEW keyed_deployments AS
SELECT
    *,
    CASE getvariable('scope') WHEN 'team' THEN team WHEN 'repo' THEN repo ELSE 'org' END AS key
FROM prod_deployments;

-- The rows inside [since, until), with the calendar period (week starts Monday, UTC) they
-- fall in.
CREATE OR REPLACE TEMP VIEW scoped_deployments AS
SELECT *, date_trunc(getvariable('period'), finished_at)::DATE AS period_start
FROM keyed_deployments
WHERE finished_at >= getvariable('since_ts') AND finished_at < getvariable('until_ts');

-- A change belongs to the key and period of the deployment that shipped it (its team, its
-- repository, its finish: shipped_at), read from change_lead_times without a second join.
CREATE OR REPLACE TEMP VIEW scoped_changes AS
SELECT
    l.*,
    CASE getvariable('scope') WHEN 'team' THEN l.team WHEN 'repo' THEN l.deployment_repo ELSE 'org' END AS key,
    date_trunc(getvariable('period'), l.shipped_at)::DATE AS period_start
FROM change_lead_times l
WHERE l.shipped_at >= getvariable('since_ts') AND l.shipped_at < getvariable('until_ts');
