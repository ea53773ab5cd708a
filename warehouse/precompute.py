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

from datetime import UTC, date, datetime

from warehouse.config import MetricsConfig
from warehouse.db import Warehouse
from warehouse.freshness import MARTS, _exists, is_fresh, rules
from warehouse.metrics import METRIC_KEYS, PERIOD_INTERVAL, PERIODS, _set, period_floor, prepare

__all__ = ["MARTS", "STORED_SCOPES", "is_fresh", "refresh", "rules", "stored_metrics"]

# The scopes whose metrics tables are stored: the dashboard's (per repository, 2,000 keys at
# scale, would triple the refresh for a view the dashboard does not draw).
STORED_SCOPES = ("org", "team")

def refresh(wh: Warehouse, cfg: MetricsConfig | None = None) -> None:
    """Rebuild the stored tables from the canonical ones, atomically."""
    cfg = cfg or MetricsConfig()
    wh.con.execute("SET enable_progress_bar = false")
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
        data_end = _store_metrics(wh)
        wh.con.execute(
            "CREATE OR REPLACE TABLE mart_state AS SELECT CAST(? AS VARCHAR) AS rules, version, "
            "CAST(? AS TIMESTAMPTZ) AS built_at, CAST(? AS TIMESTAMPTZ) AS data_end FROM load_version",
            [rules(cfg), datetime.now(UTC), data_end],
        )


def _store_metrics(wh: Warehouse) -> datetime | None:
    """Store the metrics table of every scope and period over the whole history, measured up
    to where the data ends (not to now): `stored_metrics` then clips the running period to the
    reader's now. Not stored (None) when some row lies in the future: those rows would count in
    a table that a later reader's now has not reached yet."""

    wh.con.execute("DROP TABLE IF EXISTS mart_metrics")
    far = datetime(9999, 1, 1, tzinfo=UTC)
    _set(wh, "until_ts", far, "TIMESTAMPTZ")
    end = wh.scalar("SELECT covered_to FROM data_end")
    latest = wh.scalar("SELECT max(finished_at) FROM deployments")
    if end is None or latest is None or end == far or latest > datetime.now(UTC):
        return None
    _set(wh, "until_ts", end, "TIMESTAMPTZ")
    for scope in STORED_SCOPES:
        for period in PERIODS:
            first = wh.scalar(
                "SELECT date_trunc(?, min(finished_at))::TIMESTAMPTZ FROM prod_deployments", [period]
            )
            _set(wh, "scope", scope, "VARCHAR")
            _set(wh, "period", period, "VARCHAR")
            _set(wh, "period_interval", PERIOD_INTERVAL[period], "VARCHAR")
            _set(wh, "since_ts", first, "TIMESTAMPTZ")
            select = (
                f"SELECT '{period}' AS period_kind, m.*, "
                "greatest(m.period_start::TIMESTAMPTZ, k.covered_from) AS covered_from "
                "FROM metrics m JOIN key_coverage k USING (key)"
            )
            if wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'mart_metrics'"):
                wh.con.execute(f"INSERT INTO mart_metrics {select}")
            else:
                wh.con.execute(f"CREATE TABLE mart_metrics AS {select}")
    return end


def stored_metrics(
    wh: Warehouse, cfg: MetricsConfig, by: str, period: str, since: date | None
) -> list[dict] | None:
    """`compute_metrics(wh, cfg, by, period, since)` (until now) read from the stored table:
    the same rows, or None when the table cannot give them (stale, never built, a `since`
    that is not the first day of a period). Only the periods the reader's now cuts short are
    recomputed: their covered days, rate per week, `complete` and DORA level (the counts are
    final, since no row lies after the table was built)."""
    if by not in STORED_SCOPES or (since is not None and period_floor(since, period) != since):
        return None
    if not is_fresh(wh, cfg) or not _exists(wh, "mart_metrics"):
        return None
    built_at, data_end = wh.con.execute("SELECT built_at, data_end FROM mart_state").fetchone()
    now = datetime.now(UTC)
    if data_end is None or now < built_at:
        return None
    prepare(wh, cfg)  # the dora_level macro
    covered_to = min(now, data_end)
    level = (
        "dora_level(deployments / (days / 7.0), lead_time_median_hours, change_fail_rate, "
        "recovery_time_median_hours, production_deployments)"
    )
    columns = ", ".join(
        {
            "period_days": "days AS period_days",
            "complete": "complete AND NOT cut AS complete",
            "deployments_per_week": "CASE WHEN cut THEN deployments / (days / 7.0) "
                                    "ELSE deployments_per_week END AS deployments_per_week",
            "dora_level": f"CASE WHEN cut THEN {level} ELSE dora_level END AS dora_level",
        }.get(k, k)
        for k in METRIC_KEYS
    )
    return wh.frame(
        f"""
        WITH chosen AS (
            SELECT *, period_end::TIMESTAMPTZ > $covered_to AS cut,
                CASE WHEN period_end::TIMESTAMPTZ > $covered_to
                    THEN epoch($covered_to - covered_from) / 86400.0 ELSE period_days END AS days
            FROM mart_metrics
            WHERE scope = $scope AND period_kind = $period
              AND ($since IS NULL OR period_start >= $since)
              AND least(period_end::TIMESTAMPTZ, $covered_to) > covered_from
        ),
        -- As compute_metrics: the keys with a production deployment in the range.
        active AS (SELECT DISTINCT key FROM chosen WHERE production_deployments > 0)
        SELECT {columns} FROM chosen WHERE key IN (SELECT key FROM active)
        ORDER BY key, period_start
        """,
        {"covered_to": covered_to, "scope": by, "period": period, "since": since},
    ).to_dicts()
