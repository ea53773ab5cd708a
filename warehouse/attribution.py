"""Incident causes, failure evidence, and the reads the commit graph needs, as SQL.

Which deployment caused a GitHub incident, in order of evidence:
  1. the deployment or Actions run the issue body links to;
  2. the pull request it names ("caused by #123"): the first production deployment that
     shipped any of that pull request's commits;
  3. the commit it names (a full or short sha): the deployment that first shipped it, else
     the first successful production deployment of exactly that sha;
  4. nothing named: the time window, which is not applied here but by the metric rule for
     incidents of every source (`incident_deployments` in warehouse/sql/01_prod_deployments.sql);
  5. otherwise unattributed (counted in the sync and import output and on Data health).

Named causes are resolved again on every sync, because evidence arrives in any order: an
incident can name a pull request that no deployment has shipped yet.

Failure evidence (`deployment_evidence`) is stored as observed; the rule that reads it is SQL.
"""

from __future__ import annotations

from warehouse.db import Warehouse

SOURCE = "github"


def _replace(
    wh: Warehouse, table: str, key: tuple[str, ...], columns: tuple[str, ...], rows: list[dict]
) -> None:
    """Upsert rows of a side table on `key`, in one transaction (idempotent)."""
    if not rows:
        return
    where = " AND ".join(f"{k} = ?" for k in key)
    marks = ", ".join("?" for _ in columns)

    def write() -> None:
        with wh.transaction():
            for r in rows:
                wh.con.execute(f"DELETE FROM {table} WHERE {where}", [r[k] for k in key])
                wh.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                               [r.get(c) for c in columns])

    wh.retried(write, f"saving {table}")


def save_causes(wh: Warehouse, rows: list[dict]) -> None:
    """Parsed causes (key: incident_id), saved BEFORE the incident rows and their cursor, so a
    sync killed in between re-reads them; attribution is recomputed by `attribute`."""
    _replace(
        wh,
        "github_incident_causes",
        ("incident_id",),
        ("incident_id", "repo", "cause_kind", "cause_ref", "cause_repo"),
        rows,
    )


# Evidence kinds by who observes them: a deployment's own texts (read with the deployment) and
# the commit walk (collectors/git.py). Re-reading one kind replaces only that kind.
TEXT_KINDS = ("hotfix_ref", "rollback_ref")
GRAPH_KINDS = ("hotfix_change", "revert_of", "revert_of_pr", "redeploy", "fix_forward", "release_note")


def save_evidence(wh: Warehouse, deployment_ids: list[str], kinds: tuple[str, ...], rows: list[dict]) -> None:
    """Replace the evidence of these kinds observed on these deployments by `rows` (each with
    deployment_id, kind, source, points_at, observed_at, optional detail), in one transaction:
    a deployment walked again gets exactly its new evidence, stale evidence included nothing."""
    if not deployment_ids:
        return
    columns = ("deployment_id", "kind", "source", "points_at", "observed_at", "detail")
    wh.retried(lambda: _replace_evidence(wh, deployment_ids, kinds, rows, columns), "saving failure evidence")


def _replace_evidence(
    wh: Warehouse, deployment_ids: list[str], kinds: tuple[str, ...], rows: list[dict],
    columns: tuple[str, ...],
) -> None:
    with wh.transaction():
        # Evidence moves the failure of the deployments it is on and of those it points at.
        wh.mark_dirty(
            "SELECT NULL::VARCHAR AS repo, unnest(?::VARCHAR[]) AS deployment_id, NULL::VARCHAR AS service",
            [list(dict.fromkeys([*deployment_ids, *(r["points_at"] for r in rows if r.get("points_at"))]))],
        )
        wh.con.execute(
            "DELETE FROM deployment_evidence "
            "WHERE list_contains(?, deployment_id) AND list_contains(?, kind)",
            [list(dict.fromkeys(deployment_ids)), list(kinds)],
        )
        if rows:
            wh.con.executemany(
                f"INSERT INTO deployment_evidence ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?)",
                [[r.get(c) for c in columns] for r in rows],
            )


def incident_summary(counts: dict[str, int]) -> str:
    """The line the sync and import commands print."""
    return (
        f"incidents attributed by named cause: {counts['named']}, by time window: "
        f"{counts['window']}, unattributed: {counts['unattributed']}"
    )


def incident_counts(wh: Warehouse) -> dict[str, int]:
    """How incidents are attributed after the metric rule (needs metrics.prepare on `wh`):
    named (by their source or a named cause), window, unattributed."""
    counts = {"named": 0, "window": 0, "unattributed": 0}
    for how, n in wh.con.execute(
        "SELECT coalesce(attributed_by, 'unattributed'), count(*) FROM incident_deployments GROUP BY 1"
    ).fetchall():
        counts[how] = n
    return counts


