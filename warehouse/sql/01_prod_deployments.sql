-- Production deployments, one row each, with whether each failed and when it recovered: the
-- failure rule, in one place, over the evidence of every source (docs/metrics.md).
--
-- Production: the source flags it (is_production), or the environment matches the configured
-- pattern, case-insensitively (the is_production macro, migrations/003).
-- A run that itself ended in failure is a production deployment only when the config switch
-- failed_runs_count is on (the default); it never counts in `deployments` (successes).
--
-- Sequence: the deployments of one repository, environment (case-insensitive, as GitHub) and
-- service (when the source gives one), in finish order; same-second ties in natural order of
-- their ids (v1.9.0 before v1.10.0, the natural_key macro of migrations/011).
--
-- Evidence (deployment_evidence, written by the collectors, plus imported flags) and whom it
-- blames, only when the blamed deployment finished within failure_window_hours before:
--   * hotfix_ref, hotfix_change, imported is_hotfix: a hotfix; blames the deployments that
--     first shipped the lines its changes modify (its fix_forward evidence: the release that
--     shipped the broken change), and only without such evidence the deployment before it in
--     its sequence;
--   * rollback_ref, imported is_rollback: a rollback; blames the deployment before it;
--   * redeploy: a rollback to an ancestor; blames the deployment it rolled back (points_at);
--   * revert_of / revert_of_pr: a rollback when it blames someone: the production deployment
--     that first shipped the reverted commit / pull request, or first deployed it as its sha
--     (one never deployed blames nobody);
--   * release_note: its own release notes name an earlier release with words of a defect
--     ("regression introduced in 2.1.0"); blames that release (points_at);
--   * fix_forward (blame, SZZ): a fix-forward; blames the deployment that first shipped the
--     commit whose lines a change modifies (or, for a change that only adds lines, the lines
--     around its insertions), only when the change says it fixes (its subject matches
--     FIX_SUBJECT below, its message closes an issue with a fix keyword, "Fix #4107", a fix
--     entry of the release's notes describes it, or its pull request has a bug / regression /
--     hotfix label; a `Fixes: <sha>` trailer names the introducing commit itself) and,
--     when both deployments are versioned tags, the fix is a patch release of the blamed one
--     (same major and minor version, a third part above 0: 2.1.0 -> 2.1.1, 23.1.0 -> 23.1.1;
--     never a feature release after it; in a calendar-versioned repository, calendar_repos
--     below, the next versioned release after it). Changes that only touch lines of an
--     earlier release without saying "fix" are everyday work, not evidence.
-- Failed (needed immediate intervention) when any of:
--   * an incident is attributed to it (incident_deployments below);
--   * evidence of a later deployment blames it (fixed forward or rolled back);
--   * its own run ended in failure.
-- Recovered: the latest resolution of the incidents it caused; else the first successful
-- deployment that fixed it; else the next successful deployment of its sequence. NULL while
-- unrecovered.

-- Which deployment each incident is attributed to: the one its source names
-- (incidents.deployment_id: imported, or a named cause on GitHub), else the last successful
-- production deployment of the same repository (and service, when both give one; or of the
-- service, when the incident names no repository; or of the team's repositories, when it names
-- only a team, as a PagerDuty service mapped to a team does) that finished within
-- incident_window_hours before it opened. attributed_by: named | window | NULL (unattributed).
CREATE OR REPLACE TEMP VIEW incident_deployments AS
WITH successes AS (
    SELECT d.deployment_id, d.repo, d.service, coalesce(d.team, t.team) AS team, d.finished_at
    FROM deployments d LEFT JOIN teams t ON t.repo = d.repo
    WHERE d.status = 'success'
      AND is_production(d.environment, d.is_production, getvariable('production_environment'))
),
windowed AS (
    SELECT i.incident_id, (
        SELECT s.deployment_id FROM successes s
        WHERE (
            (i.repo IS NOT NULL AND s.repo = i.repo
             AND (i.service IS NULL OR s.service IS NULL OR s.service = i.service))
            OR (i.repo IS NULL AND s.service = i.service)
            OR (i.repo IS NULL AND i.team IS NOT NULL AND s.team = i.team))
          AND s.finished_at <= i.opened_at
          AND s.finished_at >= i.opened_at
              - to_microseconds(CAST(getvariable('incident_window_hours') * 3600e6 AS BIGINT))
        ORDER BY s.finished_at DESC, natural_key(s.deployment_id) DESC LIMIT 1
    ) AS deployment_id
    FROM incidents i
    WHERE i.deployment_id IS NULL
)
SELECT
    i.incident_id, i.opened_at, i.resolved_at,
    coalesce(i.deployment_id, w.deployment_id) AS deployment_id,
    CASE WHEN i.deployment_id IS NOT NULL THEN 'named'
         WHEN w.deployment_id IS NOT NULL THEN 'window' END AS attributed_by
