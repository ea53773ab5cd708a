"""The warehouse in a DuckLake with a PostgreSQL catalog, and sharded sync workers into it.

Needs the `lake` extra (DuckDB 1.5.5's DuckLake, postgres and httpfs extensions) and runs
against a throwaway PostgreSQL (tests/postgres.py); without them the lake tests are skipped
(failures where DORA_REQUIRE_POSTGRES is set); the pure parts (shard assignment, constraint
stripping, redaction) run everywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

from collectors.shards import Shard, shard_of
from tests import postgres
from tests.conftest import run_cli
from tests.github_fake import TOKEN
from tests.lake_org import OWNERSHIP, ShardedFake, build_org, repo_names, start_worker
from warehouse.errors import UserError
from warehouse.lake import adapt, redact
from warehouse.schema import ENTITIES

pytestmark = pytest.mark.lake

UNTIL = "2026-03-31"  # metrics end here, before any sync ran: results do not depend on the day


def lake_missing() -> str | None:
    """Why the lake tests cannot run here. Without the `lake` extra the extensions are missing
    (`make` installs it); a missing PostgreSQL skips them, except
    where DORA_REQUIRE_POSTGRES is set (CI, .ci/run): there it is a failure."""
    try:
        import duckdb_extension_ducklake  # noqa: F401
        import duckdb_extension_postgres  # noqa: F401
    except ImportError:
        return "needs DuckLake's extensions (pip install -e '.[lake]')"
    if os.environ.get("DORA_REQUIRE_POSTGRES"):
        return None
    return postgres.unavailable()


needs_lake = pytest.mark.skipif(lake_missing() is not None, reason=lake_missing() or "")


@pytest.fixture(scope="module")
def pg():
    server = postgres.start()
    yield server
    server.stop()


@pytest.fixture
def lake(pg, tmp_path, request, monkeypatch) -> str:
    """A new, empty lake: its own catalog database, Parquet files under tmp_path."""
    name = "lake_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    monkeypatch.setenv("DORA_IMPACT_LAKE_DATA_PATH", str(tmp_path / "lake-data"))
    return "ducklake:postgres:" + pg.create_database(name)


# -- pure parts (every environment) ------------------------------------------------------------


def test_a_repository_belongs_to_one_stable_shard():
    # sha256("acme/api") starts with bytes whose big-endian value mod 4 is 3: shard 4.
    digest = int.from_bytes(hashlib.sha256(b"acme/api").digest()[:8], "big")
    assert shard_of("acme/api", 4) == digest % 4 + 1 == 4
    assert shard_of("Acme/API", 4) == 4  # GitHub names are case-insensitive
    names = repo_names(200)
    owners = [[k for k in range(1, 5) if Shard(k, 4).owns(n)] for n in names]
    assert all(len(o) == 1 for o in owners)
    sizes = [sum(1 for o in owners if o == [k]) for k in range(1, 5)]
    assert min(sizes) >= 30  # 200 names spread over 4 shards (50 expected each)


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_a_bad_shard_is_one_clear_error(text):
    with pytest.raises(UserError, match="--shard"):
        Shard.parse(text)


def test_cli_refuses_a_bad_shard_in_one_line(tmp_path):
    config = tmp_path / "dora.toml"
    config.write_text('[github]\nrepos = ["acme/api"]\n')
    result = run_cli("--config", str(config), "sync", "--shard", "5/4", db=tmp_path / "x.duckdb")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "--shard '5/4'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.duckdb").exists()


def test_migrations_lose_the_constraints_ducklake_lacks():
    sql = (
        "CREATE TABLE t (\n    id BIGINT PRIMARY KEY,  -- first\n"
        "    status VARCHAR NOT NULL CHECK (status IN ('a', 'b')),\n"
        "    n INTEGER NOT NULL DEFAULT 0,\n    PRIMARY KEY (id, status)\n);"
    )
    assert adapt(sql) == (
        "CREATE TABLE t (\n    id BIGINT,  -- first\n"
        "    status VARCHAR NOT NULL,\n"
        "    n INTEGER NOT NULL DEFAULT 0\n);"
    )


def test_passwords_are_masked():
    assert redact("dbname=d password=hunter2 host=h") == "dbname=d password=*** host=h"
    assert redact("host=h PASSWORD = 'a b'") == "host=h PASSWORD = ***"
    assert redact("postgresql://me:hunter2@db/x") == "postgresql://me:***@db/x"


def test_maintain_on_a_file_checkpoints_and_exits_0(tmp_path):
    db = tmp_path / "dora.duckdb"
    assert run_cli("maintain", db=db).stdout.strip() == f"{db}: no database yet; nothing to do"
    deployments = tmp_path / "deployments.csv"
    deployments.write_text("deployment_id,repo,environment,status,finished_at\nd1,o/r,production,success,2026-01-05T10:00:00Z\n")
    assert run_cli("import", str(deployments), db=db).code == 0
    result = run_cli("maintain", db=db)
    assert (result.code, result.stdout.strip()) == (0, f"{db}: checkpointed; a DuckDB file needs no other upkeep")


# -- the lake ----------------------------------------------------------------------------------


def _deployments(ids: list[str], repo: str, status: str = "success") -> pl.DataFrame:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    return pl.DataFrame({
        "deployment_id": ids, "repo": [repo] * len(ids), "environment": ["production"] * len(ids),
        "status": [status] * len(ids), "finished_at": [start + timedelta(days=i) for i in range(len(ids))],
    })


@needs_lake
def test_homes_are_upserted_apart_and_read_together(lake):
    from warehouse import Warehouse

    with Warehouse(lake) as wh:
        assert wh.load({"deployments": _deployments(["a1", "a2"], "o/a")})["deployments"].new == 2
        again = wh.load({"deployments": _deployments(["a1", "a2"], "o/a", "failure")})["deployments"]
        assert (again.new, again.updated) == (0, 2)
    with Warehouse(lake, shard=(2, 2)) as wh:
        assert wh.home == "shard_2_of_2"
        assert wh.load({"deployments": _deployments(["b1"], "o/b")})["deployments"].new == 1
        # The worker reads its own home only: the rows of `main` are not its to see.
        assert wh.scalar("SELECT count(*) FROM deployments") == 1
        versions = wh.scalar("SELECT count(*) FROM schema_version")
    with Warehouse(lake, read_only=True) as wh:
        rows = wh.con.execute("SELECT deployment_id, status FROM deployments ORDER BY 1").fetchall()
        assert rows == [("a1", "failure"), ("a2", "failure"), ("b1", "success")]
        assert wh.table_counts()["deployments"] == 3
        # Every migration ran in each home, without the constraints DuckLake refuses.
        assert wh.scalar("SELECT count(*) FROM lake.main.schema_version") == versions >= 8
        assert "password" not in repr(wh)


@needs_lake
def test_a_password_in_the_location_is_refused_and_never_shown(lake):
    result = run_cli("metrics", db=lake.replace("user=postgres", "user=postgres password=hunter2"))
    assert result.code == 2 and "hunter2" not in result.stderr + result.stdout
    assert "password=***" in result.stderr and "PGPASSWORD" in result.stderr


@needs_lake
def test_an_empty_lake_is_one_line_for_readers(lake):
    result = run_cli("metrics", db=lake)
    assert result.code == 2 and "holds no warehouse yet" in result.stderr
    assert "Traceback" not in result.stderr


@needs_lake
def test_maintain_on_a_lake_compacts_and_expires(lake, tmp_path):
    from warehouse import Warehouse

    for batch in range(3):
        with Warehouse(lake, shard=(1, 1)) as wh:
            wh.load({"deployments": _deployments([f"d{batch}-{i}" for i in range(5)], "o/a")})
    result = run_cli("maintain", "--retention-days", "0", db=lake)
    assert result.code == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) >= {"tables compacted", "snapshots expired", "orphaned files deleted", "snapshots"}
    before, after = (int(x.split()[0]) for x in lines["snapshots"].split(", "))
    assert after < before  # retention 0: every snapshot but the latest expired
    with Warehouse(lake, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM deployments") == 15  # nothing lost


def _shard_load(lake: str, k: int, ids: list[str], repo: str) -> None:
    from warehouse import Warehouse

    with Warehouse(lake, shard=(k, 2)) as wh:
        wh.load({"deployments": _deployments(ids, repo)})


@needs_lake
def test_readers_read_publishs_copies_until_a_home_changes(lake):
    """After `maintain`, a reader reads publish's one copy of each table and the load count it
    stamped, instead of every home's; a later load in any home (or a cursor saved without new
    rows) sends readers back to the homes, with the same rows either way."""
    from warehouse import Warehouse
    from warehouse.config import MetricsConfig
    from warehouse.db import Cursor
    from warehouse.freshness import is_fresh

    _shard_load(lake, 1, ["a1", "a2"], "o/a")
    _shard_load(lake, 2, ["b1"], "o/b")
    assert "precomputed tables published: 1" in run_cli("maintain", db=lake).stdout
    # Upkeep after it (a flush, a compaction) changes no rows: the copies still hold.
    assert "precomputed tables published: 0" in run_cli("maintain", db=lake).stdout

    def read() -> tuple[str, str, int, int, bool]:
        with Warehouse(lake, read_only=True) as wh:
            return (wh.relation("deployments"), wh.relation("sync_state"),
                    wh.scalar("SELECT count(*) FROM deployments"),
                    wh.scalar("SELECT version FROM load_version"), is_fresh(wh, MetricsConfig()))

    deployments, cursors, count, version, fresh = read()
    assert deployments.endswith("lake.main.mart_all_deployments")  # one table, not three homes
    assert cursors.endswith("lake.main.mart_all_sync_state")
    # main's count 0, each shard's 1 (one load each): 2, as publish stamped it.
    assert (count, version, fresh) == (3, 2, True)

    _shard_load(lake, 2, ["b2"], "o/b")
    deployments, _cursors, count, version, fresh = read()
    assert "lake.shard_1_of_2.deployments" in deployments and "lake.shard_2_of_2.deployments" in deployments
    assert (count, version, fresh) == (4, 3, False)  # the homes' rows and counts: stale tables

    assert "precomputed tables published: 1" in run_cli("maintain", db=lake).stdout
    assert read()[2:] == (4, 3, True)
    # A sync that found nothing new saves its cursors and bumps no count: the metrics are
    # still fresh, but the copy of sync_state (which coverage reads) no longer holds.
    with Warehouse(lake, shard=(1, 2)) as wh:
        wh.load({}, cursors=[Cursor("github", "o/a", "deployments", "c1")])
    deployments, cursors, count, version, fresh = read()
    assert "lake.shard_1_of_2.sync_state" in cursors
    assert (count, version, fresh) == (4, 3, True)


@needs_lake
def test_a_reader_in_this_process_reuses_a_connection_as_if_new(lake):
    """A second read of the lake in one process (the dashboard's refreshes) takes the first
    one's connection: its own snapshot, nothing the first one made on it, and publish's
    tables copied to memory while they hold."""
    from warehouse import Warehouse

    _shard_load(lake, 1, ["a1", "a2"], "o/a")
    assert run_cli("maintain", db=lake).code == 0
    with Warehouse(lake, read_only=True) as wh:
        first = wh.con
        wh.con.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
        wh.con.execute("SET VARIABLE scope = 'team'")
    with Warehouse(lake, read_only=True) as wh:
        assert wh.con is first
        temp = {r[0] for r in wh.con.execute(
            "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = 'temp' "
            "AND table_name NOT IN (SELECT view_name FROM duckdb_views() WHERE temporary)").fetchall()}
        assert "scratch" not in temp and "mart_all_deployments" in temp  # the mirror, in memory
        assert wh.scalar("SELECT getvariable('scope')") is None
        assert wh.relation("deployments") == "SELECT * FROM temp.main.mart_all_deployments"
        assert wh.scalar("SELECT count(*) FROM deployments") == 2
        # A worker commits while this reader reads: not seen by it (one snapshot) ...
        _shard_load(lake, 2, ["b1"], "o/b")
        assert wh.scalar("SELECT count(*) FROM deployments") == 2
    # ... and seen by the next, from the homes: the mirror is gone with the copies' validity.
    with Warehouse(lake, read_only=True) as wh:
        assert wh.con is first
        assert wh.scalar("SELECT count(*) FROM deployments") == 3
        assert "lake.shard_2_of_2.deployments" in wh.relation("deployments")
        assert not wh.con.execute("SELECT 1 FROM duckdb_columns() WHERE database_name = 'temp' "
                                  "AND table_name LIKE 'mart_%'").fetchall()


@needs_lake
def test_the_dashboard_server_opens_its_lake_reader_before_it_listens(lake):
    """dashboards/server.py `warm_lake`: the `--db` after `--` names the lake; the reader it
    opens is kept with publish's tables in memory, so the first read takes that connection and
    reads the mirror; a file, or no `--db`, opens nothing ahead."""
    from dashboards.server import app_location, warm_lake
    from warehouse import Warehouse
    from warehouse import lake as lake_module

    assert app_location(["run", "app.py", "--server.port", "1", "--", "--db", lake, "--config", "c"]) == lake
    assert app_location(["run", "app.py", "--db", "not-the-apps"]) is None
    assert app_location(["run", "app.py", "--", f"--db={lake}"]) == lake
    _shard_load(lake, 1, ["a1", "a2"], "o/a")
    assert run_cli("maintain", db=lake).code == 0
    key = (lake, os.environ.get(lake_module.DATA_PATH_ENV))
    lake_module.forget_readers()  # another test's reader: not this server's
    warm_lake(["run", "app.py", "--", "--db", "/no/such/file.duckdb"])
    assert key not in lake_module._IDLE
    # A lake that cannot be opened: a warning, and the server starts (the page reports it).
    nowhere = "ducklake:postgres:dbname=nowhere host=127.0.0.1 port=1 connect_timeout=2"
    warm_lake(["run", "app.py", "--", "--db", nowhere])
    assert not lake_module._IDLE.get((nowhere, os.environ.get(lake_module.DATA_PATH_ENV)))
    warm_lake(["run", "app.py", "--", "--db", lake])
    (idle,) = lake_module._IDLE[key]
    assert idle.mirrored is not None and "mart_all_deployments" in idle.mirror_tables
    with Warehouse(lake, read_only=True) as wh:
        assert wh.con is idle.con
        assert wh.relation("deployments") == "SELECT * FROM temp.main.mart_all_deployments"
        assert wh.scalar("SELECT count(*) FROM deployments") == 2


# -- four shard workers against the fake GitHub, with readers --------------------------------


REPOS = 12


def _metrics(db: str | Path, config: Path) -> list[dict]:
    out = []
    for by in ("org", "team", "repo"):
        result = run_cli("--config", str(config), "metrics", "--by", by, "--period", "week",
                         "--until", UNTIL, "--format", "json", db=db)
        assert result.code == 0, result.stderr
        out += json.loads(result.stdout)
    return out


def _json(db: str | Path, config: Path, *args: str) -> tuple[int, object]:
    result = run_cli("--config", str(config), *args, "--format", "json", db=db)
    assert result.code in (0, 1), result.stderr
    return result.code, json.loads(result.stdout)


def _shard_team_rows(wh) -> list[tuple]:
    """(repo, rows) over every shard home's own teams table, for repositories written twice."""
    parts = " UNION ALL ".join(f"SELECT repo FROM lake.{s}.teams" for s in wh.shards())
    return wh.con.execute(f"SELECT repo, count(*) FROM ({parts}) GROUP BY repo HAVING count(*) > 1").fetchall()


@needs_lake
def test_four_shard_workers_tell_the_files_truth(pg, tmp_path, monkeypatch):
    """4 workers (per-repository and glob teams) with readers and `maintain` beside them, one
    worker killed with SIGKILL mid-run and rerun, then a re-sync of every shard and `maintain`:
    every metric, `impact`, `compare` and `alert` equal one plain sync into a file."""
    from warehouse import Warehouse
    from warehouse.config import MetricsConfig
    from warehouse.freshness import is_fresh

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        fake = ShardedFake(shards=4, delay=0.005).attach(server)
        lake = "ducklake:postgres:" + pg.create_database("shards")
        monkeypatch.setenv("DORA_IMPACT_LAKE_DATA_PATH", str(tmp_path / "lake-data"))
        config = build_org(tmp_path / "org", fake, REPOS, lake, OWNERSHIP)
        file_db = tmp_path / "one.duckdb"

        # One machine, one process, into a file.
        single = run_cli("--config", str(config), "sync", db=file_db, env={"GITHUB_TOKEN": TOKEN})
        assert single.code == 0, single.stderr
        expected = _metrics(file_db, config)
        assert sum(r["deployments"] for r in expected if r["scope"] == "org") > 30
        teams = {r["key"] for r in expected if r["scope"] == "team"}
        assert teams == {"alpha", "beta", "gamma"}  # globs and per-repository teams both in play

        # A first worker makes the lake (readers need one) and assigns every repository: 12
        # repositories of equal (unknown) weight over 4 shards, 3 each.
        first = start_worker(sys.executable, config, lake, 1, 4)
        assert first.wait()[0] == 0
        with Warehouse(lake, read_only=True) as wh:
            owners = wh.shard_assignment(4)
        assert sorted(owners) == repo_names(REPOS)
        assert sorted(Counter(owners.values()).values()) == [3, 3, 3, 3]

        # Four at once, while the CLI and the dashboard read and `maintain` runs in a loop.
        errors: list[str] = []
        reads = {"metrics": 0, "dashboard": 0, "maintain": 0}
        stop = threading.Event()

        def cli_reader() -> None:
            while not stop.is_set():
                r = run_cli("--config", str(config), "metrics", "--format", "json", "--until", UNTIL,
                            db=lake, process=True)  # beside other threads: a process of its own
                reads["metrics"] += 1
                if r.code != 0:
                    errors.append(r.stderr[-500:])

        def dashboard_reader() -> None:
            from dashboards import data

            while not stop.is_set():
                try:
                    frame, _at, stale = data.metrics(lake, str(config), "team", "week", None, None)
                    reads["dashboard"] += 1
                    assert not stale
                except Exception as exc:  # noqa: BLE001 - every reader error is a failure to report
                    errors.append(f"dashboard: {type(exc).__name__}: {exc}")

        def maintainer() -> None:
            while not stop.is_set():
                r = run_cli("--config", str(config), "maintain", db=lake, process=True)
                reads["maintain"] += 1
                if r.code != 0:
                    errors.append(f"maintain {r.code}: {r.stderr[-500:]}")

        threads = [threading.Thread(target=f) for f in (cli_reader, dashboard_reader, maintainer)]
        for t in threads:
            t.start()
        fake.by_shard.clear()
        try:
            workers = {k: start_worker(sys.executable, config, lake, k, 4) for k in range(1, 5)}
            # kill -9 of shard 2's worker in the middle of its run.
            deadline = time.monotonic() + 120
            victim = workers.pop(2)
            while fake.by_shard[2] < 15 and victim.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            victim.process.send_signal(signal.SIGKILL)
            victim.wait()
            assert victim.process.returncode == -signal.SIGKILL
            outcomes = [w.wait() for w in workers.values()]
            rerun = start_worker(sys.executable, config, lake, 2, 4).wait()
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert [code for code, _ in [*outcomes, rerun]] == [0, 0, 0, 0], [t[-800:] for _, t in [*outcomes, rerun]]
        assert errors == []
        assert min(reads.values()) >= 1, reads
        assert set(fake.by_shard) == {1, 2, 3, 4}  # each shard used its own token

        # A re-sync of every shard (incremental: nothing new), then one `maintain` after them.
        again = [start_worker(sys.executable, config, lake, k, 4) for k in range(1, 5)]
        assert [w.wait()[0] for w in again] == [0, 0, 0, 0]
        done = run_cli("--config", str(config), "maintain", db=lake)
        # Published now, or already by the loop's last run once the workers were done (the
        # re-sync found nothing new): fresh either way.
        assert done.code == 0 and "precomputed tables published: " in done.stdout, done.stdout + done.stderr

        with Warehouse(lake, read_only=True) as wh:
            assert is_fresh(wh, MetricsConfig(production_environment="^production$"))  # readers use them
            for entity in ENTITIES.values():
                key = ", ".join(entity.key)
                doubled = wh.scalar(
                    f"SELECT count(*) FROM (SELECT {key} FROM {entity.name} GROUP BY ALL HAVING count(*) > 1)"
                )
                assert doubled == 0, entity.name
            assert _shard_team_rows(wh) == []  # each repository's team written by one shard only
            assert wh.shards() == ["shard_1_of_4", "shard_2_of_4", "shard_3_of_4", "shard_4_of_4"]
            assert wh.scalar("SELECT count(*) FROM lake.main.deployments") == 0
            assert wh.scalar("SELECT team FROM teams WHERE repo = 'acme/ghost'") == "delta"

        # The same numbers as one machine, from the precomputed tables; and the same answers
        # from the leaders' and the jobs' commands.
        assert _metrics(lake, config) == expected
        for args in (["impact"], ["alert", "--dry-run"]):
            assert _json(lake, config, *args) == _json(file_db, config, *args), args
        # The history is February's only: both refuse a month without deployments alike.
        compared = [run_cli("--config", str(config), "compare", "2026-03", "2026-02", db=where)
                    for where in (lake, file_db)]
        assert [(r.code, r.stderr) for r in compared] == [(2, compared[1].stderr)] * 2
        assert "2026-03: no production deployments in it" in compared[0].stderr
        report = run_cli("--config", str(config), "report", "--quarter", "2026-Q1", "--format", "md",
                         "--out", str(tmp_path / "report.md"), db=lake)
        assert report.code == 0 and "2026-Q1" in (tmp_path / "report.md").read_text()
    finally:
        server.stop()


# -- shard assignment, resharding, conflicts, a bucket -----------------------------------------


def test_new_repositories_go_to_the_lightest_shard_and_old_ones_stay():
    from warehouse.sharding import assign, balance

    weights = {"a": 10.0, "b": 6.0, "c": 3.0, "d": 1.0}
    # Heaviest first, each to the lightest shard: a -> 1 (10), b -> 2 (6), c -> 2 (9), d -> 2 (10).
    assert balance(["d", "c", "b", "a"], 2, weights) == {"a": 1, "b": 2, "c": 2, "d": 2}
    # Two repositories never synced weigh the median of the known (4.5 and 4.5 here):
    # shard 1 holds 10, shard 2 holds 6 + 3 = 9, so x goes to 2 (9 -> 13.5), then y to 1.
    current = {"a": 1, "b": 2, "c": 2}
    assert assign(current, ["y", "x", "a"], 2, weights) == {"x": 2, "y": 1}
    # 24 repositories of unknown weight over 4 shards: 6 each, where the hash gave 9/6/1/8-like lumps.
    names = [f"acme/r{i}" for i in range(24)]
    assert sorted(Counter(balance(names, 4, {}).values()).values()) == [6, 6, 6, 6]


@needs_lake
def test_a_busy_lake_is_retried_then_one_line(lake):
    """A write that keeps losing to another writer's commit on the same table is run again,
    a bounded number of times, then stops with one line (LakeBusy, exit 4)."""
    from warehouse import Warehouse
    from warehouse.lake import LakeBusy, is_conflict, retrying

    with Warehouse(lake) as wh, Warehouse(lake) as other:
        tries = []

        def contested() -> None:
            tries.append(1)
            with wh.transaction():
                wh.con.execute("UPDATE load_version SET version = version + 1")
                other.con.execute("UPDATE load_version SET version = version + 1")  # commits first
        with pytest.raises(LakeBusy) as caught:
            retrying(contested, "a contested update", tries=3)
        assert len(tries) == 3
        message = str(caught.value)
        assert message.startswith("a contested update: still conflicting with other writers after 3 tries")
        assert "\n" not in message and caught.value.exit_code == 4
        # Won once the other writer stops: the retry commits.
        calls = iter([True, False])

        def once_contested() -> None:
            with wh.transaction():
                wh.con.execute("UPDATE load_version SET version = version + 1")
                if next(calls):
                    other.con.execute("UPDATE load_version SET version = version + 1")
        before = wh.scalar("SELECT version FROM load_version")
        retrying(once_contested, "x", tries=3)
        assert wh.scalar("SELECT version FROM load_version") == before + 2
    # PostgreSQL's serialization failure on the catalog, as DuckLake passes it on, is one too.
    import duckdb

    assert is_conflict(duckdb.Error(
        'Failed to update data inlining: ERROR:  could not serialize access due to concurrent update'))
    assert not is_conflict(duckdb.Error("Catalog Error: Table with name nope does not exist!"))


@needs_lake
def test_a_workers_evidence_is_written_again_when_another_writer_wins(lake, monkeypatch):
    """A worker's writes other than loads (here failure evidence) lose a race like loads do
    (another writer replaced the same rows after this transaction's snapshot): run again on
    what is stored then, not failed."""
    from datetime import UTC, datetime

    from warehouse import Warehouse, attribution

    def evidence(deployment_id: str) -> dict:
        return {"deployment_id": deployment_id, "kind": "hotfix_ref", "source": "github", "points_at": None,
                "observed_at": datetime(2026, 1, 5, tzinfo=UTC), "detail": None}

    with Warehouse(lake, shard=(1, 1)) as wh, Warehouse(lake, shard=(1, 1)) as other:
        attribution.save_evidence(wh, ["d0"], ("hotfix_ref",), [evidence("d0")])
        tries = []
        mark_dirty = wh.mark_dirty

        def beaten_once(*args, **kwargs) -> None:
            # Inside the worker's transaction: its snapshot taken, then the other writer
            # replaces d0's evidence and commits first.
            tries.append(1)
            if len(tries) == 1:
                wh.con.execute("SELECT count(*) FROM deployment_evidence").fetchall()
                attribution.save_evidence(other, ["d0"], ("hotfix_ref",), [evidence("d0")])
            mark_dirty(*args, **kwargs)

        monkeypatch.setattr(wh, "mark_dirty", beaten_once)
        attribution.save_evidence(wh, ["d0"], ("hotfix_ref",), [evidence("d0"), evidence("d1")])
        assert len(tries) == 2  # lost once, then committed
        rows = wh.con.execute("SELECT deployment_id FROM deployment_evidence ORDER BY 1").fetchall()
        assert rows == [("d0",), ("d1",)]


@needs_lake
def test_reshard_assigns_anew_and_drops_the_old_homes(lake):
    from warehouse import Warehouse

    names = [f"o/r{i}" for i in range(6)]
    with Warehouse(lake, shard=(1, 2)) as wh:
        assert wh.claim(names, (1, 2)) == ["o/r0", "o/r2", "o/r4"]  # round robin at equal weight
        # o/r0 heavy: 8 deployments (+ nothing else); the others 1 each.
        wh.load({"deployments": _deployments([f"h{i}" for i in range(8)], "o/r0")})
        for name in ("o/r2", "o/r4"):
            wh.load({"deployments": _deployments([f"{name}-1"], name)})
    with Warehouse(lake, shard=(2, 2)) as wh:
        assert wh.claim([*names, "o/new"], (2, 2)) == ["o/r1", "o/r3", "o/r5", "o/new"]  # the lighter
        for name in ("o/r1", "o/r3", "o/r5"):
            wh.load({"deployments": _deployments([f"{name}-1"], name)})
    result = run_cli("maintain", "--reshard", "3", db=lake)
    assert result.code == 0, result.stderr
    assert "shard schemas dropped: shard_1_of_2, shard_2_of_2" in result.stdout
    # o/r0 (8) alone; the six of weight 1 (o/new never synced: the median, 1) over the other two.
    assert "repositories per shard: 1/3: 1, 2/3: 3, 3/3: 3" in result.stdout
    with Warehouse(lake, read_only=True) as wh:
        assert wh.shards() == []
        assert wh.shard_assignment(3)["o/r0"] == 1 and wh.shard_assignment(2) == {}
    bad = run_cli("maintain", "--reshard", "0", db=lake)
    assert bad.code == 2 and "--reshard 0" in bad.stderr


@needs_lake
def test_the_data_path_can_be_a_bucket(lake, tmp_path):
    """Parquet files in an S3 bucket (moto's S3 server on loopback, through DuckDB's httpfs),
    credentials and endpoint from the AWS variables; never shown."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = postgres._free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = {"AWS_ACCESS_KEY_ID": "dora-test-key", "AWS_SECRET_ACCESS_KEY": "s3-SECRET-never-shown",
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
               "DORA_IMPACT_LAKE_DATA_PATH": "s3://dora-lake/warehouse/"}
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        s3.create_bucket(Bucket="dora-lake")
        rows = ["deployment_id,repo,environment,status,finished_at"]
        rows += [f"d{i},o/a,production,success,2026-01-{5 + i:02d}T10:00:00Z" for i in range(20)]
        (tmp_path / "deployments.csv").write_text("\n".join(rows) + "\n")
        outputs = [run_cli("import", str(tmp_path / "deployments.csv"), db=lake, env=env)]
        outputs.append(run_cli("maintain", db=lake, env=env))
        outputs.append(run_cli("metrics", "--since", "2026-01-05", "--until", "2026-01-26",
                               "--period", "month", "--format", "json", db=lake, env=env))
        assert [r.code for r in outputs] == [0, 0, 0], [r.stderr for r in outputs]
        assert sum(r["deployments"] for r in json.loads(outputs[-1].stdout)) == 20
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="dora-lake").get("Contents", [])]
        assert any(k.startswith("warehouse/") and k.endswith(".parquet") for k in keys), keys
        assert not any("s3-SECRET-never-shown" in r.stdout + r.stderr for r in outputs)
        # The files are where the catalog says: nothing was written to a local folder instead.
        assert not (Path.cwd() / "s3:").exists()
    finally:
        server.stop()