ATTRIBUTE_SQL = """
WITH prod AS (
    SELECT d.* FROM deployments d
    WHERE d.status = 'success' AND is_production(d.environment, d.is_production, $prod)
),
named AS (
    SELECT c.incident_id,
        CASE c.cause_kind
            WHEN 'deployment' THEN (
                SELECT d.deployment_id FROM deployments d
                WHERE lower(d.deployment_id)
                    = lower('github:' || c.cause_repo || ':deployment:' || c.cause_ref))
            WHEN 'run' THEN (
                SELECT d.deployment_id FROM deployments d
                WHERE lower(d.deployment_id) = lower('github:' || c.cause_repo || ':run:' || c.cause_ref))
            WHEN 'pull_request' THEN (
                SELECT p.deployment_id FROM changes ch JOIN prod p ON p.deployment_id = ch.deployment_id
                WHERE lower(ch.repo) = lower(c.cause_repo) AND ch.pr_number = TRY_CAST(c.cause_ref AS BIGINT)
                ORDER BY p.finished_at, p.deployment_id LIMIT 1)
            WHEN 'sha' THEN coalesce(
                (SELECT p.deployment_id FROM changes ch JOIN prod p ON p.deployment_id = ch.deployment_id
                 WHERE lower(ch.repo) = lower(c.cause_repo) AND starts_with(ch.sha, c.cause_ref)
                 ORDER BY p.finished_at, p.deployment_id LIMIT 1),
                (SELECT p.deployment_id FROM prod p
                 WHERE lower(p.repo) = lower(c.cause_repo) AND starts_with(p.sha, c.cause_ref)
                 ORDER BY p.finished_at, p.deployment_id LIMIT 1))
        END AS by_cause
    FROM github_incident_causes c
)
SELECT i.incident_id, n.by_cause
FROM incidents i
JOIN github_incident_causes c USING (incident_id)
LEFT JOIN named n USING (incident_id)
WHERE i.source = 'github'
"""


def attribute(wh: Warehouse, production_regex: str) -> int:
    """Write the named cause of every GitHub incident into incidents.deployment_id (NULL when
    it names none, or none resolves yet; the metric rule then applies the time window).
    Returns how many incidents a named cause attributes."""
    return wh.retried(lambda: _attribute(wh, production_regex), "attributing incidents")


def _attribute(wh: Warehouse, production_regex: str) -> int:
    rows = wh.con.execute(ATTRIBUTE_SQL.replace("$prod", "$1"), [production_regex]).fetchall()
    named = 0
    with wh.transaction():
        # The deployments an incident was and will be attributed to (their failure moves).
        wh.mark_dirty(
            "WITH c AS (SELECT unnest(?::VARCHAR[]) AS incident_id, unnest(?::VARCHAR[]) AS by_cause) "
            "SELECT i.repo, unnest([i.deployment_id, c.by_cause]) AS deployment_id, i.service "
            "FROM incidents i JOIN c USING (incident_id) WHERE i.deployment_id IS DISTINCT FROM c.by_cause",
            [[r[0] for r in rows], [r[1] for r in rows]],
        )
        for incident_id, by_cause in rows:
            named += by_cause is not None
            wh.con.execute(
                "UPDATE incidents SET deployment_id = ? WHERE incident_id = ?", [by_cause, incident_id]
            )
            wh.con.execute(
                "UPDATE github_incident_causes SET attributed_by = ? WHERE incident_id = ?",
                ["cause" if by_cause else None, incident_id],
            )
    return named


def graph_deployments(wh: Warehouse, repo: str, production_regex: str) -> list[dict]:
    """For the commit graph of one repository: its successful production deployments."""
    rows = wh.con.execute(
        "SELECT deployment_id, environment, service, sha, finished_at FROM deployments d "
        "WHERE repo = ? AND status = 'success' AND is_production(environment, is_production, ?) "
        "ORDER BY finished_at, natural_key(deployment_id)",
        [repo, production_regex],
    ).fetchall()
    keys = ("deployment_id", "environment", "service", "sha", "finished_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def graph_pulls(wh: Warehouse, repo: str) -> tuple[list[dict], list[dict]]:
    """Its merged pull requests (number, merge_sha, labels) and the changes known to belong to
    a pull request."""
    prs = wh.con.execute(
        "SELECT number, merge_sha, labels FROM pull_requests WHERE repo = ? AND merge_sha IS NOT NULL", [repo]
    ).fetchall()
    changes = wh.con.execute(
        "SELECT repo, sha, committed_at, authored_at, author, pr_number FROM changes "
        "WHERE repo = ? AND pr_number IS NOT NULL",
        [repo],
    ).fetchall()
    return (
        [{"number": n, "merge_sha": s, "labels": labels} for n, s, labels in prs],
        [
            dict(zip(("repo", "sha", "committed_at", "authored_at", "author", "pr_number"), r, strict=True))
            for r in changes
        ],
    )


def shipped_claims_by_deployment(wh: Warehouse, repo: str) -> dict[str, tuple]:
    """sha -> (finish time, deployment id) of the deployment each change is attributed to now."""
    rows = wh.con.execute(
        "SELECT c.sha, d.finished_at, d.deployment_id FROM changes c "
        "JOIN deployments d ON d.deployment_id = c.deployment_id WHERE c.repo = ?",
        [repo],
    ).fetchall()
    return {sha: (finished, did) for sha, finished, did in rows}


def unship(wh: Warehouse, repo: str, deployment_ids: list[str]) -> None:
    """Forget what these deployments shipped (their sequence is walked again from its start,
    e.g. after a moved tag), so that no commit stays with a deployment that lost it."""
    if deployment_ids:
        wh.con.execute(
            "UPDATE changes SET deployment_id = NULL WHERE repo = ? AND list_contains(?, deployment_id)",
            [repo, deployment_ids],
        )
