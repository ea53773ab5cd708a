"""Read-only data access for the dashboard.

The dashboard never takes DuckDB's write lock: it opens the file read-only, briefly, per
refresh. A sync or import holds the file only for short moments (warehouse/locking.py), and a
refresh waits those out (bounded by READ_WAIT); only if a writer held the file longer still
does the dashboard serve the last data it read, and say how old it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from dashboards.settings import DashboardSettings, load_settings
from warehouse import Warehouse
from warehouse.location import Location
from warehouse.locking import DatabaseBusy
from warehouse.metrics import compute_metrics, prepare

READ_WAIT = 60.0  # seconds a refresh waits for a writer's moment to end


class Busy(Exception):
    """The database is held by a writer (a sync or import is running)."""


@dataclass
class Snapshot:
    value: object
    read_at: datetime


_last_good: dict[tuple, Snapshot] = {}


def _open(db: str) -> Warehouse:
    try:
        return Warehouse(Location.parse(db), read_only=True, wait=READ_WAIT)
    except DatabaseBusy as exc:
        raise Busy(str(exc)) from None


def read(key: tuple, db: str, compute) -> tuple[object, datetime, bool]:
    """(value, when it was read, stale?) — stale when the file is busy and an older copy exists."""
    try:
        with _open(db) as wh:
            value = compute(wh)
    except Busy:
        if key in _last_good:
            snap = _last_good[key]
            return snap.value, snap.read_at, True
        raise
    snap = Snapshot(value, datetime.now(UTC))
    _last_good[key] = snap
    return value, snap.read_at, False


def config(path: str | None) -> DashboardSettings:
    return load_settings(path)


def metrics(
    db: str, config_path: str | None, by: str, period: str, since: date | None, until: date | None
) -> tuple[pl.DataFrame, datetime, bool]:
    cfg = config(config_path).metrics

    def compute(wh: Warehouse) -> pl.DataFrame:
        # The same function as `metrics`: it reads the per-period aggregates precomputed at
        # the last load when they are fresh (milliseconds at any scale), else the raw rows.
        rows = compute_metrics(wh, cfg, by, period, since, until)
        return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()

    return read(("metrics", db, config_path, by, period, since, until), db, compute)


# The rows behind a number, per drill-down table: (view, columns, the time that places a row
# in a period).
DRILL_DOWNS = {
    "deployments": (
        "prod_deployments",
        "deployment_id, repo, team, status, finished_at, failed, caused_incident, "
        "fixed_forward_or_rolled_back, run_failed, is_hotfix, is_rollback, "
        "round(recovery_hours, 2) AS recovery_hours",
        "finished_at",
    ),
    "changes": (
        "change_lead_times",
        "repo, sha, author, pr_number, deployment_id, committed_at, shipped_at, "
        "round(lead_time_hours, 2) AS lead_time_hours",
        "shipped_at",
    ),
}


def rows_behind(
    kind: str, db: str, config_path: str | None, team: str | None, start: date, end: date
) -> tuple[pl.DataFrame, datetime, bool]:
    """The production deployments (with why each failed) or the shipped changes (with their
    lead time) of one team in [start, end): what a number on the dashboard counts."""
    cfg = config(config_path).metrics
    view, columns, at = DRILL_DOWNS[kind]

    def compute(wh: Warehouse) -> pl.DataFrame:
        prepare(wh, cfg)
        return wh.frame(
            f"SELECT {columns} FROM {view} WHERE {at} >= ? AND {at} < ? "
            f"AND (? IS NULL OR team = ?) ORDER BY {at}",
            [start, end, team, team],
        )

    return read((kind, db, config_path, team, start, end), db, compute)


def data_end(db: str, config_path: str | None) -> tuple[date | None, datetime, bool]:
    """The last day the data covers (warehouse/sql/04_coverage.sql), or None when empty: the
    dashboard counts its "months shown" back from there, so an old history still shows."""
    cfg = config(config_path).metrics

    def compute(wh: Warehouse) -> date | None:
        prepare(wh, cfg)
        end = wh.scalar("SELECT covered_to FROM data_end")
        return None if end is None else (end - timedelta(microseconds=1)).date()

    return read(("data_end", db, config_path), db, compute)


def freshness(db: str) -> tuple[pl.DataFrame, datetime, bool]:
    """When each source last loaded data (an import, a sync, the demo), newest first."""

    def compute(wh: Warehouse) -> pl.DataFrame:
        if not wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'source_loads'"):
            return pl.DataFrame({"source": [], "loaded_at": []})  # a file older than the table
        # One row per source (on a DuckLake, each shard's home has its own).
        return wh.frame(
            "SELECT source, max(loaded_at) AS loaded_at FROM source_loads GROUP BY source ORDER BY 2 DESC"
        )

    return read(("freshness", db), db, compute)


def health(db: str, config_path: str | None) -> tuple[dict, datetime, bool]:
    """Row counts and the gaps that make metrics less complete than they look."""
    cfg = config(config_path).metrics

    def compute(wh: Warehouse) -> dict:
        prepare(wh, cfg)
        one = lambda sql: wh.con.execute(sql).fetchone()[0]  # noqa: E731
        tables = wh.table_counts()
        # The teams table holds one row per repository (its owner): count teams, and say how
        # many repositories they own.
        del tables["teams"]
        return {
            "tables": {
                "teams": one(
                    "SELECT count(DISTINCT team) FROM (SELECT team FROM teams UNION ALL "
                    "SELECT team FROM deployments WHERE team IS NOT NULL)"
                ),
                "repositories": one(
                    "SELECT count(*) FROM (SELECT repo FROM teams UNION SELECT repo FROM deployments)"
                ),
                **tables,
            },
            "non_production_deployments": one(
                "SELECT count(*) FROM deployments WHERE deployment_id NOT IN "
                "(SELECT deployment_id FROM prod_deployments)"
            ),
            "changes_without_deployment": one("SELECT count(*) FROM changes WHERE deployment_id IS NULL"),
            # After the metric rule's time window, for every source (incident_deployments).
            "unattributed_incidents": one(
                "SELECT count(*) FROM incident_deployments WHERE deployment_id IS NULL"
            ),
            "unresolved_incidents": one("SELECT count(*) FROM incidents WHERE resolved_at IS NULL"),
            "unassigned_deployments": one("SELECT count(*) FROM prod_deployments WHERE team = 'unassigned'"),
            "last_deployment": one("SELECT max(finished_at) FROM prod_deployments"),
            "sync_state": wh.frame(
                "SELECT source, scope, resource, updated_at FROM sync_state ORDER BY updated_at DESC"
            ),
        }

    return read(("health", db, config_path), db, compute)


def load_version(db: str) -> int | None:
    """The warehouse's load version (every load adds one): the pages' caches are keyed on it,
    so they hold until the data changes rather than for a fixed time."""

    def compute(wh: Warehouse) -> int | None:
        try:
            return wh.scalar("SELECT version FROM load_version")
        except duckdb.Error:  # a store without the table: no version, the caches key on the day
            return None

    return read(("load_version", db), db, compute)[0]  # type: ignore[return-value]


def team_names(db: str) -> tuple[list[str], datetime, bool]:
    """Every team that owns a repository or deployed, from one distinct query (not from a
    metrics run over every team)."""

    def compute(wh: Warehouse) -> list[str]:
        return [t for (t,) in wh.con.execute(
            "SELECT team FROM teams UNION SELECT team FROM deployments WHERE team IS NOT NULL ORDER BY 1"
        ).fetchall()]

    return read(("team_names", db), db, compute)


def initiative_cohorts(
    db: str, config_path: str | None
) -> tuple[list[tuple[str, str, date]], datetime, bool]:
    """(initiative, team, adoption day) of every adopting team: a team's chart marks only the
    initiatives it adopted, on the day it did."""
    from warehouse.impact.initiatives import resolve

    cfg = config(config_path)

    def compute(wh: Warehouse) -> list[tuple[str, str, date]]:
        return [(i.name, team, c.started_on) for i in resolve(wh, cfg) for c in i.cohorts for team in c.teams]

    return read(("initiative_cohorts", db, config_path), db, compute)


def initiative_starts(db: str, config_path: str | None) -> tuple[list[tuple[str, date]], datetime, bool]:
    """(name, first start) of every initiative, config and imported, as the trend charts mark
    them; without running the estimates."""
    from warehouse.impact.initiatives import resolve

    cfg = config(config_path)

    def compute(wh: Warehouse) -> list[tuple[str, date]]:
        return [(i.name, i.started_on) for i in resolve(wh, cfg)]

    return read(("initiative_starts", db, config_path), db, compute)


def impact(db: str, config_path: str | None) -> tuple[list, datetime, bool]:
    from warehouse.impact import run

    cfg = config(config_path)

    def compute(wh: Warehouse) -> list:
        return run(wh, cfg)

    return read(("impact", db, config_path), db, compute)


def quarters(db: str) -> tuple[list[str], datetime, bool]:
    """The quarters the data touches, newest first (the choices of the Quarters page)."""

    def compute(wh: Warehouse) -> list[str]:
        from warehouse.compare import data_span

        first, last = data_span(wh)
        if first is None:
            return []
        out, year, q = [], last.year, (last.month - 1) // 3 + 1
        while (year, q) >= (first.year, (first.month - 1) // 3 + 1):
            out.append(f"{year}-Q{q}")
            year, q = (year, q - 1) if q > 1 else (year - 1, 4)
        return out

    return read(("quarters", db), db, compute)


def compare(db: str, config_path: str | None, a: str, b: str) -> tuple[list[dict], datetime, bool]:
    """The rows of `compare A B --by team`: the same workflow, so the same numbers."""
    from dora_impact_app.workflows import compare as compare_periods

    settings = config(config_path)
    return read(("compare", db, config_path, a, b), db,
                lambda wh: compare_periods(wh, settings, a, b, by="team"))


def report_html(db: str, config_path: str | None, a: str, b: str) -> str:
    """The HTML of `dora-impact report --quarter A --compare B`: the same workflow, run in
    process (dora_impact_app/workflows.py)."""
    from dora_impact_app.workflows import report

    settings = config(config_path)
    with _open(db) as wh:
        return report(wh, settings, a, b, "html", "team")
