-- Change lead time: median and 90th percentile (linear interpolation) over the changes whose
-- shipping deployment finished in the period.
CREATE OR REPLACE TEMP VIEW lead_time AS
SELECT
    key, period_start,
    count(*) AS changes,
    quantile_cont(lead_time_hours, 0.5) AS lead_time_median_hours,
    quantile_cont(lead_time_hours, 0.9) AS lead_time_p90_hours
FROM scoped_changes
GROUP BY key, period_start;
