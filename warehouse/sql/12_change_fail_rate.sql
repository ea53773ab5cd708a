-- Change fail rate: failed production deployments / production deployments (successful
-- plus, when failed_runs_count is on, failed runs) finished in the period.
CREATE OR REPLACE TEMP VIEW change_fail_rate AS
SELECT
    key, period_start,
    count(*) AS production_deployments,
    count(*) FILTER (WHERE failed) AS failed_deployments,
    count(*) FILTER (WHERE failed) / count(*) AS change_fail_rate
FROM scoped_deployments
GROUP BY key, period_start;
