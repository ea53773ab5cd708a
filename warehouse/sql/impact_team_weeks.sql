-- Impact analysis: the weekly team panel. One row per (team, week) with the sums every impact
-- measure is built from (see warehouse/impact/measures.py). Weeks start on Monday (UTC).
--
-- Deployments count in the week they finished, changes and pull requests in the week they
-- shipped. Durations enter as sums of natural logs of hours, floored at one minute so that a
-- zero-length stage has a finite log; the mean log is the log of the geometric mean. The
-- *_instant columns count the durations under that minute: where they are common, the size
-- of a relative change depends on the floor, and the output says so.
-- Recovery times belong to the week of the failed deployment; unrecovered failures have none.
-- greatest() skips NULLs: the macro keeps a missing duration missing instead of 1 minute.
CREATE OR REPLACE TEMP MACRO impact_log_hours(duration_hours) AS
    CASE WHEN duration_hours IS NOT NULL THEN ln(greatest(duration_hours, 1 / 60)) END;

CREATE OR REPLACE TEMP VIEW impact_team_weeks AS
WITH deploys AS (
    SELECT team, date_trunc('week', finished_at)::DATE AS week,
           count(*) FILTER (WHERE status = 'success') AS deployments,
           count(*) AS production_deployments,
           count(*) FILTER (WHERE failed) AS failed,
           count(*) FILTER (WHERE is_rework) AS rework,
           count(recovery_hours) FILTER (WHERE failed) AS recoveries,
           coalesce(sum(impact_log_hours(recovery_hours)) FILTER (WHERE failed), 0) AS recovery_log
    FROM prod_deployments
    GROUP BY ALL
),
shipped_changes AS (
    SELECT team, date_trunc('week', shipped_at)::DATE AS week,
           count(*) AS changes,
           sum(impact_log_hours(lead_time_hours)) AS lead_log,
           count(*) FILTER (WHERE lead_time_hours < 1 / 60) AS lead_instant
    FROM change_lead_times
    GROUP BY ALL
),
shipped_prs AS (
    SELECT team, date_trunc('week', shipped_at)::DATE AS week,
           count(*) AS prs,
           count(coding_hours) AS coding_n,
           coalesce(sum(impact_log_hours(coding_hours)), 0) AS coding_log,
           count(*) FILTER (WHERE coding_hours < 1 / 60) AS coding_instant,
           count(pickup_hours) AS pickup_n,
           coalesce(sum(impact_log_hours(pickup_hours)), 0) AS pickup_log,
           count(*) FILTER (WHERE pickup_hours < 1 / 60) AS pickup_instant,
           count(review_hours) AS review_n,
           coalesce(sum(impact_log_hours(review_hours)), 0) AS review_log,
           count(*) FILTER (WHERE review_hours < 1 / 60) AS review_instant,
           count(deploy_wait_hours) AS deploy_wait_n,
           coalesce(sum(impact_log_hours(deploy_wait_hours)), 0) AS deploy_wait_log,
           count(*) FILTER (WHERE deploy_wait_hours < 1 / 60) AS deploy_wait_instant,
           sum(outside_reviews) AS outside_reviews,
           sum(teams_touching) AS teams_touching
    FROM impact_pr_flow
    GROUP BY ALL
)
SELECT *
FROM deploys
FULL JOIN shipped_changes USING (team, week)
FULL JOIN shipped_prs USING (team, week);
