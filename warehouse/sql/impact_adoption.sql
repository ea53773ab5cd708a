-- Impact analysis: which production deployments went through an initiative's new path.
--
-- The adoption rule is set per initiative in the session variables adoption_environment (a
-- case-insensitive regex on the environment name) and adoption_workflow (on the name or file
-- path of the CI workflow that ran the deployment), NULL for none; either may match. A
-- production deployment went through the new path when it matches the rule itself (e.g. a new
-- production environment, or the platform's deploy workflow) or when it ships a pull request
-- that had a matching deployment of its merge commit or of one of its commits (e.g. a preview
-- environment per pull request).
-- One row per (team, repo, week) with the production deployments and those on the new path.
CREATE OR REPLACE TEMP VIEW impact_adoption_weeks AS
WITH matching AS (
    SELECT deployment_id, repo, sha
    FROM deployments
    WHERE (getvariable('adoption_environment') IS NOT NULL
           AND regexp_matches(environment, getvariable('adoption_environment'), 'i'))
       OR (getvariable('adoption_workflow') IS NOT NULL
           AND (regexp_matches(coalesce(workflow, ''), getvariable('adoption_workflow'), 'i')
                OR regexp_matches(coalesce(workflow_path, ''), getvariable('adoption_workflow'), 'i')))
),
via_pr AS (
    SELECT DISTINCT l.deployment_id
    FROM change_lead_times l
    JOIN pull_requests p ON p.repo = l.repo AND p.number = l.pr_number
    JOIN matching m ON m.repo = p.repo AND m.sha = p.merge_sha
    UNION
    SELECT DISTINCT l.deployment_id
    FROM change_lead_times l
    JOIN matching m ON m.repo = l.repo AND m.sha = l.sha
),
shipped AS (
    SELECT d.team, d.repo, date_trunc('week', d.finished_at)::DATE AS week,
           d.deployment_id IN (SELECT deployment_id FROM matching)
           OR d.deployment_id IN (SELECT deployment_id FROM via_pr) AS new_path
    FROM prod_deployments d
    WHERE d.status = 'success'
)
SELECT team, repo, week, count(*) AS deployments, count(*) FILTER (WHERE new_path) AS new_path
FROM shipped
GROUP BY ALL;
