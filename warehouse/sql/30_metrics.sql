-- The metrics table: every (key, period) in the range that the key's data covers, including
-- periods with no deployment, for every key that has production deployments in the range.
-- period_days counts the covered days (04_coverage.sql); rates per week are per covered day.
CREATE OR REPLACE TEMP VIEW metrics AS
WITH periods AS (
    SELECT
        p::DATE AS period_start,
        (p + CAST(getvariable('period_interval') AS INTERVAL))::DATE AS period_end
    FROM generate_series(
        date_trunc(getvariable('period'), getvariable('since_ts')),
        getvariable('until_ts') - INTERVAL 1 MICROSECOND,
        CAST(getvariable('period_interval') AS INTERVAL)
    ) AS g(p)
),
bounds AS (
    SELECT k.key, p.period_start, p.period_end,
        greatest(p.period_start::TIMESTAMPTZ, k.covered_from) AS covered_from,
        least(p.period_end::TIMESTAMPTZ, k.covered_to) AS covered_to
    FROM key_coverage k CROSS JOIN periods p
    WHERE k.key IN (SELECT key FROM scoped_deployments)
),
-- Periods the key's data does not reach (before it begins, after the data ends) are left out.
grid AS (
    SELECT key, period_start, period_end,
        epoch(covered_to - covered_from) / 86400.0 AS period_days,
        covered_from = period_start::TIMESTAMPTZ AND covered_to = period_end::TIMESTAMPTZ AS complete
    FROM bounds
    WHERE covered_to > covered_from
)
SELECT
    getvariable('scope') AS scope,
    g.key,
    CASE getvariable('period')
        WHEN 'week' THEN strftime(g.period_start, '%G-W%V')
        WHEN 'month' THEN strftime(g.period_start, '%Y-%m')
        ELSE strftime(g.period_start, '%Y') || '-Q' || quarter(g.period_start)
    END AS period,
    g.period_start,
    g.period_end,
    g.period_days,
    g.complete,
    coalesce(f.deployments, 0) AS deployments,
    coalesce(f.deployments, 0) / (g.period_days / 7.0) AS deployments_per_week,
    coalesce(l.changes, 0) AS changes,
    l.lead_time_median_hours,
    l.lead_time_p90_hours,
    coalesce(c.production_deployments, 0) AS production_deployments,
    coalesce(c.failed_deployments, 0) AS failed_deployments,
    c.change_fail_rate,
    r.recovery_time_median_hours,
    coalesce(r.unrecovered_failures, 0) AS unrecovered_failures,
    coalesce(w.rework_deployments, 0) AS rework_deployments,
    w.rework_rate,
    dora_level(
        coalesce(f.deployments, 0) / (g.period_days / 7.0), l.lead_time_median_hours,
        c.change_fail_rate, r.recovery_time_median_hours, c.production_deployments
    ) AS dora_level
FROM grid g
LEFT JOIN deployment_frequency f USING (key, period_start)
LEFT JOIN lead_time l USING (key, period_start)
LEFT JOIN change_fail_rate c USING (key, period_start)
LEFT JOIN recovery_time r USING (key, period_start)
LEFT JOIN rework_rate w USING (key, period_start)
ORDER BY g.key, g.period_start;
