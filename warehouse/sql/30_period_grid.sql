-- The periods of the metrics table: every (key, period) in the range that the key's data
-- covers, including periods with no deployment, for every key that has production deployments
-- in the range. period_days counts the covered days (04_coverage.sql); rates per week are per
-- covered day. The metrics view (warehouse/metrics_sql.py) joins every metric's aggregate
-- view (10-14_*.sql, one per row of warehouse/catalog.py) onto these rows.
CREATE OR REPLACE TEMP VIEW period_grid AS
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
)
-- Periods the key's data does not reach (before it begins, after the data ends) are left out.
SELECT
    getvariable('scope') AS scope,
    key,
    CASE getvariable('period')
        WHEN 'week' THEN strftime(period_start, '%G-W%V')
        WHEN 'month' THEN strftime(period_start, '%Y-%m')
        ELSE strftime(period_start, '%Y') || '-Q' || quarter(period_start)
    END AS period,
    period_start,
    period_end,
    epoch(covered_to - covered_from) / 86400.0 AS period_days,
    covered_from = period_start::TIMESTAMPTZ AND covered_to = period_end::TIMESTAMPTZ AS complete
FROM bounds
WHERE covered_to > covered_from;
