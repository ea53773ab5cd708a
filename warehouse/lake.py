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
'dora-impact[lake]'`); DuckDB 2.0 has no DuckLake extension yet.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

import duckdb

from warehouse.db import Warehouse, duckdb_settings, migrations
from warehouse.errors import UserError

PREFIX = "ducklake:"
ALIAS = "lake"
MAIN = "main"
SHARD_SCHEMA = re.compile(r"^shard_(\d+)_of_(\d+)$")
# Written by `alert` alone, in `main`; a union view would make them unwritable for it.
NOT_UNIONED = frozenset({"alert_state", "alert_outbox", "schema_version"})
DATA_PATH_ENV = "DORA_IMPACT_LAKE_DATA_PATH"
PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
CONFLICT = re.compile(r"conflict|Transaction.*(abort|retry)", re.IGNORECASE)
# Several clients creating a new catalog at once race on its PostgreSQL tables.
INIT_RACE = re.compile(r"Failed to initialize DuckLake|duplicate key value|already exists", re.IGNORECASE)
RETRIES = 30


class LakeUnavailable(UserError):
    """The catalog could not be reached or the lake extensions are missing (exit 4: a later
    run may succeed once the catalog is up)."""

    exit_code = 4


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


def retrying(action: Callable[[], object], what: str = "commit", also: re.Pattern | None = None) -> object:
    """Run `action`, again after a DuckLake write conflict (another writer committed to the
    catalog first: a concurrent migration of `main`), with jittered backoff."""
    delay = 0.05
    for attempt in range(RETRIES):
        try:
            return action()
        except duckdb.Error as exc:
            if attempt == RETRIES - 1 or not (
                isinstance(exc, duckdb.TransactionException)
                or CONFLICT.search(str(exc))
                or (also is not None and also.search(str(exc)))
            ):
                raise
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 1.0)
    raise AssertionError(what)  # not reached


class LakeWarehouse(Warehouse):
    """Warehouse(location) for a `ducklake:` location (Warehouse.__new__ picks this class)."""

    # No precomputed tables: each home would hold aggregates of its own shard only, and
    # per-period medians of several shards cannot be combined. Readers compute from the rows.
    precomputes = False

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
        config = {
            **duckdb_settings(),
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
        con = duckdb.connect(config=config)
        try:
            _load(con, "duckdb_extension_postgres", "postgres", "postgres_scanner")
            _load(con, "duckdb_extension_ducklake", "ducklake", "ducklake")
            if _installed("duckdb_extension_httpfs"):  # for remote data paths, when installed
                _load(con, "duckdb_extension_httpfs", "httpfs", "httpfs")
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

    def _union_views(self, require: bool = False) -> None:
        """TEMP views, one per table of `main`: main's rows and every shard's, by column name
        (a shard still on an older migration lacks newer columns: NULL there)."""
        with self.transaction():  # one catalog snapshot read from PostgreSQL for all the views
            self._create_union_views(require)

    def _create_union_views(self, require: bool) -> None:
        tables = self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]
        ).fetchall()
        present: dict[str, set[str]] = {}
        for schema, table in tables:
            present.setdefault(table, set()).add(schema)
        if require and MAIN not in present.get("schema_version", ()):
            raise FileNotFoundError(
                f"{self.path}: the lake holds no warehouse yet (run `dora-impact import` or "
                "`sync` first)"
            )
        shards = sorted({s for schemas in present.values() for s in schemas if SHARD_SCHEMA.match(s)},
                        key=lambda s: tuple(map(int, SHARD_SCHEMA.match(s).groups())))
        for table, schemas in sorted(present.items()):
            if table in NOT_UNIONED or MAIN not in schemas:
                continue
            parts = [f"SELECT * FROM {ALIAS}.{MAIN}.{table}"]
            parts += [f"SELECT * FROM {ALIAS}.{s}.{table}" for s in shards if s in schemas]
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {table} AS {' UNION ALL BY NAME '.join(parts)}"
            )

    def release(self) -> None:
        """Nothing to let go of: DuckLake serves many writers and readers at once."""

    def close(self) -> None:
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
        finally:
            self.con.execute(f"USE {ALIAS}.{self.home}")
        return [m[0] for m in pending]

Warehouse.kinds[PREFIX] = LakeWarehouse
