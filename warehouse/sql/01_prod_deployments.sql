-- Production deployments, one row each, with whether each failed and when it recovered.
--
-- Production: the source flags it (is_production), or the environment matches the configured
-- pattern, case-insensitively (the is_production macro, migrations/003).
-- A run that itself ended in failure is a production deployment only when the config switch
-- failed_runs_count is on (the default); it never counts in `deployments` (successes).
-- Failed (needed immediate intervention) when any of:
--   * an incident names it as its cause (incidents.deployment_id);
--   * the next production deployment (or failed run) of the same repo and environment is a
--     hotfix or a rollback (it was fixed forward or rolled back);
--   * its own run ended in failure.
-- Recovered: the latest resolution of the incidents it caused; with no incident, the next
-- successful deployment of the same repo and environment. NULL while unrecovered.
CREATE OR REPLACE TEMP TABLE prod_deployments AS
WITH production AS (
    SELECT
        d.deployment_id, d.repo, d.environment, d.status, d.finished_at, d.sha,
        coalesce(d.team, t.team, 'unassigned') AS team,
        coalesce(d.is_hotfix, false) AS is_hotfix,
        coalesce(d.is_rollback, false) AS is_rollback
    FROM deployments d
    LEFT JOIN teams t ON t.repo = d.repo
    WHERE is_production(d.environment, d.is_production, getvariable('production_environment'))
),
caused AS (
    SELECT
        deployment_id,
        count(*) AS incidents,
        -- One unresolved incident keeps the deployment unrecovered.
        CASE WHEN count(resolved_at) = count(*) THEN max(resolved_at) END AS resolved_at
    FROM incidents
    WHERE deployment_id IS NOT NULL
    GROUP BY deployment_id
),
sequenced AS (
    SELECT
        p.*,
        lead(p.is_hotfix OR p.is_rollback) OVER same_target AS fixed_by_next,
        min(CASE WHEN p.status = 'success' THEN p.finished_at END) OVER (
            same_target ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS next_success_at
    FROM production p
    -- Environment names are compared case-insensitively, as the production rule is.
    WINDOW same_target AS (PARTITION BY p.repo, lower(p.environment) ORDER BY p.finished_at, p.deployment_id)
),
-- The order above includes failed runs whatever the switch says, so that a hotfix after a
-- failed run is read as fixing that run, never the success before it; the switch only decides
-- whether failed runs are counted.
counted AS (
    SELECT * FROM sequenced WHERE status = 'success' OR getvariable('failed_runs_count')
),
judged AS (
    SELECT
        s.*,
        coalesce(c.incidents, 0) AS incidents,
        c.deployment_id IS NOT NULL AS caused_incident,
        c.resolved_at AS incidents_resolved_at,
        coalesce(s.fixed_by_next, false) AS fixed_forward_or_rolled_back,
        s.status = 'failure' AS run_failed
    FROM counted s
    LEFT JOIN caused c ON c.deployment_id = s.deployment_id
)
SELECT
    deployment_id, repo, environment, team, status, finished_at, sha,
    is_hotfix, is_rollback,
    is_hotfix OR is_rollback AS is_rework,
    incidents, caused_incident, fixed_forward_or_rolled_back, run_failed,
    caused_incident OR fixed_forward_or_rolled_back OR run_failed AS failed,
    CASE
        WHEN caused_incident THEN incidents_resolved_at
        WHEN fixed_forward_or_rolled_back OR run_failed THEN next_success_at
    END AS recovered_at,
    -- greatest() skips NULLs, so guard the unrecovered case explicitly.
    CASE WHEN recovered_at IS NOT NULL
        THEN greatest(epoch(recovered_at - finished_at) / 3600.0, 0) END AS recovery_hours
FROM judged;
