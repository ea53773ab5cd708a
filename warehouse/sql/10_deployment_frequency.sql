-- Deployment frequency: successful production deployments finished in the period, and
-- per week: deployments / (days of the period, clipped to [since, until), / 7).
CREATE OR REPLACE TEMP VIEW deployment_frequency AS
SELECT key, period_start, count(*) FILTER (WHERE status = 'success') AS deployments
FROM scoped_deployments
GROUP BY key, period_start;
