"""The metrics table, composed from the catalog: the period grid (warehouse/sql/30_period_grid.sql)
with every metric's aggregate view joined on (key, period_start), each contributing the columns
its catalog row names, then the period's DORA level.

Each metric stays one readable SQL query in its own file (Four Keys style); this module only
writes the join, which is the same for every metric. `metrics_view()` returns the statement, so
a reader can print it (`python -m warehouse.metrics_sql`).
"""

from __future__ import annotations

from warehouse import catalog

# The columns of the period grid, first in every metrics row.
GRID_KEYS = ("scope", "key", "period", "period_start", "period_end", "period_days", "complete")

# The period's DORA 2024 cluster (warehouse/sql/20_dora_level.sql) over four of the catalog's
# columns: DORA's clusters bound exactly these, so a new metric does not enter the level.
LEVEL = ("dora_level(deployments_per_week, lead_time_median_hours, change_fail_rate, "
         "recovery_time_median_hours, production_deployments) AS dora_level")


def metric_keys() -> tuple[str, ...]:
    """The columns of the metrics table, in order: the JSON keys of `metrics --format json`."""
    return (*GRID_KEYS, *(c.name for m in catalog.in_table_order() for c in m.columns), "dora_level")


def _select(alias: str, column: catalog.Column) -> str:
    if column.kind == "count":
        return f"coalesce({alias}.{column.name}, 0) AS {column.name}"
    if column.kind == "per_week":
        return f"coalesce({alias}.{column.of}, 0) / (g.period_days / 7.0) AS {column.name}"
    return f"{alias}.{column.name}"


def metrics_view() -> str:
    """CREATE the TEMP view `metrics` over the period grid and the catalog's aggregate views."""
    columns, joins = [f"        g.{k}," for k in GRID_KEYS], []
    for i, metric in enumerate(catalog.in_table_order()):
        alias = f"m{i}"
        source = metric.sql if isinstance(metric.sql, str) else metric.sql.name
        columns.append(f"        -- {metric.name} ({source})")
        columns.extend(f"        {_select(alias, c)}," for c in metric.columns)
        joins.append(f"    LEFT JOIN {metric.view} {alias} USING (key, period_start)")
    columns[-1] = columns[-1].rstrip(",")
    return "\n".join([
        "CREATE OR REPLACE TEMP VIEW metrics AS",
        f"SELECT *, {LEVEL}",
        "FROM (",
        "    SELECT",
        *columns,
        "    FROM period_grid g",
        *joins,
        ")",
        "ORDER BY key, period_start",
    ])


if __name__ == "__main__":
    print(metrics_view() + ";")
