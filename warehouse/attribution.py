"""Incident-to-deployment attribution, and the reads the commit graph needs, as SQL.

Which deployment caused an incident, in order of evidence:
  1. the deployment or Actions run the issue body links to;
  2. the pull request it names ("caused by #123"): the first production deployment that
     shipped any of that pull request's commits;
  3. the commit it names (a full or short sha): the deployment that first shipped it, else
     the first successful production deployment of exactly that sha;
  4. nothing named: the last successful production deployment of the same repository that
     finished within `window_hours` before the incident opened;
  5. otherwise unattributed (deployment_id stays NULL; counted on the data-health view).

Redone on every sync for GitHub incidents, because evidence arrives in any order: an incident
can name a pull request that no deployment has shipped yet.
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
    with wh.transaction():
        for r in rows:
            wh.con.execute(f"DELETE FROM {table} WHERE {where}", [r[k] for k in key])
            wh.con.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [r.get(c) for c in columns]
            )


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


def save_signals(wh: Warehouse, rows: list[dict]) -> None:
    """Hotfix/rollback evidence (key: deployment_id, origin); see `apply_signals`."""
    _replace(
        wh,
        "deployment_signals",
        ("deployment_id", "origin"),
        ("deployment_id", "origin", "hotfix", "rollback"),
        rows,
    )


def apply_signals(wh: Warehouse) -> int:
    """deployments.is_hotfix / is_rollback = OR of their evidence. Returns rows changed."""
    sql = """
        UPDATE deployments d SET is_hotfix = s.hotfix, is_rollback = s.rollback
        FROM (SELECT deployment_id, bool_or(hotfix) AS hotfix, bool_or(rollback) AS rollback
              FROM deployment_signals GROUP BY deployment_id) s
        WHERE d.deployment_id = s.deployment_id
          AND (d.is_hotfix IS DISTINCT FROM s.hotfix OR d.is_rollback IS DISTINCT FROM s.rollback)
    """
    return wh.con.execute(sql).fetchone()[0]


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
                WHERE d.deployment_id = 'github:' || c.cause_repo || ':deployment:' || c.cause_ref)
            WHEN 'run' THEN (
                SELECT d.deployment_id FROM deployments d
                WHERE d.deployment_id = 'github:' || c.cause_repo || ':run:' || c.cause_ref)
            WHEN 'pull_request' THEN (
                SELECT p.deployment_id FROM changes ch JOIN prod p ON p.deployment_id = ch.deployment_id
                WHERE ch.repo = c.cause_repo AND ch.pr_number = TRY_CAST(c.cause_ref AS BIGINT)
                ORDER BY p.finished_at, p.deployment_id LIMIT 1)
            WHEN 'sha' THEN coalesce(
                (SELECT p.deployment_id FROM changes ch JOIN prod p ON p.deployment_id = ch.deployment_id
                 WHERE ch.repo = c.cause_repo AND starts_with(ch.sha, c.cause_ref)
                 ORDER BY p.finished_at, p.deployment_id LIMIT 1),
                (SELECT p.deployment_id FROM prod p
                 WHERE p.repo = c.cause_repo AND starts_with(p.sha, c.cause_ref)
                 ORDER BY p.finished_at, p.deployment_id LIMIT 1))
        END AS by_cause
    FROM github_incident_causes c
),
windowed AS (
    SELECT i.incident_id, (
        SELECT p.deployment_id FROM prod p
        WHERE p.repo = i.repo AND p.finished_at <= i.opened_at
          AND p.finished_at >= i.opened_at - to_microseconds(CAST($window * 3600000000 AS BIGINT))
        ORDER BY p.finished_at DESC, p.deployment_id DESC LIMIT 1
    ) AS by_window
    FROM incidents i
)
SELECT i.incident_id, n.by_cause, w.by_window
FROM incidents i
JOIN github_incident_causes c USING (incident_id)
LEFT JOIN named n USING (incident_id)
LEFT JOIN windowed w USING (incident_id)
WHERE i.source = 'github'
"""


def attribute(wh: Warehouse, production_regex: str, window_hours: float) -> dict[str, int]:
    """Recompute incidents.deployment_id for GitHub incidents. Returns counts per method."""
    rows = wh.con.execute(
        ATTRIBUTE_SQL.replace("$prod", "$1").replace("$window", "$2"),
        [production_regex, window_hours],
    ).fetchall()
    counts = {"cause": 0, "window": 0, "unattributed": 0}
    with wh.transaction():
        for incident_id, by_cause, by_window in rows:
            chosen, how = (
                (by_cause, "cause") if by_cause else (by_window, "window") if by_window else (None, None)
            )
            counts[how or "unattributed"] += 1
            wh.con.execute(
                "UPDATE incidents SET deployment_id = ? WHERE incident_id = ?", [chosen, incident_id]
            )
            wh.con.execute(
                "UPDATE github_incident_causes SET attributed_by = ? WHERE incident_id = ?",
                [how, incident_id],
            )
    return counts


def graph_inputs(
    wh: Warehouse, repo: str, production_regex: str
) -> tuple[list[dict], list[dict], list[dict]]:
    """For the commit graph of one repository: its successful production deployments, its
    merged pull requests (number, merge_sha) and the changes known to belong to a pull request."""
    deployments = wh.con.execute(
        "SELECT deployment_id, environment, sha, finished_at FROM deployments d "
        "WHERE repo = ? AND status = 'success' AND is_production(environment, is_production, ?) "
        "ORDER BY finished_at, deployment_id",
        [repo, production_regex],
    ).fetchall()
    prs = wh.con.execute(
        "SELECT number, merge_sha FROM pull_requests WHERE repo = ? AND merge_sha IS NOT NULL", [repo]
    ).fetchall()
    changes = wh.con.execute(
        "SELECT repo, sha, committed_at, authored_at, author, pr_number FROM changes "
        "WHERE repo = ? AND pr_number IS NOT NULL",
        [repo],
    ).fetchall()
    keys = ("deployment_id", "environment", "sha", "finished_at")
    return (
        [dict(zip(keys, r, strict=True)) for r in deployments],
        [{"number": n, "merge_sha": s} for n, s in prs],
        [
            dict(zip(("repo", "sha", "committed_at", "authored_at", "author", "pr_number"), r, strict=True))
            for r in changes
        ],
    )


def shipped_claims(wh: Warehouse, repo: str) -> dict[str, tuple]:
    """sha -> (finish time, environment) of the deployment each change is attributed to."""
    rows = wh.con.execute(
        "SELECT c.sha, d.finished_at, d.environment FROM changes c "
        "JOIN deployments d ON d.deployment_id = c.deployment_id WHERE c.repo = ?",
        [repo],
    ).fetchall()
    return {sha: (finished, env) for sha, finished, env in rows}
