"""Upkeep of the warehouse (`dora-impact maintain`, docs/scaling.md#maintenance).

On a DuckLake, first **publish**: the precomputed tables (warehouse/precompute.py) built over
every home, the shards' and `main`'s, by this one writer, in one transaction (one snapshot of
the lake, so the tables describe exactly the load count they record), into `main`. Readers
use them until any home loads again (warehouse/lake.py: load_version). With them, one copy of
each table over every home and a stamp of the snapshot read, which readers read instead of
every home's tables until a home changes (warehouse/lake.py: _published_holds). Run it after
the workers (examples/: after the matrix); beside them it publishes what is committed so far.

Then upkeep, since every commit of every worker adds a snapshot and small files (or rows
inlined in the catalog), in this order:

1. flush inlined data: rows DuckLake kept in the catalog (small commits) go to Parquet files;
2. compaction: adjacent small files of a table are merged into larger ones;
3. snapshot expiry: snapshots older than the retention (7 days by default; `--retention-days`,
   env DORA_IMPACT_LAKE_RETENTION_DAYS) are forgotten: time travel reaches back that far;
4. old files: files that only expired snapshots referenced are deleted;
5. orphans: files in the data path that no snapshot knows (a worker killed before its commit)
   are deleted once older than the grace period (1 day), so a file that a running worker has
   written but not yet committed is never touched.

Each step is its own DuckLake transaction; one that loses a race with a worker's commit (a
DuckLake conflict, or PostgreSQL's "could not serialize access due to concurrent update" on
the catalog) is retried with backoff, up to a bound, then the command stops with one line
(exit 4, warehouse/lake.py LakeBusy). Safe to run while workers write. On a DuckDB file it
checkpoints (folds the WAL into the file) and says there is nothing else to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from warehouse.config import MetricsConfig
from warehouse.db import Warehouse
from warehouse.freshness import _exists, is_fresh
from warehouse.lake import ALIAS, COPY_PREFIX, PUBLISHED, LakeWarehouse, retrying
from warehouse.precompute import refresh

DEFAULT_RETENTION_DAYS = 7.0
ORPHAN_GRACE_HOURS = 24.0
RETENTION_ENV = "DORA_IMPACT_LAKE_RETENTION_DAYS"
# Snapshots a fresh publish lets pass before it copies and stamps again (upkeep makes
# about six a run), so that the snapshots readers look through stay few.
STAMP_LAG = 20


def retention_days(given: float | None = None) -> float:
    if given is not None:
        return given
    try:
        return float(os.environ.get(RETENTION_ENV, DEFAULT_RETENTION_DAYS))
    except ValueError:
        return DEFAULT_RETENTION_DAYS


@dataclass
class Upkeep:
    steps: list[tuple[str, int]] = field(default_factory=list)  # (what, how many)
    snapshots_before: int = 0
    snapshots_after: int = 0

    def add(self, what: str, count: int) -> None:
        self.steps.append((what, count))


def publish(wh: LakeWarehouse, cfg: MetricsConfig | None = None) -> bool:
    """Build the precomputed tables over every home, unless they are still fresh; whether it
    built them. Then, in the same transaction, copy every home's rows of each table into one
    (`mart_all_<table>`) and stamp the snapshot read: readers read the copies, one table
    instead of one per home, for as long as no home changes (warehouse/lake.py). wh: a
    whole-lake writer in `main`."""
    cfg = cfg or MetricsConfig()
    wh.publishing = True

    def build() -> bool:
        # One transaction: every read sees one snapshot, and the load count stored with the
        # tables is the one they were computed from (a worker committing meanwhile makes them
        # stale, never wrong).
        with wh.transaction():
            wh.see_every_home()  # the homes as this transaction sees them, new ones too
            fresh = is_fresh(wh, cfg)
            if not fresh:
                wh.con.execute("DELETE FROM mart_dirty_periods")
                wh.con.execute("DELETE FROM mart_dirty_repos")
                wh.con.execute("INSERT INTO mart_dirty_repos VALUES ('*')")
                refresh(wh, cfg)
            if not (fresh and _copies_hold(wh)):
                for table in wh.unioned():
                    wh.con.execute(f"CREATE OR REPLACE TABLE {COPY_PREFIX}{table} AS {wh.relation(table)}")
            # The snapshot this transaction reads, with every home's load count then.
            snapshot = wh.scalar(f"SELECT id FROM {ALIAS}.current_snapshot()")
            wh.con.execute(f"CREATE OR REPLACE TABLE {PUBLISHED} AS "
                           "SELECT ?::BIGINT AS snapshot, version FROM load_version", [snapshot])
            return not fresh

    try:
        if is_fresh(wh, cfg) and _stamp_holds(wh):
            return False
        return bool(retrying(build, f"{wh.path}: publishing the precomputed tables", tries=5))
    finally:
        wh.publishing = False


def _copies_hold(wh: LakeWarehouse) -> bool:
    """Whether publish's copies and stamp exist and no home's rows changed since the stamp."""
    if not all(_exists(wh, table) for table in [PUBLISHED, *(COPY_PREFIX + t for t in wh.unioned())]):
        return False
    stamped = wh.scalar(f"SELECT snapshot FROM {PUBLISHED}")
    return stamped is not None and not wh.changed_since(stamped, [*wh.unioned(), "load_version"])


def _stamp_holds(wh: LakeWarehouse) -> bool:
    """_copies_hold, and the stamp recent enough that the snapshots readers look through since
    it stay few (and are never expired)."""
    with wh.transaction():  # the stamp and the snapshots since in one snapshot
        if not _copies_hold(wh):
            return False
        lag = wh.scalar(f"SELECT (SELECT id FROM {ALIAS}.current_snapshot()) - snapshot FROM {PUBLISHED}")
        return lag <= STAMP_LAG


def maintain(
    wh: Warehouse,
    retention: float | None = None,
    grace_hours: float = ORPHAN_GRACE_HOURS,
    cfg: MetricsConfig | None = None,
) -> Upkeep:
    out = Upkeep()
    if not isinstance(wh, LakeWarehouse):
        wh.con.execute("CHECKPOINT")
        out.add("checkpoint", 1)
        return out
    days = retention_days(retention)
    out.add("precomputed tables published", int(publish(wh, cfg)))
    out.snapshots_before = _snapshots(wh)

    def call(what: str, sql: str) -> None:
        rows = retrying(lambda: wh.con.execute(sql).fetchall(), what)
        out.add(what, len(rows))

    call("inlined data flushed", f"CALL ducklake_flush_inlined_data('{ALIAS}')")
    call("tables compacted", f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
    older = f"now() - INTERVAL {float(days) * 86400:.0f} SECOND"
    call("snapshots expired", f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => {older})")
    call("old files deleted", f"CALL ducklake_cleanup_old_files('{ALIAS}', older_than => {older})")
    grace = f"now() - INTERVAL {float(grace_hours) * 3600:.0f} SECOND"
    call("orphaned files deleted", f"CALL ducklake_delete_orphaned_files('{ALIAS}', older_than => {grace})")
    out.snapshots_after = _snapshots(wh)
    return out


def _snapshots(wh: LakeWarehouse) -> int:
    return int(wh.scalar(f"SELECT count(*) FROM {ALIAS}.snapshots()"))
