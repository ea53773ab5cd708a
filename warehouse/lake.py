"""The warehouse in a DuckLake: a PostgreSQL catalog and Parquet files, many writers at once.

`db = "ducklake:postgres:<libpq connection string>"` (docs/scaling.md). The same Warehouse
interface as the DuckDB file, with these differences:

- Layout: DuckLake has no primary keys, and any concurrent UPDATE/DELETE on one table
  conflicts with every other write to it. So every writer has a *home schema* that no other
  writer touches: `main` for unsharded commands (import, webhooks, alert, a plain `sync`),
  `shard_K_of_N` for `sync --shard K/N`. Each home holds the whole schema (the same
  migrations) and is upserted on its natural keys as a file is; keys cannot collide across
  homes because a repository belongs to exactly one shard.
- Readers (read-only opens, and `alert`, which writes only its own tables) see every home at
  once: TEMP views named like the tables, `main.t UNION ALL BY NAME` each shard's `t`, shadow
  the tables on their connection, so the metric SQL reads the whole org unchanged. The alert
  tables are never unioned (only `alert` writes them, in `main`).
- Secrets: the catalog's password comes from the environment (libpq reads PGPASSWORD, or a
  ~/.pgpass / PGPASSFILE); a password written into the location is refused, and the location
  is shown with any password masked.
- No file locks: DuckLake commits are PostgreSQL transactions, so there is nothing to wait
  for, and a writer keeps its connection.

Needs DuckDB 1.5.5 with the ducklake and postgres extension packages (`pip install
'dora-impact[lake]'`), and httpfs for a data path in a bucket.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import polars as pl

from warehouse import sharding
from warehouse.db import LoadCounts, Warehouse, duckdb_settings, migrations
from warehouse.errors import UserError

PREFIX = "ducklake:"
ALIAS = "lake"
MAIN = "main"
SHARD_SCHEMA = re.compile(r"^shard_(\d+)_of_(\d+)$")
# Which shard owns which repository, per shard count (in `main`; warehouse/sharding.py), and
# the one-row table every change of it updates first, so two workers assigning at once
# conflict and the later one retries and reads the first one's assignment.
SHARD_MAP = "shard_map"
SHARD_LOCK = "shard_map_lock"
# Written by `alert` alone, in `main`; a union view would make them unwritable for it.
NOT_UNIONED = frozenset({"alert_state", "alert_outbox", "schema_version", SHARD_MAP, SHARD_LOCK})
# The precomputed tables and their queues live in `main` only, written by `maintain` over
# every home (warehouse/maintain.py publish); readers read them there.
MAIN_ONLY_PREFIX = "mart_"
# Written by publish beside the precomputed tables: the lake snapshot it read and the load
# count (every home's load_version summed) the tables describe (warehouse/maintain.py).
PUBLISHED = "mart_published"
# What a snapshot changed, by kind (DuckLake's snapshots() `changes`): the kinds that name
# the tables whose rows changed, and those that name tables made or dropped.
ROWS_CHANGED = ("tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete")
TABLES_CHANGED = ("tables_created", "tables_dropped")
# Publish's copy of each unioned table, every home's rows as readers see them, in `main`.
COPY_PREFIX = "mart_all_"
DATA_PATH_ENV = "DORA_IMPACT_LAKE_DATA_PATH"
PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
# Another writer committed first: DuckLake's own conflict errors, and PostgreSQL's
# serialization failures on the catalog (SQLSTATE 40001 "could not serialize access due to
# concurrent update", 40P01 deadlocks), which maintenance meets beside running workers.
CONFLICT = re.compile(
    r"conflict|Transaction.*(abort|retry)|could not serialize|serializ\w* failure|deadlock detected"
    r"|concurrent update|40001|40P01",
    re.IGNORECASE,
)
# Several clients creating a new catalog at once race on its PostgreSQL tables.
INIT_RACE = re.compile(r"Failed to initialize DuckLake|duplicate key value|already exists", re.IGNORECASE)
RETRIES = 30  # about 25 s of jittered backoff in all before giving up


class LakeUnavailable(UserError):
    """The catalog could not be reached or the lake extensions are missing (exit 4: a later
    run may succeed once the catalog is up)."""

    exit_code = 4


class LakeBusy(LakeUnavailable):
    """A write kept conflicting with other writers after every retry (exit 4: run it again)."""


def is_lake(location: object) -> bool:
    return str(location).startswith(PREFIX)


def redact(text: str) -> str:
    """Any password in a connection string or URI, masked."""
    return URI_PASSWORD.sub(r"\1***@", PASSWORD.sub(r"\1***", text))


def shard_schema(shard: tuple[int, int]) -> str:
    k, n = shard
    return f"shard_{k}_of_{n}"


def adapt(sql: str) -> str:
    """A migration as DuckLake takes it: without CHECK, PRIMARY KEY and UNIQUE constraints
    (unsupported). Keys stay unique by construction: upserts on the natural key in one home."""
    sql = _strip_calls(sql, "CHECK")
    sql = re.sub(r",\s*PRIMARY KEY\s*\([^)]*\)", "", sql, flags=re.IGNORECASE)
    return re.sub(r"\s+(PRIMARY KEY|UNIQUE)\b", "", sql, flags=re.IGNORECASE)


def _strip_calls(sql: str, word: str) -> str:
    """Remove every `WORD (...)` (balanced parentheses) from sql."""
    out, i = [], 0
    pattern = re.compile(rf"\s+{word}\s*\(", re.IGNORECASE)
    while (m := pattern.search(sql, i)) is not None:
        out.append(sql[i : m.start()])
        depth, j = 1, m.end()
        while depth and j < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        i = j
    out.append(sql[i:])
    return "".join(out)


def _extension(package: str, name: str) -> str:
    try:
        module = import_module(package)
    except ImportError:
        raise LakeUnavailable(
            f"a DuckLake warehouse needs the `lake` extra (pip install 'dora-impact[lake]': "
            f"DuckDB {duckdb.__version__} here, the lake needs 1.5.5 with {package})"
        ) from None
    found = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    if not found:
        raise LakeUnavailable(f"{package} holds no {name} extension file")
    return str(found[-1])


def _installed(package: str) -> bool:
    from importlib.util import find_spec

    return find_spec(package) is not None


def _load(con: duckdb.DuckDBPyConnection, package: str, name: str, entry: str) -> None:
    """LOAD an extension by its entry-point name, installing it from its package's file the
    first time (the postgres extension's file is `postgres`, its entry point
    `postgres_scanner`). Nothing is ever downloaded: autoinstall is off."""
    try:
        con.execute(f"LOAD {entry}")
    except duckdb.Error:
        con.execute(f"INSTALL '{_extension(package, name)}'")
        con.execute(f"LOAD {entry}")


def is_conflict(exc: BaseException, also: re.Pattern | None = None) -> bool:
    """Whether a failed write lost a race with another writer (and may simply be run again)."""
    return isinstance(exc, duckdb.Error) and (
        isinstance(exc, duckdb.TransactionException)
        or CONFLICT.search(str(exc)) is not None
        or (also is not None and also.search(str(exc)) is not None)
    )


# The AWS SDKs' own variables: a data path in an S3 (or S3-compatible) bucket.
S3_ENV = {
    "KEY_ID": "AWS_ACCESS_KEY_ID", "SECRET": "AWS_SECRET_ACCESS_KEY", "SESSION_TOKEN": "AWS_SESSION_TOKEN",
}


def _s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """A TEMP DuckDB secret for S3 from the environment, when AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY are set: region from AWS_REGION (or AWS_DEFAULT_REGION), a custom
    endpoint (MinIO, Ceph, a local test server) from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
    addressed by path. It lives on this connection only; the values never reach a message."""
    values = {option: os.environ.get(variable) for option, variable in S3_ENV.items()}
    if not (values["KEY_ID"] and values["SECRET"]):
        return
    values["REGION"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options = [f"{k} '{v.replace(chr(39), chr(39) * 2)}'" for k, v in values.items() if v]
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        host = (parts.netloc or parts.path).replace("'", "")
        ssl = str(parts.scheme != "http").lower()
        options += [f"ENDPOINT '{host}'", "URL_STYLE 'path'", f"USE_SSL {ssl}"]
    try:
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET dora_lake_s3 (TYPE s3, {', '.join(options)})")
    except duckdb.Error:
        raise UserError("the S3 settings in the environment (AWS_*) were refused by DuckDB") from None


def retrying(
    action: Callable[[], object],
    what: str = "commit",
    also: re.Pattern | None = None,
    *,
    tries: int | None = None,
    before_retry: Callable[[], None] | None = None,
) -> object:
    """Run `action`, again after it lost a race with another writer (a DuckLake conflict, a
    PostgreSQL serialization failure), with jittered backoff, `tries` times at most; then
    LakeBusy, one line naming `what`. Any other error is raised as it is."""
    tries = tries or RETRIES
    delay = 0.05
    for attempt in range(tries):
        try:
            return action()
        except duckdb.Error as exc:
            if not is_conflict(exc, also):
                raise
            if attempt == tries - 1:
                first = redact(" ".join(str(exc).split()))[:200]
                raise LakeBusy(
                    f"{what}: still conflicting with other writers after {tries} tries ({first}); "
                    "nothing of it was committed: run it again"
                ) from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 1.0)
            if before_retry is not None:
                before_retry()
    raise AssertionError(what)  # not reached


@dataclass
class _Idle:
    """A reader's connection between reads, with what its views were made from."""

    con: duckdb.DuckDBPyConnection
    snapshot: int | None
    present: dict[str, set[str]]
    published: int | None
    mirrored: int | None
    mirror_tables: list[str]


