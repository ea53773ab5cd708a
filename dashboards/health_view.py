"""The Data health page's checks: when each repository and resource last synced, the rate
limit GitHub reported at the last sync, and the coverage gaps that make metrics less complete
than they look, each with its count and a sample of its rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from dashboards import data
from warehouse import Warehouse
from warehouse.metrics import prepare

SAMPLE = 5  # rows shown under each gap
STALE_AFTER = timedelta(days=7)
# sync_state scopes that are not a repository: the org-wide cursors, the demo's and imports'
# coverage marks, and the rate limits (collectors/github/sync.py RATE_LIMIT_SCOPE).
NOT_REPOSITORIES = ("*", "coverage", "rate-limit")


@dataclass
class Gap:
    title: str
    why: str
    count: int
    sample: pl.DataFrame


# (title, why it matters, the rows, newest first). Each query lists every row of the gap.
GAPS = (
    (
        "Production deployments that shipped no change",
        "No commit names them as the deployment that first shipped it, so they add nothing to "
        "lead time; rollbacks (which redeploy an older commit) are left out.",
        "SELECT d.deployment_id, d.repo, d.team, d.finished_at FROM prod_deployments d "
        "WHERE d.status = 'success' AND NOT coalesce(d.is_rollback, false) "
        "AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.deployment_id = d.deployment_id) "
        "ORDER BY d.finished_at DESC",
    ),
    (
        "Merged pull requests never shipped",
        "Merged before their repository's last production deployment, yet none of their commits "
        "is in a deployment: their lead time is missing.",
        "SELECT p.repo, p.number, p.merged_at, p.merge_sha FROM pull_requests p "
        "JOIN (SELECT repo, max(finished_at) AS last FROM prod_deployments WHERE status = 'success' "
        "GROUP BY repo) l ON l.repo = p.repo "
        "WHERE p.merged_at IS NOT NULL AND p.merged_at < l.last "
        "AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.repo = p.repo AND c.pr_number = p.number "
        "AND c.deployment_id IS NOT NULL) ORDER BY p.merged_at DESC",
    ),
    (
        "Incidents attributed to no deployment",
        "None named the deployment that caused it and no production deployment of its repository "
        "came in the time window before it: it counts in no change fail rate.",
        "SELECT i.incident_id, i.repo, i.team, i.opened_at, i.severity FROM incident_deployments a "
        "JOIN incidents i USING (incident_id) WHERE a.deployment_id IS NULL ORDER BY i.opened_at DESC",
    ),
)


def _stale_repositories(wh: Warehouse, now: datetime) -> str:
    scopes = ", ".join(f"'{s}'" for s in NOT_REPOSITORIES)
    return (
        "SELECT source, scope AS repository, max(updated_at) AS last_synced FROM sync_state "
        f"WHERE scope NOT IN ({scopes}) GROUP BY ALL "
        f"HAVING max(updated_at) < TIMESTAMPTZ '{(now - STALE_AFTER).isoformat()}' ORDER BY last_synced"
    )


def checks(db: str, config_path: str | None, now: datetime | None = None) -> tuple[dict, datetime, bool]:
    """{"syncs": last sync per (source, repository, resource), "rate_limits": per resource,
    "gaps": [Gap]}."""
    cfg = data.config(config_path).metrics
    now = now or datetime.now(UTC)
    scopes = ", ".join(f"'{s}'" for s in NOT_REPOSITORIES)

    def compute(wh: Warehouse) -> dict:
        prepare(wh, cfg)
        gaps = []
        for title, why, sql in GAPS:
            count = wh.scalar(f"SELECT count(*) FROM ({sql})")
            gaps.append(Gap(title, why, count, wh.frame(f"{sql} LIMIT {SAMPLE}")))
        stale_sql = _stale_repositories(wh, now)
        gaps.append(Gap(
            "Repositories not synced for more than a week",
            "Their newest deployments, changes and incidents may be missing: run `dora-impact sync`.",
            wh.scalar(f"SELECT count(*) FROM ({stale_sql})"),
            wh.frame(f"{stale_sql} LIMIT {SAMPLE}"),
        ))
        limits = wh.frame(
            "SELECT source, resource, cursor, updated_at FROM sync_state WHERE scope = 'rate-limit' "
            "ORDER BY source, resource"
        )
        rate_limits = pl.DataFrame(
            [
                {"source": r["source"], "resource": r["resource"], **_limit(r["cursor"]),
                 "reported_at": r["updated_at"]}
                for r in limits.iter_rows(named=True)
            ],
            schema={"source": pl.String, "resource": pl.String, "remaining": pl.Int64,
                    "reset_at": pl.String, "reported_at": pl.Datetime("us", "UTC")},
        )
        syncs = wh.frame(
            "SELECT source, scope AS repository, resource, updated_at AS last_synced FROM sync_state "
            f"WHERE scope NOT IN ({scopes}) ORDER BY repository, resource"
        )
        return {"syncs": syncs, "rate_limits": rate_limits, "gaps": gaps}

    return data.read(("health-checks", db, config_path), db, compute)


def _limit(cursor: str | None) -> dict:
    try:
        state = json.loads(cursor or "{}")
    except ValueError:
        state = {}
    return {"remaining": state.get("remaining"), "reset_at": state.get("reset_at")}
