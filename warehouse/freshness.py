"""Whether the tables warehouse/precompute.py stores still describe the data.

Apart from precompute.py so that metrics.py can ask without importing the module that
writes them (which itself runs the metric SQL).
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


