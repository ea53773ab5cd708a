-- The rows of the two views above inside [since, until), tagged with the scope key asked for
-- (org / team / repo) and the calendar period (week starts Monday, UTC) they fall in.
CREATE OR REPLACE TEMP VIEW scoped_deployments AS
SELECT
    *,
    CASE getvariable('scope') WHEN 'team' THEN team WHEN 'repo' THEN repo ELSE 'org' END AS key,
    date_trunc(getvariable('period'), finished_at)::DATE AS period_start
FROM prod_deployments
WHERE finished_at >= getvariable('since_ts') AND finished_at < getvariable('until_ts');

CREATE OR REPLACE TEMP VIEW scoped_changes AS
SELECT
    *,
    CASE getvariable('scope') WHEN 'team' THEN team WHEN 'repo' THEN repo ELSE 'org' END AS key,
    date_trunc(getvariable('period'), shipped_at)::DATE AS period_start
FROM change_lead_times
WHERE shipped_at >= getvariable('since_ts') AND shipped_at < getvariable('until_ts');
