"""The per-row tables every metric aggregates, kept precomputed in the file.

`prod_deployments` (a window over every repository's deployments, joined with incidents) and
`change_lead_times` (every change joined with its shipping deployment) are the costly part of
a metric query; at a million deployments they take seconds. `refresh` stores them as
`mart_prod_deployments` and `mart_change_lead_times` at the end of every load (import, sync,
demo), in one transaction, together with the production rules and the load count they were
built from (`mart_state`). `metrics.prepare` reads them when they are fresh (same rules, no
load since) and computes them on the connection otherwise, so a stale or missing mart costs
time, never correctness. Every number then comes from the same SQL (warehouse/sql/), so the
two paths give identical results.
"""

from __future__ import annotations

import json

from warehouse.config import MetricsConfig
from warehouse.db import Warehouse

# The temp relations of warehouse/sql/ that are precomputed, and the table holding each.
MARTS = {"prod_deployments": "mart_prod_deployments", "change_lead_times": "mart_change_lead_times"}


def rules(cfg: MetricsConfig) -> str:
    """The production rules a mart depends on, as one comparable string."""
    return json.dumps(
        {"production_environment": cfg.production_environment, "failed_runs_count": cfg.failed_runs_count},
        sort_keys=True,
    )


def _exists(wh: Warehouse, table: str) -> bool:
    return bool(wh.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [table],
    ))


def is_fresh(wh: Warehouse, cfg: MetricsConfig) -> bool:
    """Whether the stored tables were built under these rules from the data as it is now."""
    if not _exists(wh, "mart_state") or not _exists(wh, "load_version"):
        return False
    row = wh.con.execute(
        "SELECT m.rules, m.version = v.version FROM mart_state m, load_version v"
    ).fetchone()
    return row is not None and row[0] == rules(cfg) and bool(row[1])


def refresh(wh: Warehouse, cfg: MetricsConfig | None = None) -> None:
    """Rebuild the stored tables from the canonical ones, atomically."""
    from warehouse.metrics import prepare  # metrics reads the marts this module writes

    cfg = cfg or MetricsConfig()
    with wh.transaction():
        prepare(wh, cfg, precomputed=False)
        # Sorted by time, so that a range read skips the row groups outside it.
        wh.con.execute(
            "CREATE OR REPLACE TABLE mart_prod_deployments AS "
            "SELECT * FROM prod_deployments ORDER BY finished_at, deployment_id"
        )
        wh.con.execute(
            "CREATE OR REPLACE TABLE mart_change_lead_times AS "
            "SELECT * FROM change_lead_times ORDER BY shipped_at, repo, sha"
        )
        wh.con.execute(
            "CREATE OR REPLACE TABLE mart_state AS "
            "SELECT CAST(? AS VARCHAR) AS rules, version, now() AS built_at FROM load_version",
            [rules(cfg)],
        )
