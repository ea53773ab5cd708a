"""DORA metrics over the warehouse: the SQL in warehouse/sql/, parameterised here.

Each metric is one readable SQL file, named by its row of the catalog (warehouse/catalog.py);
the metrics table joins them (warehouse/metrics_sql.py; see docs/metrics.md). The views are TEMP views on the
caller's connection, so a read-only connection (the dashboard's) can use them too.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Literal

from warehouse import catalog, freshness
from warehouse.config import MetricsConfig
from warehouse.db import Warehouse
from warehouse.metrics_sql import metric_keys, metrics_view

Scope = Literal["org", "team", "repo"]
Period = Literal["week", "month", "quarter"]
SCOPES: tuple[str, ...] = ("org", "team", "repo")
PERIODS: tuple[str, ...] = ("week", "month", "quarter")
PERIOD_INTERVAL = {"week": "7 days", "month": "1 month", "quarter": "3 months"}

# The JSON keys of `metrics --format json`, in order (DESIGN.md's contract, then extras): the
# period grid's columns, every catalog metric's (warehouse/catalog.py), the DORA level.
METRIC_KEYS = metric_keys()  # the built-in catalog's; metric_keys() also has added metrics


# The files that define the per-row relations warehouse/precompute.py stores.
PER_ROW = {"01_prod_deployments.sql": "prod_deployments", "02_change_lead_times.sql": "change_lead_times"}

METRIC_SQL = re.compile(r"^\d{2}_\w+\.sql$")  # numbered files; impact_*.sql belong to impact


def sql_files() -> list[tuple[str, str]]:
    """Every statement file of the metrics, in the order they run: the numbered files of
    warehouse/sql/ that no catalog row names (the per-row relations, scoping, coverage, the
    level, the period grid), then each catalog metric's aggregate view. The metrics view that
    joins them is composed after these (warehouse/metrics_sql.py)."""
    metrics = catalog.in_table_order()
    named = {m.sql for m in metrics if isinstance(m.sql, str)}
    folder = resources.files("warehouse") / "sql"
    base = sorted((f.name, f.read_text()) for f in folder.iterdir()
                  if METRIC_SQL.match(f.name) and f.name not in named)
    return [*base, *((m.sql if isinstance(m.sql, str) else str(m.sql), m.sql_text()) for m in metrics)]


def _set(wh: Warehouse, name: str, value: object, cast: str) -> None:
    wh.con.execute(f"SET VARIABLE {name} = CAST(? AS {cast})", [value])


def prepare(
    wh: Warehouse, cfg: MetricsConfig | None = None, precomputed: bool = True, *, marts: bool | None = None
) -> bool:
    """Create the metric views on this connection for the given production rules.

    The per-row relations (prod_deployments, change_lead_times) are read from the tables
    precomputed at the last load when those are fresh (warehouse/precompute.py,
    warehouse/freshness.py), else computed here from the canonical tables by the same SQL.
    `marts` forces either (the refresh itself). Returns whether the stored tables are read.
    """
    cfg = cfg or MetricsConfig()
    _set(wh, "production_environment", cfg.production_environment, "VARCHAR")
    _set(wh, "failed_runs_count", cfg.failed_runs_count, "BOOLEAN")
    _set(wh, "failure_window_hours", cfg.failure_window_hours, "DOUBLE")
    _set(wh, "incident_window_hours", cfg.incident_window_hours, "DOUBLE")
    # Defaults so that the views are valid before compute_metrics narrows them.
    _set(wh, "scope", "org", "VARCHAR")
    _set(wh, "period", "week", "VARCHAR")
    _set(wh, "period_interval", PERIOD_INTERVAL["week"], "VARCHAR")
    _set(wh, "since_ts", datetime(1970, 1, 1, tzinfo=UTC), "TIMESTAMPTZ")
    _set(wh, "until_ts", datetime.now(UTC), "TIMESTAMPTZ")
    stored = (precomputed and freshness.is_fresh(wh, cfg)) if marts is None else marts
    for name, sql in sql_files():
        relation = PER_ROW.get(name)
        if relation is None:
            wh.con.execute(sql)
            continue
        # A relation of either kind may be left on this connection by an earlier prepare. The
        # catalog says which: dropping the wrong kind raises, and inside a transaction (a
        # refresh) that error aborts the transaction even when caught.
        # (Tables found by their columns: duckdb_tables() asks a DuckLake for every table's size.)
        for (kind,) in wh.con.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = $1 "
            "UNION ALL SELECT DISTINCT 'TABLE' FROM duckdb_columns() WHERE database_name = 'temp' "
            "AND table_name = $1 AND $1 NOT IN (SELECT view_name FROM duckdb_views() WHERE temporary)",
            [relation],
        ).fetchall():
            wh.con.execute(f"DROP {kind} temp.{relation}")
        if stored:
            # The stored relation is its file's last statement (as DuckDB's parser splits the
            # file); the file's other (cheap) views before it still come from the file.
            *before, last = wh.con.extract_statements(sql)
            if not re.match(rf"\s*(--[^\n]*\n\s*)*CREATE OR REPLACE TEMP (TABLE|VIEW) {relation}\b",
                            last.query):
                raise RuntimeError(f"warehouse/sql/{name}: its last statement must create {relation}")
            for statement in before:
                wh.con.execute(statement)
            wh.con.execute(f"CREATE TEMP VIEW {relation} AS SELECT * FROM {freshness.MARTS[relation]}")
        else:
            wh.con.execute(sql)
    wh.con.execute(metrics_view())
    return stored


def _read_stored_aggregates(
    wh: Warehouse, by: str, period: str, since: date | None, until_ts: datetime
) -> bool:
    """Point the aggregate views (one per catalog metric) at their stored per-period rows, when those are
    exactly what the views would give for this range: a stored scope, whole periods at the
    start (no --since inside a period), and at the end either whole periods too (a past
    quarter that `compare` reads ends where the next begins) or no stored row at or after the
    range's end (the running period is then the same rows). The metrics view above them, with
    its coverage, is unchanged."""
    if by not in freshness.STORED_SCOPES or (since is not None and period_floor(since, period) != since):
        return False
    end = until_ts.astimezone(UTC)
    whole_periods = end.time() == time(0) and period_floor(end.date(), period) == end.date()
    latest = wh.scalar("SELECT max(finished_at) FROM prod_deployments")
    if not whole_periods and latest is not None and latest >= until_ts:
        return False
    for name in freshness.aggregates():
        wh.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (scope, period_kind) FROM mart_{name} "
            "WHERE scope = getvariable('scope') AND period_kind = getvariable('period') "
            "AND period_start >= date_trunc(getvariable('period'), getvariable('since_ts'))::DATE "
            "AND period_start < getvariable('until_ts')"
        )
    return True


def period_floor(day: date, period: str) -> date:
    """The first day of the calendar period (ISO week, month, quarter) holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def metric_range(
    wh: Warehouse, period: str, since: date | None, until: date | None
) -> tuple[datetime, datetime]:
    """[since, until) as instants: --since from 00:00 UTC; --until through the end of that day.

    Without --since the range starts with the calendar period of the first production
    deployment, so that period is not clipped to the hour of that deployment.
    """
    # The future has no deployments yet: a later --until is clipped to now, so the running
    # period is measured over its elapsed days and no empty future periods appear.
    now = datetime.now(UTC)
    until_ts = min(_start_of(until + timedelta(days=1)), now) if until else now
    if since:
        since_ts = _start_of(since)
    else:
        first = wh.con.execute(
            "SELECT date_trunc(?, min(finished_at))::DATE FROM prod_deployments", [period]
        ).fetchone()[0]
        since_ts = _start_of(first) if first is not None else until_ts
    return since_ts, until_ts


