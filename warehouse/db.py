"""Opening the DuckDB file and bringing its schema up to date.

The schema lives in numbered SQL files under migrations/; each is applied once, in order,
inside one transaction together with its row in schema_version.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from warehouse import locking
from warehouse.location import Location
from warehouse.schema import ENTITIES, Entity

T = TypeVar("T")
MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    folder = resources.files("warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


# The entities the precomputed per-row tables are made of (warehouse/sql/01_*, 02_*): a load
# of one of them queues its repositories for the refresh (Warehouse.mark_dirty).
MART_INPUTS = ("deployments", "changes", "incidents", "teams")


@dataclass
class LoadCounts:
    new: int = 0
    updated: int = 0

    def __iadd__(self, other: LoadCounts) -> LoadCounts:
        self.new += other.new
        self.updated += other.updated
        return self


@dataclass(frozen=True)
class Cursor:
    """Where an incremental sync of one resource stands (warehouse-owned)."""

    source: str
    scope: str
    resource: str
    cursor: str | None = None
    etag: str | None = None


def duckdb_settings() -> dict[str, str]:
    """DuckDB's own default takes 80% of RAM; a bounded buffer pool keeps the tool a good
    neighbour (it spills to disk beyond it). DORA_IMPACT_MEMORY_LIMIT overrides, e.g. "4GB"."""
    return {"memory_limit": os.environ.get("DORA_IMPACT_MEMORY_LIMIT", "1GB")}


class Warehouse:
    """A DuckDB file holding the canonical tables, shared with other processes.

    Read-only opens never take the write lock. A writer holds the writer lock (one writer at
    a time) for its life but the file itself only for short moments: after a commit, once it
    has held its connection for HOLD_SECONDS, it closes it, and `con` reopens it on the next
    use (warehouse/locking.py; docs/concurrency.md). So nothing may rely on TEMP objects
    surviving a commit of a writer.

    `remove_if_failed`: a database that this Warehouse created is deleted again when the
    `with` block fails, so that a failed command leaves no new file behind.

    A `ducklake:` location opens a DuckLake instead (warehouse/lake.py, docs/scaling.md);
    `shard`, `whole` and `data_path` mean something only there.
    """

    # Other storages by location prefix ("ducklake:" -> warehouse.lake.LakeWarehouse, which
    # registers itself: it builds on this class, so this module cannot import it).
    kinds: dict[str, type[Warehouse]] = {}

    def __new__(cls, path: str | Path | Location, *args: object, **kwargs: object) -> Warehouse:
        if cls is Warehouse:
            for prefix, kind in Warehouse.kinds.items():
                if str(path).startswith(prefix):
                    return super().__new__(kind)
        return super().__new__(cls)

    # Whether loads keep the precomputed tables (warehouse/precompute.py) that readers may use.
    precomputes = True

    def __init__(
        self,
        path: str | Path | Location,
        read_only: bool = False,
        *,
        command: str | None = None,
        wait: float | None = None,
        on_wait: Callable[[str], None] | None = None,
        remove_if_failed: bool = False,
        shard: tuple[int, int] | None = None,
        whole: bool | None = None,
        data_path: str | None = None,
    ) -> None:
        self.path = Location.parse(path).path
        self.read_only = read_only
        self.wait, self.on_wait = wait, on_wait
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._in_transaction = False
        self._writer: locking.WriterLock | None = None
        # Called with this warehouse when it is closed without error after a load (the shell
        # refreshes the precomputed tables there: warehouse/precompute.py).
        self.after_load: Callable[[Warehouse], None] | None = None
        self.loaded = False
        locking.check_path(self.path, read_only)
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such database (run `dora-impact demo`, "
                                    "`import` or `sync` first)")
        if not read_only:
            wait_for = locking.wait_seconds() if wait is None else wait
            self._writer = locking.WriterLock(self.path, command, wait_for, on_wait)
        # Decided under the writer lock: a file another writer is creating is not ours.
        self._created = not read_only and not self.path.exists()
        self._remove_if_failed = remove_if_failed and self._created
        try:
            self._connect()
            if not read_only:
                self.migrate()
        except BaseException:
            self._discard() if self._created else self.close()
            raise

    def _connect(self) -> None:
        self._con = locking.connect(
            self.path, self.read_only, duckdb_settings(), wait=self.wait, on_wait=self.on_wait
        )
        self._opened_at = time.monotonic()
        # Everything is computed in UTC: offsets are applied on the way in.
        self._con.execute("SET TimeZone = 'UTC'")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._connect()
        return self._con

    def release(self) -> None:
        """Let other processes at the file: close the connection (outside a transaction)."""
        if self._con is not None and not self._in_transaction:
            self._con.close()
            self._con = None

    def close(self) -> None:
        self._in_transaction = False
        self.release()
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _discard(self) -> None:
        """Close, and delete the database this Warehouse created (with its WAL and locks)."""
        self.close()
        for kind in ("wal", "gate", "lock"):
            locking.sidecar(self.path, kind).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and self._remove_if_failed:
            self._discard()
            return
        try:
            if exc_type is None and self.loaded and self.after_load is not None:
                self.after_load(self)
        finally:
            self.close()

    # -- schema ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' "
            "AND table_catalog = current_database() AND table_schema = current_schema()"
        ).fetchone()[0]
        if not exists:
            return 0
        return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]

    def migrate(self) -> list[int]:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        current = self.schema_version()
        applied = []
        for version, name, sql in migrations():
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [version, name, datetime.now(UTC)],
                )
            applied.append(version)
        return applied

    # -- loading --------------------------------------------------------------------------
    def load(
        self,
        batches: dict[str, pl.DataFrame],
        source: str | None = None,
        cursors: list[Cursor] | tuple[Cursor, ...] = (),
    ) -> dict[str, LoadCounts]:
        """Upsert every frame on its entity's natural key, and advance cursors, atomically.

        A frame may carry a subset of the entity's columns (the key always): columns it lacks
        keep their stored values, so a later source can fill in what an earlier one did not know.
        """
        counts: dict[str, LoadCounts] = {}
        with self.transaction():
            for name, frame in batches.items():
                counts[name] = self._upsert(ENTITIES[name], frame, source)
            for cursor in cursors:
                self._save_cursor(cursor)
            if any(c.new or c.updated for c in counts.values()):
                self.con.execute("UPDATE load_version SET version = version + 1")
                self.loaded = True
                if source is not None:
                    # Delete and insert rather than INSERT OR REPLACE: a DuckLake has no keys.
                    self.con.execute("DELETE FROM source_loads WHERE source = ?", [source])
                    self.con.execute(
                        "INSERT INTO source_loads VALUES (?, ?)", [source, datetime.now(UTC)]
                    )
        return counts

    def mark_dirty(self, touched: str, params: list | None = None) -> None:
        """Queue, in the caller's transaction, the repositories whose precomputed rows
        (warehouse/precompute.py) `touched` may change: a query of (repo, deployment_id,
        service) where each may be NULL; a deployment stands for its repository, and a service
        without a repository (an incident) for every repository deploying it. Nothing is queued
        while a full rebuild ('*') is already queued, nor where nothing is precomputed."""
        if not self.precomputes:
            self.loaded = True
            return
        if self.scalar("SELECT count(*) FROM mart_dirty_repos WHERE repo = '*'"):
            return
        self.con.execute(
            f"""
            INSERT INTO mart_dirty_repos
            WITH touched AS ({touched})
            SELECT repo FROM touched WHERE repo IS NOT NULL
            UNION SELECT d.repo FROM deployments d
                WHERE d.deployment_id IN (SELECT deployment_id FROM touched)
            UNION SELECT d.repo FROM deployments d
                WHERE d.service IN (SELECT service FROM touched WHERE repo IS NULL)
            """,
            params or [],
        )
        self.loaded = True

    def retried(self, action: Callable[[], T], what: str) -> T:
        """Run `action`, a write that is one transaction of its own. On a file, once: its
        writers take turns under the file's lock, so none loses a race to another; a DuckLake
        runs it again when it loses a race with another writer (warehouse/lake.py), so
        `action` must start from what is stored each time and count nothing until it returns."""
        return action()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested uses join the outer one, so several loads commit together."""
        if self._in_transaction:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.TransactionException:
                pass  # a refused COMMIT has ended the transaction already: its error is the one to raise
            raise
        finally:
            self._in_transaction = False
        if not self.read_only and time.monotonic() - self._opened_at >= locking.HOLD_SECONDS:
            self.release()  # between batches: readers (and the dashboard) get their turn

    def _upsert(self, entity: Entity, frame: pl.DataFrame, source: str | None) -> LoadCounts:
        columns = [c for c in entity.names if c in frame.columns]
        missing_key = [k for k in entity.key if k not in columns]
        if missing_key:
            raise ValueError(f"{entity.name}: frame lacks key column(s) {', '.join(missing_key)}")
        if frame.is_empty():
            return LoadCounts()
        # A key given twice in one load (e.g. one commit listed by two stacked pull requests)
        # is one row: the last one given wins, as it would across two loads.
        staged = frame.select(columns).unique(subset=list(entity.key), keep="last", maintain_order=True)
        if source is not None and "source" not in columns:
            staged = staged.with_columns(pl.lit(source).alias("source"))
            columns = [*columns, "source"]
        table = entity.name
        on = " AND ".join(f"t.{k} = s.{k}" for k in entity.key)
        values = [c for c in columns if c not in entity.key]
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in values) or "false"
        cols = ", ".join(columns)
        self.con.register("_staged", staged.to_arrow())
        try:
            # One join of the batch against the table classifies every row as new, changed or
            # unchanged; new rows are then appended without another join, and only changed
            # rows are updated. (MERGE plus two counting queries scanned the table three
            # times per batch, which made large imports quadratic.)
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE _classified AS "
                f"SELECT s.*, t.{entity.key[0]} IS NULL AS _is_new, "
                f"t.{entity.key[0]} IS NOT NULL AND ({differs}) AS _is_changed "
                f"FROM _staged s LEFT JOIN {table} t ON {on}"
            )
            new, changed = self.con.execute(
                "SELECT count(*) FILTER (WHERE _is_new), count(*) FILTER (WHERE _is_changed) "
                "FROM _classified"
            ).fetchall()[0]
            queued = table in MART_INPUTS and (new or changed)
            touched = ", ".join(
                f"t.{c} AS {c}" if c in entity.names else f"NULL::VARCHAR AS {c}"
                for c in ("repo", "deployment_id", "service")
            )
            if queued and changed:  # what the changed rows were, before they change
                self.mark_dirty(f"SELECT {touched} FROM _classified s JOIN {table} t ON {on} "
                                "WHERE s._is_changed")
            if new:
                self.con.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _classified WHERE _is_new"
                )
            if changed:
                update = ", ".join(f"{c} = s.{c}" for c in values)
                self.con.execute(
                    f"UPDATE {table} t SET {update} FROM _classified s WHERE s._is_changed AND {on}"
                )
            if queued:  # and what they are now
                self.mark_dirty(f"SELECT {touched} FROM _classified s JOIN {table} t ON {on} "
                                "WHERE s._is_new OR s._is_changed")
        finally:
            for cleanup in ("DROP TABLE IF EXISTS _classified", None):
                try:
                    self.con.execute(cleanup) if cleanup else self.con.unregister("_staged")
                except duckdb.Error:
                    pass  # an aborted transaction refuses this too; the original error matters
        return LoadCounts(new=new, updated=changed)

    # -- sync cursors -----------------------------------------------------------------------
    def cursor(self, source: str, scope: str, resource: str) -> Cursor:
        row = self.con.execute(
            "SELECT cursor, etag FROM sync_state WHERE source = ? AND scope = ? AND resource = ?",
            [source, scope, resource],
        ).fetchone()
        return Cursor(source, scope, resource, *(row or (None, None)))

    def _save_cursor(self, cursor: Cursor) -> None:
        key = [cursor.source, cursor.scope, cursor.resource]
        self.con.execute(
            "DELETE FROM sync_state WHERE source = ? AND scope = ? AND resource = ?", key
        )
        self.con.execute(
            "INSERT INTO sync_state VALUES (?, ?, ?, ?, ?, ?)",
            [*key, cursor.cursor, cursor.etag, datetime.now(UTC)],
        )

    def mark_covered(self, source: str, through: datetime) -> None:
        """Record that `source`'s data is complete up to `through` (a sync records when it ran;
        a generated or exported history, where it ends), so that metrics do not read the quiet
        hours before it as missing data (sql/04_coverage.sql)."""
        self.con.execute(
            "DELETE FROM sync_state WHERE source = ? AND scope = 'coverage' AND resource = 'through'",
            [source],
        )
        self.con.execute(
            "INSERT INTO sync_state VALUES (?, 'coverage', 'through', ?, NULL, ?)",
            [source, through.isoformat(), through],
        )

    def clear_cursors(self, source: str) -> None:
        self.con.execute("DELETE FROM sync_state WHERE source = ?", [source])

    # -- reading ----------------------------------------------------------------------------
    def frame(self, sql: str, params: list | None = None) -> pl.DataFrame:
        # execute() (not sql()) so that a result left unfinished by an earlier execute() on this
        # connection does not block the query, and the whole result is consumed here.
        # The extra copy DuckDB warns about is of a result set, which is small here.
        result = self.con.execute(sql, params or [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.arrow()
        return pl.from_arrow(table)

    def scalar(self, sql: str, params: list | None = None) -> object:
        """The first column of the first row, with the result consumed to the end."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def relation(self, table: str) -> str:
        """A query of every row of a canonical table, whatever TEMP view shadows its name on
        this connection (a DuckLake unions its homes: warehouse/lake.py)."""
        return f'SELECT * FROM "{self.scalar("SELECT current_database()")}".main.{table}'

    def unshadow(self, *tables: str) -> None:
        """Drop the TEMP views a caller made to shadow these tables."""
        for table in tables:
            self.con.execute(f"DROP VIEW IF EXISTS temp.{table}")

    def repos(self) -> list[str]:
        """Every repository that deployments or changes mention."""
        rows = self.con.execute(
            "SELECT repo FROM deployments UNION SELECT repo FROM changes ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def table_counts(self) -> dict[str, int]:
        return {
            name: self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ENTITIES
        }