# Readers' connections kept for the next read of the same lake in this process (the
# dashboard reads every refresh): loading the extensions and attaching cost about 0.5 s.
_IDLE: dict[tuple[str, str | None], list[_Idle]] = {}
_IDLE_LOCK = threading.Lock()
IDLE_PER_LAKE = 2
MIRROR_BYTES = 256 * 2**20  # Parquet bytes of publish's tables a reused reader copies to memory


def _borrow(key: tuple[str, str | None]) -> _Idle | None:
    with _IDLE_LOCK:
        idle = _IDLE.get(key)
        return idle.pop() if idle else None


def _keep(key: tuple[str, str | None], idle: _Idle) -> bool:
    with _IDLE_LOCK:
        kept = _IDLE.setdefault(key, [])
        if len(kept) < IDLE_PER_LAKE:
            kept.append(idle)
            return True
    return False


def forget_readers() -> None:
    """Close the connections kept for this process's next reads: what a new process starts
    with (a benchmark of first reads; a test that must not borrow another's reader)."""
    with _IDLE_LOCK:
        for kept in _IDLE.values():
            for idle in kept:
                idle.con.close()
        _IDLE.clear()


def warm(location: str, data_path: str | None = None) -> None:
    """Open a reader now and keep its connection for this process's next read, with publish's
    tables copied to memory: the first open loads the extensions and attaches the lake, the
    second, on that connection, makes the mirror. The dashboard's server does this before it
    listens (dashboards/server.py), so its first visitor reads as fast as later ones."""
    for _ in range(2):
        LakeWarehouse(location, read_only=True, data_path=data_path).close()


