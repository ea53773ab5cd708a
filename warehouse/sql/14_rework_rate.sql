-- Deployment rework rate: production deployments that were unplanned fixes (marked hotfix
-- or rollback) / production deployments finished in the period.
CREATE OR REPLACE TEMP VIEW rework_rate AS
SELECT
    key, period_start,
    count(*) FILTER (WHERE is_rework) AS rework_deployments,
    count(*) FILTER (WHERE is_rework) / count(*) AS rework_rate
FROM scoped_deployments
GROUP BY key, period_start;
