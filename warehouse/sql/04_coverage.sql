-- How much of time the data covers, per key: rates are per covered day, and a period that
-- the data covers only in part is marked incomplete rather than read as a fall.
--
-- The data ends at the end of the UTC day of the latest thing the warehouse holds (a
-- deployment of any environment, a commit, a pull request, a review, an incident), or at the
-- latest sync, whichever is later; never after until_ts (itself never after now). A key's
-- data begins on the UTC day of its first production deployment (or failed run).
-- Covered: [greatest(since, the key's first day), least(until, the data's end)).
CREATE OR REPLACE TEMP VIEW data_end AS
SELECT least(
    getvariable('until_ts'),
    greatest(
        date_trunc('day', greatest(
            (SELECT max(finished_at) FROM deployments),
            (SELECT max(committed_at) FROM changes),
            (SELECT max(greatest(created_at, merged_at)) FROM pull_requests),
            (SELECT max(submitted_at) FROM reviews),
            (SELECT max(greatest(opened_at, resolved_at)) FROM incidents)
        )) + INTERVAL 1 DAY,
        (SELECT max(updated_at) FROM sync_state)
    )
) AS covered_to;

CREATE OR REPLACE TEMP VIEW key_coverage AS
SELECT
    key,
    greatest(date_trunc('day', min(finished_at)), getvariable('since_ts')) AS covered_from,
    (SELECT covered_to FROM data_end) AS covered_to
FROM keyed_deployments
GROUP BY key;