FROM incidents i
LEFT JOIN windowed w USING (incident_id);

CREATE OR REPLACE TEMP TABLE prod_deployments AS
WITH production AS (
    SELECT
        d.deployment_id, d.repo, d.environment, d.service, d.status, d.finished_at, d.sha,
        coalesce(t.team, d.team, 'unassigned') AS team,
        d.is_hotfix AS imported_hotfix,
        d.is_rollback AS imported_rollback,
        row_number() OVER (
            PARTITION BY d.repo, lower(d.environment), coalesce(d.service, '')
            ORDER BY d.finished_at, natural_key(d.deployment_id)
        ) AS position
    FROM deployments d
    LEFT JOIN teams t ON t.repo = d.repo
    WHERE is_production(d.environment, d.is_production, getvariable('production_environment'))
),
-- Every piece of evidence, from the table and from imported flags.
evidence AS (
    SELECT deployment_id, kind, points_at, detail FROM deployment_evidence
    UNION ALL
    SELECT deployment_id, 'imported_hotfix', NULL, NULL FROM production WHERE imported_hotfix
    UNION ALL
    SELECT deployment_id, 'imported_rollback', NULL, NULL FROM production WHERE imported_rollback
),
-- The release versions of tag deployments (`...:tag:v2.1.1` -> [2, 1, 1]), else NULL (a
-- `24.3.0.post1` or a branch is no versioned release).
versions AS (
    SELECT p.*, list_transform(string_split(nullif(regexp_extract(
        p.deployment_id, ':tag:(?:.*/)?v?(\d+(?:\.\d+)*)$', 1), ''), '.'), lambda x: x::BIGINT) AS v
    FROM production p
),
-- Calendar-versioned repositories: at least two versioned releases, each numbered by the year
-- it was released (`22.2.0`, `2024.1` released in 2022, 2024), and none with a third part above
-- 0. Such a scheme has no patch number: `24.4.0` an hour after `24.3.0` is its patch as much as
-- its successor, so a fix in the next versioned release after the blamed one counts.
calendar_repos AS (
    SELECT repo FROM versions WHERE v IS NOT NULL
    GROUP BY repo
    HAVING count(*) >= 2
       AND bool_and(v[1] = year(finished_at) OR v[1] = year(finished_at) % 100)
       AND bool_and(len(v) < 3 OR v[3] = 0)
),
-- Each fix_forward observation with the deployment that first shipped the blamed commit and
-- whether it passes the rule above. FIX_SUBJECT: the fixing commit's subject says it fixes.
fix_forward AS (
    SELECT e.deployment_id AS fixer, b.deployment_id AS blamed,
        (regexp_matches(json_extract_string(e.detail, '$.subject'),
            '(?i)\b(fix(es|ed|ing)?|bug ?fix(es)?|regression|hotfix|restor(e|es|ed|ing)|reintroduc(e|es|ed|ing)|revert(s|ed)?)\b')
         OR json_extract_string(e.detail, '$.closes') IS NOT NULL
         OR json_extract_string(e.detail, '$.note') IS NOT NULL
         OR json_extract_string(e.detail, '$.fixes_commit') IS NOT NULL
         OR EXISTS (
            SELECT 1 FROM changes fc JOIN pull_requests pr ON pr.repo = fc.repo AND pr.number = fc.pr_number
            WHERE fc.repo = f.repo AND fc.sha = json_extract_string(e.detail, '$.fixing')
              AND regexp_matches(coalesce(pr.labels, ''), '(?i)\b(bug|regression|hotfix)\b')))
        AND (fv.v IS NULL OR bv.v IS NULL
             OR (len(fv.v) >= 3 AND fv.v[3] > 0 AND fv.v[1] = bv.v[1] AND fv.v[2] = coalesce(bv.v[2], 0))
             -- calendar versions (see calendar_repos): the next versioned release is the patch
             OR (f.repo IN (SELECT repo FROM calendar_repos) AND NOT EXISTS (
                    SELECT 1 FROM versions m
                    WHERE m.v IS NOT NULL AND m.repo = f.repo AND lower(m.environment) = lower(f.environment)
                      AND coalesce(m.service, '') = coalesce(f.service, '')
                      AND m.position > b.position AND m.position < f.position)))
            AS counts
    FROM evidence e
    JOIN production f USING (deployment_id)
    JOIN changes c ON c.repo = f.repo AND c.sha = e.points_at
    JOIN production b ON b.deployment_id = c.deployment_id AND b.status = 'success'
    JOIN versions fv ON fv.deployment_id = f.deployment_id
    JOIN versions bv ON bv.deployment_id = b.deployment_id
    WHERE e.kind = 'fix_forward'
),
-- The deployment each piece of evidence blames, before the window is applied (a hotfix that
-- blamed lines blames each deployment that shipped them: one row each).
blame AS (
    SELECT e.kind, f.deployment_id AS fixer, f.finished_at AS fixed_at, f.status AS fixer_status,
        unnest(CASE
            WHEN e.kind IN ('hotfix_ref', 'hotfix_change', 'imported_hotfix')
                 AND EXISTS (SELECT 1 FROM fix_forward x WHERE x.fixer = f.deployment_id
                             AND x.blamed <> f.deployment_id) THEN (
                SELECT list(DISTINCT x.blamed) FROM fix_forward x
                WHERE x.fixer = f.deployment_id AND x.blamed <> f.deployment_id)
            WHEN e.kind = 'fix_forward' THEN NULL  -- from fix_forward below
            ELSE [CASE
            WHEN e.kind IN ('hotfix_ref', 'hotfix_change', 'imported_hotfix',
                            'rollback_ref', 'imported_rollback') THEN (
                SELECT b.deployment_id FROM production b
                WHERE b.repo = f.repo AND lower(b.environment) = lower(f.environment)
                  AND coalesce(b.service, '') = coalesce(f.service, '')
                  AND b.position = f.position - 1)
            WHEN e.kind IN ('redeploy', 'release_note') THEN e.points_at
            WHEN e.kind = 'revert_of' THEN coalesce((
                SELECT b.deployment_id FROM changes c JOIN production b ON b.deployment_id = c.deployment_id
                WHERE c.repo = f.repo AND starts_with(c.sha, e.points_at) AND b.status = 'success'
                ORDER BY b.finished_at LIMIT 1), (
                -- not a change itself (a merge, squash or rebased commit): first deployed as a sha
                SELECT b.deployment_id FROM production b
                WHERE b.repo = f.repo AND starts_with(b.sha, e.points_at) AND b.status = 'success'
                ORDER BY b.finished_at LIMIT 1))
            WHEN e.kind = 'revert_of_pr' THEN (
                SELECT b.deployment_id FROM changes c JOIN production b ON b.deployment_id = c.deployment_id
                WHERE c.repo = f.repo AND c.pr_number = TRY_CAST(e.points_at AS BIGINT)
                  AND b.status = 'success'
                ORDER BY b.finished_at LIMIT 1)
        END] END) AS blamed
    FROM evidence e
    JOIN production f USING (deployment_id)
    WHERE e.kind <> 'fix_forward'
    UNION ALL
    SELECT DISTINCT 'fix_forward', f.deployment_id, f.finished_at, f.status, x.blamed
    FROM fix_forward x JOIN production f ON f.deployment_id = x.fixer
    WHERE x.counts
),
-- Only "immediate" intervention counts: the blamed deployment finished before the fix, and
-- within the window.
blames AS (
    SELECT l.*, b.finished_at AS blamed_at
    FROM blame l JOIN production b ON b.deployment_id = l.blamed
    WHERE l.blamed <> l.fixer
      AND b.finished_at <= l.fixed_at
      AND b.finished_at >= l.fixed_at
          - to_microseconds(CAST(getvariable('failure_window_hours') * 3600e6 AS BIGINT))
),
marks AS (
    SELECT f.deployment_id,
        bool_or(e.kind IN ('hotfix_ref', 'hotfix_change', 'imported_hotfix')) AS is_hotfix,
        bool_or(e.kind IN ('rollback_ref', 'imported_rollback')) AS declared_rollback
    FROM evidence e JOIN production f USING (deployment_id)
    GROUP BY f.deployment_id
),
reverted AS (  -- reverts and redeploys are rollbacks when they blame someone in the window
    SELECT DISTINCT fixer AS deployment_id FROM blames
    WHERE kind IN ('revert_of', 'revert_of_pr', 'redeploy')
),
fixed AS (
    SELECT blamed AS deployment_id,
        min(fixed_at) FILTER (WHERE fixer_status = 'success') AS fixed_at
    FROM blames GROUP BY blamed
),
caused AS (
    SELECT
        deployment_id,
        count(*) AS incidents,
        -- One unresolved incident keeps the deployment unrecovered.
        CASE WHEN count(resolved_at) = count(*) THEN max(resolved_at) END AS resolved_at
    FROM incident_deployments
    WHERE deployment_id IS NOT NULL
    GROUP BY deployment_id
),
sequenced AS (
    SELECT
        p.*,
        min(CASE WHEN p.status = 'success' THEN p.finished_at END) OVER (
            PARTITION BY p.repo, lower(p.environment), coalesce(p.service, '') ORDER BY p.position
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS next_success_at
    FROM production p
),
-- The sequence above includes failed runs whatever the switch says, so that a hotfix after a
-- failed run is read as fixing that run, never the success before it; the switch only decides
-- whether failed runs are counted.
judged AS (
    SELECT
        s.*,
        coalesce(m.is_hotfix, false) AS is_hotfix,
        coalesce(m.declared_rollback, false) OR r.deployment_id IS NOT NULL AS is_rollback,
        coalesce(c.incidents, 0) AS incidents,
        c.deployment_id IS NOT NULL AS caused_incident,
        c.resolved_at AS incidents_resolved_at,
        x.deployment_id IS NOT NULL AS fixed_forward_or_rolled_back,
        x.fixed_at,
        s.status = 'failure' AS run_failed
    FROM sequenced s
    LEFT JOIN marks m ON m.deployment_id = s.deployment_id
    LEFT JOIN reverted r ON r.deployment_id = s.deployment_id
    LEFT JOIN caused c ON c.deployment_id = s.deployment_id
    LEFT JOIN fixed x ON x.deployment_id = s.deployment_id
    WHERE s.status = 'success' OR getvariable('failed_runs_count')
)
SELECT
    deployment_id, repo, environment, service, team, status, finished_at, sha,
    is_hotfix, is_rollback,
    is_hotfix OR is_rollback AS is_rework,
    incidents, caused_incident, fixed_forward_or_rolled_back, run_failed,
    caused_incident OR fixed_forward_or_rolled_back OR run_failed AS failed,
    CASE
        WHEN caused_incident THEN incidents_resolved_at
        WHEN fixed_forward_or_rolled_back OR run_failed THEN coalesce(fixed_at, next_success_at)
    END AS recovered_at,
    -- greatest() skips NULLs, so guard the unrecovered case explicitly.
    CASE WHEN recovered_at IS NOT NULL
        THEN greatest(epoch(recovered_at - finished_at) / 3600.0, 0) END AS recovery_hours
FROM judged;
