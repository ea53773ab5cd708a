-- Failed deployment recovery time: median hours from a failed deployment's finish to its
-- recovery (see prod_deployments), over the failed deployments finished in the period.
-- Failures not yet recovered are counted apart, not in the median.
CREATE OR REPLACE TEMP VIEW recovery_time AS
SELECT
    key, period_start,
    quantile_cont(recovery_hours, 0.5) AS recovery_time_median_hours,
    count(*) FILTER (WHERE recovery_hours IS NULL) AS unrecovered_failures
FROM scoped_deployments
WHERE failed
GROUP BY key, period_start;