def compute_metrics(
    wh: Warehouse,
    cfg: MetricsConfig | None = None,
    by: Scope = "org",
    period: Period = "quarter",
    since: date | None = None,
    until: date | None = None,
    precomputed: bool = True,
) -> list[dict]:
    """One dict per (scope, key, period) with the keys of metric_keys().

    precomputed=False computes from the canonical tables even when the stored tables are
    fresh (the tests compare the two paths); precomputed, the per-row tables and, where they
    give the same rows, the per-period aggregates are read instead."""
    if by not in SCOPES:
        raise ValueError(f"by must be one of {SCOPES}")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    stored = prepare(wh, cfg, precomputed)
    since_ts, until_ts = metric_range(wh, period, since, until)
    _set(wh, "scope", by, "VARCHAR")
    _set(wh, "period", period, "VARCHAR")
    _set(wh, "period_interval", PERIOD_INTERVAL[period], "VARCHAR")
    _set(wh, "since_ts", since_ts, "TIMESTAMPTZ")
    _set(wh, "until_ts", until_ts, "TIMESTAMPTZ")
    if since_ts >= until_ts:
        return []
    if stored:
        _read_stored_aggregates(wh, by, period, since, until_ts)
    rows = wh.frame(f"SELECT {', '.join(metric_keys())} FROM metrics").to_dicts()
    return rows
