"""Precomputed tables every metric read can use, kept up to date incrementally after each load.

Two layers, both made by the metric SQL itself (warehouse/sql/), so that a read from them gives
exactly the numbers the SQL gives over the raw tables:

- per row: `mart_prod_deployments` and `mart_change_lead_times`, the costly relations every
  metric aggregates (a window over each repository's deployments joined with incidents and
  evidence; every change joined with its shipping deployment);
- per period: `mart_<aggregate>` for each aggregate view (deployment_frequency, lead_time,
  change_fail_rate, recovery_time, rework_rate), per scope (org, team), period kind and period,
  over whole periods. Medians stay exact: each period's is computed from its rows, never merged
  from smaller ones. The coverage part of the metrics table (covered days, complete, rates per
  week, DORA level) depends on the reader's now and is always computed at read time.

Incremental: a load queues the repositories it touched (`mart_dirty_repos`, in the load's own
transaction: Warehouse.mark_dirty). `refresh` recomputes the rows of those repositories - of
every repository linked to them, so that a rule reaching across repositories still sees all it
reads - in batches of about BATCH_DEPLOYMENTS deployments, one short transaction each; each batch
queues the periods its old and new rows fall in (`mart_dirty_periods`), whose aggregates are
then recomputed a few periods per transaction. Between transactions the writer lets go of the
file (warehouse/locking.py), so readers get in. A killed refresh leaves its queues, and the next
refresh finishes them; until the queues are empty, readers compute from the raw tables
(warehouse/freshness.py), so a stale table costs time, never a different number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import duckdb

from warehouse.config import MetricsConfig
from warehouse.db import Warehouse
from warehouse.freshness import AGGREGATES, MARTS, STORED_SCOPES, _exists, aggregates, is_fresh, rules
from warehouse.metrics import PERIOD_INTERVAL, PERIODS, _set, prepare

__all__ = ["AGGREGATES", "MARTS", "STORED_SCOPES", "is_fresh", "refresh", "rules"]

BATCH_DEPLOYMENTS = 50_000  # deployments recomputed per transaction (about 1-2 s at scale)
CHUNK = {"week": 13, "month": 3, "quarter": 1}  # periods aggregated per transaction

# The column of each per-row table that names the repository whose rows it is.
REPO_COLUMN = {"mart_prod_deployments": "repo", "mart_change_lead_times": "deployment_repo"}


def refresh(wh: Warehouse, cfg: MetricsConfig | None = None, full: bool | None = None) -> None:
    """Bring the precomputed tables up to date with what the loads queued: one set-based build
    when everything must be rebuilt (never built, other rules, a load that asked for it, or a
    load that touched most of the deployments), else the incremental batches. `full` forces
    either (False: the batches, even for a first build)."""
    cfg = cfg or MetricsConfig()
    if full if full is not None else _needs_full_build(wh, cfg):
        _full_build(wh, cfg)
        return
    _start(wh, cfg)
    for batch in _batches(wh):
        _recompute_rows(wh, cfg, batch)
    _recompute_periods(wh, cfg)
    with wh.transaction():
        queued = "SELECT (SELECT count(*) FROM mart_dirty_repos) + (SELECT count(*) FROM mart_dirty_periods)"
        if not wh.scalar(queued):
            wh.con.execute("UPDATE mart_state SET version = (SELECT version FROM load_version)")


FULL_BUILD_SHARE = 0.5  # queued repositories holding more of the deployments: rebuild at once


def _needs_full_build(wh: Warehouse, cfg: MetricsConfig) -> bool:
    tables = (*MARTS.values(), *(f"mart_{a}" for a in aggregates()), "mart_state")
    if not all(_exists(wh, t) for t in tables):
        return True
    if wh.scalar("SELECT rules FROM mart_state") != rules(cfg):
        return True
    if wh.scalar("SELECT count(*) FROM mart_dirty_repos WHERE repo = '*'"):
        return True
    queued, total = wh.con.execute(
        "SELECT count(*) FILTER (WHERE repo IN (SELECT repo FROM mart_dirty_repos)), count(*) "
        "FROM deployments").fetchone()
    return total > 0 and queued > FULL_BUILD_SHARE * total


def _full_build(wh: Warehouse, cfg: MetricsConfig) -> None:
    """Every precomputed table rebuilt by the metric SQL over the whole canonical tables, in one
    transaction: the per-row relations once, each aggregate once per scope and period kind over
    the whole history (a GROUP BY, not one chunk of periods at a time). The same SQL as the
    incremental path, so the same rows. One transaction holds the file for the build (seconds
    to a minute at a million deployments), in exchange for a fraction of the batches' CPU; a
    killed build leaves the queues as they were, and the next refresh starts it again."""
    with wh.transaction():
        prepare(wh, cfg, marts=False)
        for view, table in MARTS.items():
            wh.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {view}")
        for name in aggregates():
            wh.con.execute(
                f"CREATE OR REPLACE TABLE mart_{name} AS "
                f"SELECT ''::VARCHAR AS scope, ''::VARCHAR AS period_kind, * FROM {name} LIMIT 0"
            )
        prepare(wh, cfg, marts=True)  # the aggregates read the tables just stored
        first, last = wh.con.execute(
            "SELECT least(min(finished_at), (SELECT min(shipped_at) FROM change_lead_times)), "
            "greatest(max(finished_at), (SELECT max(shipped_at) FROM change_lead_times)) "
            "FROM prod_deployments"
        ).fetchone()
        if first is not None:
            for kind in PERIODS:
                start = wh.scalar(f"SELECT date_trunc('{kind}', ?::TIMESTAMPTZ)::DATE", [first])
                end = wh.scalar(
                    f"SELECT (date_trunc('{kind}', ?::TIMESTAMPTZ) + INTERVAL '{PERIOD_INTERVAL[kind]}')"
                    "::TIMESTAMPTZ", [last])
                _set(wh, "period", kind, "VARCHAR")
                _set(wh, "period_interval", PERIOD_INTERVAL[kind], "VARCHAR")
                _set(wh, "since_ts", datetime.combine(start, time(0), tzinfo=UTC), "TIMESTAMPTZ")
                _set(wh, "until_ts", end, "TIMESTAMPTZ")
                for scope in STORED_SCOPES:
                    _set(wh, "scope", scope, "VARCHAR")
                    for name in aggregates():
                        wh.con.execute(f"INSERT INTO mart_{name} SELECT ?, ?, * FROM {name}", [scope, kind])
        wh.con.execute("DELETE FROM mart_dirty_repos")
        wh.con.execute("DELETE FROM mart_dirty_periods")
        wh.con.execute("CREATE OR REPLACE TABLE mart_state (rules VARCHAR, version BIGINT)")
        wh.con.execute("INSERT INTO mart_state SELECT ?, version FROM load_version", [rules(cfg)])


def _start(wh: Warehouse, cfg: MetricsConfig) -> None:
    """A full rebuild, queued, when the tables were never built, were built under other rules,
    or a load asked for one ('*'): empty tables, and every repository queued."""
    with wh.transaction():
        tables = (*MARTS.values(), *(f"mart_{a}" for a in aggregates()), "mart_state")
        built = all(_exists(wh, t) for t in tables)
        same = built and wh.scalar("SELECT rules FROM mart_state") == rules(cfg)
        if same and not wh.scalar("SELECT count(*) FROM mart_dirty_repos WHERE repo = '*'"):
            return
        _with_repos(wh, cfg, [], lambda: _create_tables(wh))
        wh.con.execute("DELETE FROM mart_dirty_repos")
        wh.con.execute("DELETE FROM mart_dirty_periods")
        wh.con.execute("INSERT INTO mart_dirty_repos SELECT DISTINCT repo FROM deployments")
        wh.con.execute("CREATE OR REPLACE TABLE mart_state (rules VARCHAR, version BIGINT)")
        wh.con.execute("INSERT INTO mart_state VALUES (?, -1)", [rules(cfg)])


def _create_tables(wh: Warehouse) -> None:
    """Empty tables shaped like the relations they store (made from an empty batch)."""
    for view, table in MARTS.items():
        wh.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {view} LIMIT 0")
    for name in aggregates():
        wh.con.execute(
            f"CREATE OR REPLACE TABLE mart_{name} AS "
            f"SELECT ''::VARCHAR AS scope, ''::VARCHAR AS period_kind, * FROM {name} LIMIT 0"
        )


def _with_repos(wh: Warehouse, cfg: MetricsConfig, repos: list[str], work) -> None:
    """Run `work` with the metric views computed over these repositories' rows only: TEMP
    views named like the canonical tables shadow them for the metric SQL, then go."""
    wh.con.execute("CREATE OR REPLACE TEMP TABLE _mart_batch AS SELECT unnest(?::VARCHAR[]) AS repo", [repos])
    try:
        for table in ("deployments", "changes"):
            whole = wh.relation(table)
            wh.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM ({whole}) "
                "WHERE repo IN (SELECT repo FROM _mart_batch)"
            )
        prepare(wh, cfg, marts=False)
        work()
    except BaseException:
        try:
            _drop_shadows(wh)
        except duckdb.Error:
            pass  # an aborted transaction refuses this too; its rollback and cause matter
        raise
    _drop_shadows(wh)


def _drop_shadows(wh: Warehouse) -> None:
    wh.unshadow("deployments", "changes")
    wh.con.execute("DROP TABLE IF EXISTS temp.prod_deployments")


def _batches(wh: Warehouse) -> list[list[str]]:
    """The queued repositories with every repository linked to them, in batches that never
    split a linked group. Linked: a change of one shipped by a deployment of the other (the
    revert and lead-time rules follow it), evidence on one pointing at a deployment of the
    other (a redeploy), or both deploying a service that incidents name without a repository
    (the incident window looks across them)."""
    dirty = [r[0] for r in wh.con.execute("SELECT DISTINCT repo FROM mart_dirty_repos").fetchall()]
    if not dirty:
        return []
    pairs = wh.con.execute(
        """
        WITH dirty AS (SELECT unnest($1::VARCHAR[]) AS repo),
        dirty_deployments AS (
            SELECT deployment_id, repo FROM deployments WHERE repo IN (SELECT repo FROM dirty))
        SELECT DISTINCT repo, deployment_repo FROM mart_change_lead_times WHERE repo <> deployment_repo
        UNION SELECT c.repo, d.repo FROM changes c JOIN deployments d USING (deployment_id)
            WHERE c.repo IN (SELECT repo FROM dirty) AND c.repo <> d.repo
        UNION SELECT c.repo, d.repo FROM changes c JOIN dirty_deployments d USING (deployment_id)
            WHERE c.repo <> d.repo
        UNION SELECT f.repo, b.repo FROM deployment_evidence e
            JOIN deployments f USING (deployment_id) JOIN deployments b ON b.deployment_id = e.points_at
            WHERE f.repo <> b.repo
        UNION SELECT min(repo) OVER (PARTITION BY service), repo FROM deployments
            WHERE service IN (SELECT service FROM incidents WHERE repo IS NULL AND service IS NOT NULL)
        """,
        [dirty],
    ).fetchall()
    parent: dict[str, str] = {}

    def root(repo: str) -> str:
        while parent.setdefault(repo, repo) != repo:
            parent[repo] = parent[parent[repo]]  # path halving
            repo = parent[repo]
        return repo

    for a, b in pairs:
        parent[root(a)] = root(b)
    wanted = {root(r) for r in dirty}
    groups: dict[str, list[str]] = {}
    for repo in {*dirty, *parent}:
        if root(repo) in wanted:
            groups.setdefault(root(repo), []).append(repo)
    sizes = dict(wh.con.execute("SELECT repo, count(*) FROM deployments GROUP BY repo").fetchall())
    batches: list[list[str]] = [[]]
    size = 0
    for group in sorted(groups.values()):
        weight = sum(sizes.get(r, 0) for r in group)
        if batches[-1] and size + weight > BATCH_DEPLOYMENTS:
            batches.append([])
            size = 0
        batches[-1].extend(sorted(group))
        size += weight
    return batches


def _recompute_rows(wh: Warehouse, cfg: MetricsConfig, batch: list[str]) -> None:
    """One transaction: these repositories' per-row tables replaced by the SQL's rows, the
    periods their old and new rows fall in queued, the repositories taken off the queue."""

    def replace() -> None:
        # Only the periods of rows that differ (gone, new or changed) need new aggregates: a
        # sync that adds this week's deployments leaves the older weeks of their repositories
        # as they were.
        wh.con.execute(
            """CREATE OR REPLACE TEMP TABLE _mart_moved AS
            WITH old_d AS (SELECT * FROM mart_prod_deployments WHERE list_contains($1, repo)),
                 old_c AS (SELECT * FROM mart_change_lead_times WHERE list_contains($1, deployment_repo))
            SELECT finished_at AS moved FROM (SELECT * FROM old_d EXCEPT ALL SELECT * FROM prod_deployments)
            UNION ALL SELECT finished_at FROM (SELECT * FROM prod_deployments EXCEPT ALL SELECT * FROM old_d)
            UNION ALL SELECT shipped_at FROM (SELECT * FROM old_c EXCEPT ALL SELECT * FROM change_lead_times)
            UNION ALL SELECT shipped_at FROM (
                SELECT * FROM change_lead_times EXCEPT ALL SELECT * FROM old_c)""",
            [batch],
        )
        for kind in PERIODS:
            wh.con.execute(
                f"INSERT INTO mart_dirty_periods SELECT DISTINCT '{kind}', date_trunc('{kind}', moved)::DATE "
                "FROM _mart_moved"
            )
        wh.con.execute("DROP TABLE temp._mart_moved")
        for view, table in MARTS.items():
            wh.con.execute(f"DELETE FROM {table} WHERE list_contains(?, {REPO_COLUMN[table]})", [batch])
            wh.con.execute(f"INSERT INTO {table} SELECT * FROM {view}")
        wh.con.execute("DELETE FROM mart_dirty_repos WHERE list_contains(?, repo)", [batch])

    with wh.transaction():
        _with_repos(wh, cfg, batch, replace)


def _recompute_periods(wh: Warehouse, cfg: MetricsConfig) -> None:
    """The aggregates of every queued period, from the per-row tables, CHUNK periods per
    transaction; each period over all its rows (the range is whole periods)."""
    for kind in PERIODS:
        queued = [r[0] for r in wh.con.execute(
            "SELECT DISTINCT period_start FROM mart_dirty_periods WHERE period_kind = ? ORDER BY 1", [kind]
        ).fetchall()]
        for i in range(0, len(queued), CHUNK[kind]):
            chunk = queued[i:i + CHUNK[kind]]
            with wh.transaction():
                _aggregate(wh, cfg, kind, chunk)


def _aggregate(wh: Warehouse, cfg: MetricsConfig, kind: str, chunk: list[date]) -> None:
    prepare(wh, cfg, marts=True)
    start = datetime.combine(chunk[0], time(0), tzinfo=UTC)
    end = wh.scalar(f"SELECT (?::DATE + INTERVAL '{PERIOD_INTERVAL[kind]}')::TIMESTAMPTZ", [chunk[-1]])
    _set(wh, "period", kind, "VARCHAR")
    _set(wh, "period_interval", PERIOD_INTERVAL[kind], "VARCHAR")
    _set(wh, "since_ts", start, "TIMESTAMPTZ")
    _set(wh, "until_ts", end, "TIMESTAMPTZ")
    # The chunk's rows read once (the tables are in repository order after batches, so a time
    # range cannot skip row groups), instead of once per aggregate and scope.
    for view, (table, at) in {"prod_deployments": (MARTS["prod_deployments"], "finished_at"),
                              "change_lead_times": (MARTS["change_lead_times"], "shipped_at")}.items():
        wh.con.execute(f"DROP VIEW IF EXISTS temp.{view}")
        wh.con.execute(f"CREATE TEMP TABLE {view} AS SELECT * FROM {table} WHERE {at} >= ? AND {at} < ?",
                       [start, end])
    for scope in STORED_SCOPES:
        _set(wh, "scope", scope, "VARCHAR")
        for name in aggregates():
            wh.con.execute(
                f"DELETE FROM mart_{name} WHERE scope = ? AND period_kind = ? "
                "AND list_contains(?, period_start)",
                [scope, kind, chunk],
            )
            wh.con.execute(
                f"INSERT INTO mart_{name} SELECT ?, ?, * FROM {name} WHERE list_contains(?, period_start)",
                [scope, kind, chunk],
            )
    wh.con.execute(
        "DELETE FROM mart_dirty_periods WHERE period_kind = ? AND list_contains(?, period_start)",
        [kind, chunk],
    )
    for view in MARTS:
        wh.con.execute(f"DROP TABLE temp.{view}")