class LakeWarehouse(Warehouse):
    """Warehouse(location) for a `ducklake:` location (Warehouse.__new__ picks this class)."""

    @property
    def precomputes(self) -> bool:
        """Readers use the precomputed tables, which one writer builds over every home after
        the workers (`maintain`: warehouse/maintain.py publish) and which are stale once any
        home loads again. Writers neither queue nor refresh them: a home holds one shard's
        rows, and per-period medians of several shards cannot be combined."""
        return self.read_only or self.publishing

    def __init__(
        self,
        path: str | Path,
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
        location = str(path)
        if PASSWORD.search(location) or URI_PASSWORD.search(location):
            raise UserError(
                f"{redact(location)}: the catalog password belongs in the environment "
                "(PGPASSWORD or PGPASSFILE), not in the database location"
            )
        self.location = location
        self.path = Path(redact(location))  # what messages may show
        self.read_only = read_only
        self.shard = shard
        self._owned: set[str] | None = None
        self._published: int | None = None  # a reader's: publish's load count, while it holds
        self._snapshot: int | None = None  # a reader's, once it is open
        self._mirrored: int | None = None  # the publish stamp the TEMP mirror holds
        self._mirror_tables: list[str] = []
        self.publishing = False  # set by maintain's publish step while it builds the tables
        self.home = shard_schema(shard) if shard else MAIN
        if shard and read_only:
            raise UserError("a shard is written by its sync worker; readers read the whole lake")
        # Readers see every home; so does a writer that only writes tables not unioned (alert).
        self.whole = read_only if whole is None else whole
        self.data_path = data_path or os.environ.get(DATA_PATH_ENV)
        self.wait, self.on_wait = wait, on_wait
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._in_transaction = False
        self._writer = None
        self.after_load = None
        self.loaded = False
        self._created = False
        self._remove_if_failed = False  # a lake is never deleted by a failed command
        try:
            self._connect()
            if not read_only:
                self.migrate()
                if self.whole:
                    self._union_views()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"LakeWarehouse({str(self.path)!r}, home={self.home!r}, read_only={self.read_only})"

    # -- connection ---------------------------------------------------------------------------
    def _connect(self) -> None:
        if self.read_only:
            idle = _borrow(self._pool_key())
            if idle is not None and self._reuse(idle):
                return
        config = {
            **duckdb_settings(),
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        con = duckdb.connect(config=config)
        try:
            _load(con, "duckdb_extension_postgres", "postgres", "postgres_scanner")
            _load(con, "duckdb_extension_ducklake", "ducklake", "ducklake")
            if _installed("duckdb_extension_httpfs") and self._may_use_a_bucket():
                _load(con, "duckdb_extension_httpfs", "httpfs", "httpfs")
                _s3_secret(con)
            con.execute("SET TimeZone = 'UTC'")
            self._attach(con)
        except BaseException:
            con.close()
            raise
        self._con = con
        self._opened_at = time.monotonic()
        if self.read_only:
            # A reader works in one transaction: one snapshot of the whole lake (never half of
            # a worker's batch), and catalog round trips paid once, not per statement.
            con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            self._union_views(require=True)
            self._snapshot = self._current_snapshot()

    # -- readers kept for the next read in this process ---------------------------------------
    def _pool_key(self) -> tuple[str, str | None]:
        return self.location, self.data_path

    def _current_snapshot(self) -> int:
        return int(self.scalar(f"SELECT id FROM {ALIAS}.current_snapshot()"))

    def _reuse(self, idle: _Idle) -> bool:
        """Open on a connection an earlier reader in this process left (extensions loaded,
        lake attached), in a new transaction: a new snapshot. The views are made again unless
        nothing at all was committed since; while publish's copies hold, they and the
        precomputed tables are read from TEMP copies made once per publish (the mirror), so a
        dashboard's refreshes of a quiet lake read memory. False (and the connection closed)
        when it no longer works: the caller connects anew."""
        self._con = idle.con
        self._opened_at = time.monotonic()
        try:
            self._con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            self._snapshot = self._current_snapshot()
            self._mirrored, self._mirror_tables = idle.mirrored, idle.mirror_tables
            if self._snapshot == idle.snapshot:
                self._present, self._published = idle.present, idle.published
            else:
                self._discover(require=True)
            if self._snapshot != idle.snapshot or self._mirrored is None:
                self._mirror()
            for table in self.unioned():
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {self.relation(table)}")
            return True
        except duckdb.Error:
            self._in_transaction = False
            self._con, self._snapshot = None, None
            self._mirrored, self._mirror_tables = None, []
            idle.con.close()
            return False

    def _mirror(self) -> None:
        """While publish's copies hold, TEMP copies of every table of `main` publish wrote
        (the copies, the precomputed tables and their state), made once for each publish and
        only up to MIRROR_BYTES of Parquet; else none."""
        stamp = self._published_stamp()
        if stamp is not None and stamp == self._mirrored:
            return
        self._drop_mirror()
        if stamp is None:
            return
        tables = sorted(t for t, homes in self._present.items()
                        if MAIN in homes and t.startswith(MAIN_ONLY_PREFIX))
        size = self.scalar(
            f"SELECT coalesce(sum(file_size_bytes), 0) FROM ducklake_table_info('{ALIAS}') "
            "WHERE list_contains(?, table_name)", [tables])
        if size > MIRROR_BYTES:
            return
        for table in tables:
            self.con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {ALIAS}.{MAIN}.{table}")
        self._mirror_tables = tables
        self._mirrored = stamp

    def _published_stamp(self) -> int | None:
        """The snapshot publish read, while its copies hold (None otherwise)."""
        if self._published is None:
            return None
        return self.scalar(f"SELECT snapshot FROM {ALIAS}.{MAIN}.{PUBLISHED}")

    def _drop_mirror(self) -> None:
        for table in self._mirror_tables:
            self.con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")
        self._mirror_tables, self._mirrored = [], None

    def _give_back(self) -> bool:
        """End this reader's transaction and keep its connection for the next reader, with
        everything a caller made on it dropped (TEMP views and tables but the mirror,
        variables), as a new connection would be. False when it cannot be kept."""
        con = self._con
        try:
            # COMMIT, not ROLLBACK: the mirror's TEMP tables were made in this transaction. A
            # reader has written nothing to the lake (it is attached read-only).
            con.execute("COMMIT")
            self._in_transaction = False
            mirror = set(self._mirror_tables)
            for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall():
                con.execute(f'DROP VIEW IF EXISTS temp.main."{name}"')
            for (name,) in con.execute(
                "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = 'temp'"
            ).fetchall():
                if name not in mirror:
                    con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')
            for (name,) in con.execute("SELECT name FROM duckdb_variables()").fetchall():
                con.execute(f'RESET VARIABLE "{name}"')
        except duckdb.Error:
            return False  # e.g. a failed statement aborted the transaction: closed instead
        return _keep(self._pool_key(), _Idle(con, self._snapshot, self._present, self._published,
                                              self._mirrored, self._mirror_tables))

    def _may_use_a_bucket(self) -> bool:
        """Whether this process may read or write Parquet files in a bucket: a data path with
        a scheme (s3://, gs://, …) or S3 credentials in the environment. httpfs costs about
        0.1 s to load, paid by every reader of a lake on local disk otherwise."""
        return "://" in (self.data_path or "") or bool(os.environ.get(S3_ENV["KEY_ID"]))

    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        options = ["READ_ONLY"] if self.read_only else []
        if self.data_path and not self.read_only:
            if "://" not in self.data_path:  # a local folder; s3:// and the like exist already
                Path(self.data_path).mkdir(parents=True, exist_ok=True)
            options.append(f"DATA_PATH '{self.data_path.replace(chr(39), chr(39) * 2)}'")
        target = self.location.replace("'", "''")
        sql = f"ATTACH '{target}' AS {ALIAS}" + (f" ({', '.join(options)})" if options else "")

        def attach() -> None:
            con.execute(sql)

        try:
            # Several workers creating a new catalog at once race on its tables: retried.
            retrying(attach, "attach", also=INIT_RACE)
        except duckdb.Error as exc:
            message = redact(" ".join(str(exc).split()))[:300]
            if self.read_only and "creating a new DuckLake is explicitly disabled" in message:
                raise FileNotFoundError(
                    f"{self.path}: the lake holds no warehouse yet (run `dora-impact import` or "
                    "`sync` first)"
                ) from None
            if "DATA_PATH" in message or "data path" in message.lower():
                raise UserError(f"{self.path}: {message}") from None
            raise LakeUnavailable(f"{self.path}: cannot open the lake: {message}") from None
        if not self.read_only:
            retrying(lambda: con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.{self.home}"), "schema")
        con.execute(f"USE {ALIAS}.{self.home}")

    def shards(self) -> list[str]:
        """The shard schemas in the lake, in order."""
        rows = self.con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [ALIAS]
        ).fetchall()
        found = [(tuple(map(int, m.groups())), r[0]) for r in rows if (m := SHARD_SCHEMA.match(r[0]))]
        return [name for _key, name in sorted(found)]

    def see_every_home(self) -> None:
        """The union views made again, over the homes as they are now (a writer's were made
        when it opened: a home created since would be missing from them)."""
        self._union_views()

    def _union_views(self, require: bool = False) -> None:
        """TEMP views, one per table of `main`: main's rows and every shard's, by column name
        (a shard still on an older migration lacks newer columns: NULL there)."""
        with self.transaction():  # one catalog snapshot read from PostgreSQL for all the views
            self._create_union_views(require)

    def _create_union_views(self, require: bool) -> None:
        self._discover(require)
        for table in self.unioned():
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {self.relation(table)}")

    def _discover(self, require: bool) -> None:
        """Which homes hold which tables, and (a reader) whether publish's copies hold."""
        tables = self._tables()
        present: dict[str, set[str]] = {}
        for schema, table in tables:
            present.setdefault(table, set()).add(schema)
        if require and MAIN not in present.get("schema_version", ()):
            raise FileNotFoundError(
                f"{self.path}: the lake holds no warehouse yet (run `dora-impact import` or "
                "`sync` first)"
            )
        self._present = present
        # A reader reads publish's copies while they still hold: one table each, not one
        # per home (each costs a dozen catalog round trips).
        self._published = self._published_holds() if self.read_only else None

    def unioned(self) -> list[str]:
        """The tables readers see over every home (every table of `main` but its own)."""
        return sorted(t for t, schemas in self._present.items()
                      if MAIN in schemas and t not in NOT_UNIONED and not t.startswith(MAIN_ONLY_PREFIX))

    def changed_since(self, snapshot: int, tables: list[str]) -> bool:
        """Whether any home's `tables` may have changed rows after `snapshot`, as DuckLake's
        snapshots() tell (the ones this transaction sees); True too when snapshots since then
        were expired, so that it never guesses. A table made or dropped since counts."""
        ids = {str(r[0]) for r in self.con.execute(
            f"SELECT table_id FROM ducklake_table_info('{ALIAS}') WHERE list_contains(?, table_name)",
            [tables],
        ).fetchall()}
        oldest = self.scalar(f"SELECT min(snapshot_id) FROM {ALIAS}.snapshots()")
        if oldest is None or oldest > snapshot:
            return True
        for (changes,) in self.con.execute(
            f"SELECT changes FROM {ALIAS}.snapshots() WHERE snapshot_id > ?", [snapshot]
        ).fetchall():
            changes = dict(changes or {})
            if any(ids.intersection(changes.get(kind) or ()) for kind in ROWS_CHANGED):
                return True
            named = [str(x) for kind in TABLES_CHANGED for x in changes.get(kind) or ()]
            if any(x in ids or x.rpartition(".")[2] in tables for x in named):
                return True
        return False

    def _published_holds(self) -> int | None:
        """The load count publish stored (warehouse/maintain.py), when no home's tables have
        changed since the snapshot it read: then its copies are every home's rows as they
        are now, and the precomputed tables' count is the lake's. Else None: readers union
        the homes and sum their counts (exact either way; counts only grow, and a load that
        changes rows bumps its home's in the same commit)."""
        if MAIN not in self._present.get(PUBLISHED, ()):
            return None
        row = self.con.execute(f"SELECT snapshot, version FROM {ALIAS}.{MAIN}.{PUBLISHED}").fetchone()
        if row is None or self.changed_since(row[0], [*self.unioned(), "load_version"]):
            return None
        return int(row[1])

    def _tables(self) -> list[tuple[str, str]]:
        """(schema, table) of every table in the lake. From duckdb_columns(): duckdb_tables()
        and information_schema.tables ask the catalog for every table's size, about 1 ms a
        table (0.1 s for 4 shards), on every call."""
        return self.con.execute(
            "SELECT DISTINCT schema_name, table_name FROM duckdb_columns() WHERE database_name = ?",
            [ALIAS],
        ).fetchall()

    def _homes(self, table: str) -> list[str]:
        """The homes holding `table`: main, then the shards in order."""
        schemas = getattr(self, "_present", {}).get(table, {MAIN})
        shards = sorted((s for s in schemas if SHARD_SCHEMA.match(s)),
                        key=lambda s: tuple(map(int, SHARD_SCHEMA.match(s).groups())))
        return [MAIN, *shards]

    def relation(self, table: str) -> str:
        """The SQL of every home's rows of `table`, as readers see it (the TEMP view's body).

        - most tables: main's rows and every shard's, by column name (a shard still on an
          older migration lacks newer columns: NULL there);
        - `teams`: one row per repository, a shard's before main's (ownership from the config,
          which shard workers write, wins over an import's, as it does on a file where the
          config's ownership is applied after every load);
        - `load_version`: one row, the sum of every home's count, so that the precomputed
          tables (built over all homes by `maintain`) are stale as soon as any home loads;
          for a reader, the count publish stored while no home's has changed since;
        - for a reader while nothing changed since publish, its copy (`mart_all_<table>`)."""
        homes = self._homes(table)
        parts = [f"SELECT * FROM {ALIAS}.{home}.{table}" for home in homes]
        if self._published is not None:  # a reader, while publish's copies hold
            if table == "load_version":
                return f"SELECT {self._published}::BIGINT AS version"
            if COPY_PREFIX + table in self._mirror_tables:
                return f"SELECT * FROM temp.main.{COPY_PREFIX}{table}"
            if MAIN in self._present.get(COPY_PREFIX + table, ()):
                return f"SELECT * FROM {ALIAS}.{MAIN}.{COPY_PREFIX}{table}"
        if table == "load_version":
            return f"SELECT sum(version)::BIGINT AS version FROM ({' UNION ALL '.join(parts)})"
        if table == "teams":
            ranked = " UNION ALL BY NAME ".join(
                f"SELECT *, {0 if home == MAIN else 1 + i} AS _rank FROM {ALIAS}.{home}.teams"
                for i, home in enumerate(homes)
            )
            return (f"SELECT * EXCLUDE (_rank) FROM ({ranked}) "
                    "QUALIFY row_number() OVER (PARTITION BY repo ORDER BY _rank DESC) = 1")
        return " UNION ALL BY NAME ".join(parts)

    def unshadow(self, *tables: str) -> None:
        """Put back the whole-lake views of `tables` after a caller shadowed them."""
        for table in tables:
            if self.whole:
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {self.relation(table)}")
            else:
                self.con.execute(f"DROP VIEW IF EXISTS temp.{table}")

    def release(self) -> None:
        """Nothing to let go of: DuckLake serves many writers and readers at once."""

    def close(self) -> None:
        if self._con is not None and self.read_only and self._snapshot is not None and self._give_back():
            self._con = None
            return
        self._in_transaction = False
        if self._con is not None:
            self._con.close()
            self._con = None

    def _discard(self) -> None:
        self.close()  # a lake is shared: a failed command never deletes it

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Bring `main` and this writer's home up to date, each in one transaction (every
        DuckLake transaction costs catalog round trips). Workers starting together race on
        `main`: the migration that loses is retried, and then finds itself applied."""
        applied: list[int] = []
        for schema in dict.fromkeys([MAIN, self.home]):
            applied += retrying(lambda schema=schema: self._migrate_schema(schema), "migration")
        return applied

    def _migrate_schema(self, schema: str) -> list[int]:
        self.con.execute(f"USE {ALIAS}.{schema}")
        try:
            with self.transaction():
                self.con.execute(adapt(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                ))
                current = self.schema_version()
                pending = [m for m in migrations() if m[0] > current]
                for version, name, sql in pending:
                    self.con.execute(adapt(sql))
                    self.con.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, datetime.now(UTC)]
                    )
                if schema == MAIN and not self._has(MAIN, SHARD_LOCK):
                    # The lake's own tables (a file has no shard map). Two workers creating
                    # them at once conflict; the retried one finds them.
                    self.con.execute(
                        f"CREATE TABLE IF NOT EXISTS {SHARD_MAP} "
                        "(shards INTEGER NOT NULL, repo VARCHAR NOT NULL, shard INTEGER NOT NULL)"
                    )
                    self.con.execute(f"CREATE TABLE {SHARD_LOCK} (version BIGINT NOT NULL)")
                    self.con.execute(f"INSERT INTO {SHARD_LOCK} VALUES (0)")
        finally:
            self.con.execute(f"USE {ALIAS}.{self.home}")
        return [m[0] for m in pending]

    def _has(self, schema: str, table: str) -> bool:
        return (schema, table) in self._tables()

    # -- writing ------------------------------------------------------------------------------
    def load(
        self,
        batches: dict[str, pl.DataFrame],
        source: str | None = None,
        cursors: list | tuple = (),
    ) -> dict[str, LoadCounts]:
        """Warehouse.load, with two lake rules: a shard writes team rows only for the
        repositories it owns (every worker knows the whole config, and each would otherwise
        write every configured repository's team: counted once per shard by readers), and a
        load that is its own transaction is run again when it loses a race with another
        writer (maintenance compacting the same table)."""
        if self.shard is not None and "teams" in batches:
            owned = self.owned()
            batches = {**batches, "teams": batches["teams"].filter(pl.col("repo").is_in(sorted(owned)))}
        if self._in_transaction:
            return self._load_home(batches, source, cursors)
        return retrying(lambda: self._load_home(batches, source, cursors),
                        f"{self.path}: load into {self.home}")

    def _load_home(
        self, batches: dict[str, pl.DataFrame], source: str | None, cursors: list | tuple
    ) -> dict[str, LoadCounts]:
        """Load into this writer's home: a whole-lake writer (`maintain` writing the config's
        teams) reads a table through its union view but writes the home's own table."""
        # The load's bookkeeping (load count, source times, cursors) is written too.
        touched = [*batches, "load_version", "source_loads", "sync_state"]
        shadowed = [name for name in touched if self.whole and name in getattr(self, "_present", {})]
        for name in shadowed:
            self.con.execute(f"DROP VIEW IF EXISTS temp.{name}")
        try:
            return Warehouse.load(self, batches, source, cursors)
        finally:
            self.unshadow(*shadowed)

    def retried(self, action: Callable[[], object], what: str) -> object:
        """Warehouse.retried: run again (bounded, then LakeBusy) when it loses a race, e.g.
        with `maintain` compacting the same table; inside an outer transaction, the outer
        one's caller retries."""
        if self._in_transaction:
            return action()
        return retrying(action, f"{self.path}: {what}")

    # -- shards -------------------------------------------------------------------------------
    def shard_assignment(self, n: int) -> dict[str, int]:
        """repository -> shard (1..n), as stored for n shards."""
        rows = self.con.execute(
            f"SELECT repo, min(shard) FROM {ALIAS}.{MAIN}.{SHARD_MAP} WHERE shards = ? GROUP BY repo", [n]
        ).fetchall()
        return dict(rows)

    def weights(self) -> dict[str, float]:
        """Stored rows per repository over every home: what a sync of it fetches, roughly.
        Only the homes that hold the tables: a worker starting beside this one has created its
        schema but may not have committed its migrations yet."""
        tables = ("deployments", "changes", "pull_requests")
        parts = [f"SELECT repo FROM {ALIAS}.{home}.{table}" for home, table in sorted(self._tables())
                 if table in tables and (home == MAIN or SHARD_SCHEMA.match(home))]
        rows = self.con.execute(
            f"SELECT repo, count(*) FROM ({' UNION ALL '.join(parts)}) GROUP BY repo"
        ).fetchall()
        return {repo: float(count) for repo, count in rows}

    def claim(self, names: list[str], shard: tuple[int, int]) -> list[str]:
        """The repositories among `names` that shard K of N owns; those no shard owns yet are
        assigned first (warehouse/sharding.py), once for all workers: the assignment updates
        the lock row first, so a worker assigning at the same time conflicts, retries, and
        then reads this one's assignment."""
        k, n = shard
        current = self.shard_assignment(n)
        if any(name not in current for name in names):
            def assign_new() -> dict[str, int]:
                with self.transaction():
                    self.con.execute(f"UPDATE {ALIAS}.{MAIN}.{SHARD_LOCK} SET version = version + 1")
                    stored = self.shard_assignment(n)
                    added = sharding.assign(stored, [x for x in names if x not in stored], n, self.weights())
                    if added:
                        self.con.executemany(
                            f"INSERT INTO {ALIAS}.{MAIN}.{SHARD_MAP} VALUES (?, ?, ?)",
                            [[n, repo, s] for repo, s in sorted(added.items())],
                        )
                    return {**stored, **added}

            current = retrying(assign_new, f"{self.path}: assigning repositories to {n} shards")
        self._owned = {repo for repo, s in current.items() if s == k}
        return [name for name in names if current.get(name) == k]

    def reshard(self, n: int) -> tuple[list[str], dict[int, int]]:
        """Assign every known repository anew over n shards, balanced by weight, and drop every
        shard home: (the homes dropped, repositories per new shard). A home of the old layout
        would hold rows of repositories that now belong elsewhere, read twice beside the new
        shard's; the next run of the n workers syncs their repositories again from the window's
        start. One transaction, so readers see the old layout or the new one."""
        if n < 1:
            raise UserError(f"--reshard {n}: the number of shards must be 1 or more")

        def run() -> list[str]:
            with self.transaction():
                self.con.execute(f"UPDATE {ALIAS}.{MAIN}.{SHARD_LOCK} SET version = version + 1")
                homes = self.shards()
                weights = self.weights()
                known = {r[0] for r in self.con.execute(
                    f"SELECT repo FROM {ALIAS}.{MAIN}.{SHARD_MAP}").fetchall()}
                repos = sorted(known | set(weights))
                assignment = sharding.balance(repos, n, weights)
                self.con.execute(f"DELETE FROM {ALIAS}.{MAIN}.{SHARD_MAP}")
                if assignment:
                    self.con.executemany(
                        f"INSERT INTO {ALIAS}.{MAIN}.{SHARD_MAP} VALUES (?, ?, ?)",
                        [[n, repo, k] for repo, k in sorted(assignment.items())],
                    )
                for home in homes:
                    self.con.execute(f"DROP SCHEMA {ALIAS}.{home} CASCADE")
                # The precomputed tables describe the old homes' rows: stale from now on.
                self.con.execute(f"DROP TABLE IF EXISTS {ALIAS}.{MAIN}.mart_state")
                for table in [PUBLISHED, *(t for t in self._present if t.startswith(COPY_PREFIX))]:
                    self.con.execute(f"DROP TABLE IF EXISTS {ALIAS}.{MAIN}.{table}")
                self._counts = {k: sum(1 for s in assignment.values() if s == k) for k in range(1, n + 1)}
                return homes

        dropped = retrying(run, f"{self.path}: resharding")
        if self.whole:
            self._union_views()
        return dropped, self._counts

    def owned(self) -> set[str]:
        """The repositories this shard writer's shard owns."""
        if self.shard is None:
            return set()
        if self._owned is None:
            k, n = self.shard
            self._owned = {repo for repo, s in self.shard_assignment(n).items() if s == k}
        return self._owned


Warehouse.kinds[PREFIX] = LakeWarehouse
