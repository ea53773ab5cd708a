"""Whether the tables warehouse/precompute.py stores still describe the data.

Apart from precompute.py so that metrics.py can ask without importing the module that
writes them (which itself runs the metric SQL).
"""

from __future__ import annotations

import json

from warehouse import catalog
from warehouse.config import MetricsConfig
from warehouse.db import Warehouse

# The temp relations of warehouse/sql/ that are precomputed per row, and the table holding each.
MARTS = {"prod_deployments": "mart_prod_deployments", "change_lead_times": "mart_change_lead_times"}


def aggregates() -> tuple[str, ...]:
    """The aggregate views of the metrics, stored per scope and period as mart_<name>: one per
    metric of the catalog (with any added one)."""
    return tuple(m.view for m in catalog.in_table_order())


AGGREGATES = aggregates()  # the built-in catalog's
# The scopes whose aggregates are stored: the dashboard's (per repository, 2,000 keys at scale,
# would triple the refresh for a view the dashboard does not draw; it is computed from the
# per-row tables).
STORED_SCOPES = ("org", "team")


def rules(cfg: MetricsConfig) -> str:
    """The metric rules the per-row tables depend on, as one comparable string."""
    return json.dumps(
        {
            "production_environment": cfg.production_environment,
            "failed_runs_count": cfg.failed_runs_count,
            "failure_window_hours": cfg.failure_window_hours,
            "incident_window_hours": cfg.incident_window_hours,
            # Another set of metrics (one added) needs its own stored aggregates: until a
            # refresh builds them, readers compute from the rows.
            "aggregates": aggregates(),
        },
        sort_keys=True,
    )


def _exists(wh: Warehouse, table: str) -> bool:
    # From the columns: information_schema.tables asks a DuckLake catalog for every table's
    # size, a catalog round trip per table, on every call.
    return bool(wh.scalar(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'",
        [table],
    ))


def is_fresh(wh: Warehouse, cfg: MetricsConfig) -> bool:
    """Whether the stored tables were built under these rules from the data as it is now:
    same rules, nothing queued, no load since the refresh finished."""
    if not wh.precomputes:
        return False
    if not _exists(wh, "mart_state") or not _exists(wh, "mart_dirty_repos"):
        return False
    row = wh.con.execute(
        "SELECT m.rules, m.version = v.version, "
        "(SELECT count(*) FROM mart_dirty_repos) + (SELECT count(*) FROM mart_dirty_periods) "
        "FROM mart_state m, load_version v"
    ).fetchone()
    return row is not None and row[0] == rules(cfg) and bool(row[1]) and row[2] == 0
