-- Impact analysis: one row per pull request shipped to production, with its lead time split
-- into stages and the handoffs it needed.
--
-- Stages (hours; a negative span from clock skew counts as 0):
--   coding      first commit -> PR opened (first commit: the PR's own, else its earliest change)
--   pickup      PR opened -> first review by someone other than the author
--   review      first review -> merge
--   deploy wait merge -> the first successful production deployment that shipped it
-- A PR merged without a review has no pickup or review stage.
--
-- Handoffs:
--   outside_reviews  reviews (any submitted state) by people outside the author's team
--   teams_touching   distinct teams among the author's, the reviewers' and the shipping team
-- A person's team is the team they open most pull requests for (ties: first by name). Someone
-- who never opens one (a reviewer only) has no known team: they count as outside the author's
-- team and as a team of their own. The data has no deployment approval events, so waits for a
-- deployment approval are inside "deploy wait".
CREATE OR REPLACE TEMP VIEW impact_pr_flow AS
WITH links AS (
    -- A PR's changes: by pr_number, or by the merge commit (squash merges).
    SELECT p.repo, p.number, l.team, l.shipped_at, l.committed_at
    FROM pull_requests p
    JOIN change_lead_times l ON l.repo = p.repo AND l.pr_number = p.number
    UNION ALL
    SELECT p.repo, p.number, l.team, l.shipped_at, l.committed_at
    FROM pull_requests p
    JOIN change_lead_times l ON l.repo = p.repo AND l.sha = p.merge_sha
),
shipped AS (
    SELECT repo, number,
           min(shipped_at) AS shipped_at,
           arg_min(team, shipped_at) AS team,
           min(committed_at) AS first_change_at
    FROM links
    GROUP BY repo, number
),
authored AS (
    SELECT p.author AS person, s.team, count(*) AS prs
    FROM pull_requests p JOIN shipped s USING (repo, number)
    WHERE p.author IS NOT NULL
    GROUP BY ALL
),
home AS (
    SELECT person, first(team ORDER BY prs DESC, team) AS team
    FROM authored
    GROUP BY person
),
prs AS (
    SELECT p.repo, p.number, p.author, p.created_at, p.merged_at,
           p.first_review_at AS recorded_first_review_at,
           coalesce(p.first_commit_at, s.first_change_at) AS first_commit_at,
           s.shipped_at, s.team,
           coalesce(h.team, s.team) AS author_team
    FROM pull_requests p
    JOIN shipped s USING (repo, number)
    LEFT JOIN home h ON h.person = p.author
    WHERE p.merged_at IS NOT NULL
),
review_rows AS (
    SELECT r.repo, r.number, r.submitted_at,
           coalesce(h.team, 'person:' || r.reviewer) AS reviewer_team,
           p.author_team
    FROM reviews r
    JOIN prs p USING (repo, number)
    LEFT JOIN home h ON h.person = r.reviewer
    WHERE r.reviewer IS NOT NULL
      AND r.reviewer IS DISTINCT FROM p.author
      AND upper(coalesce(r.state, '')) <> 'PENDING'
),
per_pr AS (
    SELECT repo, number,
           min(submitted_at) AS first_review_at,
           count(*) FILTER (WHERE reviewer_team <> author_team) AS outside_reviews
    FROM review_rows
    GROUP BY repo, number
),
touches AS (
    SELECT repo, number, author_team AS touching FROM prs
    UNION
    SELECT repo, number, team FROM prs
    UNION
    SELECT repo, number, reviewer_team FROM review_rows
),
touched AS (
    SELECT repo, number, count(*) AS teams_touching FROM touches GROUP BY repo, number
),
timed AS (
    SELECT p.*,
           coalesce(r.first_review_at, p.recorded_first_review_at) AS first_review_at,
           coalesce(r.outside_reviews, 0) AS outside_reviews,
           t.teams_touching
    FROM prs p
    LEFT JOIN per_pr r USING (repo, number)
    JOIN touched t USING (repo, number)
)
SELECT repo, number, author, team, author_team, first_commit_at, created_at, first_review_at,
       merged_at, shipped_at, outside_reviews, teams_touching,
       -- greatest() skips NULLs, so a missing end stays NULL only through the explicit CASE.
       CASE WHEN first_commit_at IS NOT NULL
           THEN greatest(epoch(created_at - first_commit_at) / 3600.0, 0) END AS coding_hours,
       CASE WHEN first_review_at IS NOT NULL
           THEN greatest(epoch(first_review_at - created_at) / 3600.0, 0) END AS pickup_hours,
       CASE WHEN first_review_at IS NOT NULL
           THEN greatest(epoch(merged_at - first_review_at) / 3600.0, 0) END AS review_hours,
       greatest(epoch(shipped_at - merged_at) / 3600.0, 0) AS deploy_wait_hours
FROM timed;
