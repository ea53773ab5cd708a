"""The warehouse in a DuckLake with a PostgreSQL catalog, and sharded sync workers into it.

Runs in the lake environment (`make test-lake`: DuckDB 1.5.5 with the DuckLake and postgres
extensions) against a throwaway PostgreSQL (tests/postgres.py). In the main environment
(DuckDB 2.0, no DuckLake extension) the lake tests are skipped; the pure parts (shards,
constraint stripping, redaction) run everywhere.
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
from pathlib import Path

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

from collectors.shards import Shard, shard_of
from tests import postgres
from tests.conftest import run_cli
from tests.github_fake import TOKEN
from tests.lake_org import ShardedFake, build_org, repo_names, start_worker
from warehouse.errors import UserError
from warehouse.lake import adapt, redact
from warehouse.schema import ENTITIES

pytestmark = pytest.mark.lake

UNTIL = "2026-03-31"  # metrics end here, before any sync ran: results do not depend on the day


def lake_missing() -> str | None:
    """Why the lake tests cannot run here. In the main environment the extensions are missing
    (`make test-lake` runs these tests in theirs); a missing PostgreSQL skips them, except
    where DORA_REQUIRE_POSTGRES is set (CI, .ci/run): there it is a failure."""
    try:
        import duckdb_extension_ducklake  # noqa: F401
        import duckdb_extension_postgres  # noqa: F401
    except ImportError:
        return "needs the lake environment (`make test-lake`: DuckDB 1.5.5 with DuckLake)"
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
def lake(pg, tmp_path, request) -> str:
    """A new, empty lake: its own catalog database, Parquet files under tmp_path."""
    name = "lake_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    os.environ["DORA_IMPACT_LAKE_DATA_PATH"] = str(tmp_path / "lake-data")
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


# -- four shard workers against the fake GitHub, with readers --------------------------------


REPOS = 12


def _metrics(db: str | Path, config: Path) -> list[dict]:
    out = []
    for by in ("org", "repo"):
        result = run_cli("--config", str(config), "metrics", "--by", by, "--period", "week",
                         "--until", UNTIL, "--format", "json", db=db)
        assert result.code == 0, result.stderr
        out += json.loads(result.stdout)
    return out


def _shard_rows(db: str, schema: str) -> dict[str, list]:
    from warehouse import Warehouse

    with Warehouse(db, read_only=True) as wh:
        return {
            name: sorted(wh.con.execute(f"SELECT * EXCLUDE (source) FROM lake.{schema}.{name}").fetchall(), key=repr)
            for name in ENTITIES
        }


@needs_lake
def test_four_shard_workers_equal_one_machine_and_survive_kill_9(pg, tmp_path):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        fake = ShardedFake(shards=4, delay=0.005).attach(server)
        lake = "ducklake:postgres:" + pg.create_database("shards")
        os.environ["DORA_IMPACT_LAKE_DATA_PATH"] = str(tmp_path / "lake-data")
        config = build_org(tmp_path / "org", fake, REPOS, lake)
        file_db = tmp_path / "one.duckdb"

        # One machine, one process, into a file.
        single = run_cli("--config", str(config), "sync", db=file_db, env={"GITHUB_TOKEN": TOKEN})
        assert single.code == 0, single.stderr
        expected = _metrics(file_db, config)
        assert sum(r["deployments"] for r in expected if r["scope"] == "org") > 30

        # A first worker makes the lake (readers need one), then four at once while readers read.
        first = start_worker(sys.executable, config, lake, 1, 4)
        assert first.wait()[0] == 0
        errors: list[str] = []
        reads = {"metrics": 0, "dashboard": 0}
        stop = threading.Event()

        def cli_reader() -> None:
            while not stop.is_set():
                r = run_cli("--config", str(config), "metrics", "--format", "json", "--until", UNTIL, db=lake)
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

        readers = [threading.Thread(target=cli_reader), threading.Thread(target=dashboard_reader)]
        for t in readers:
            t.start()
        try:
            workers = [start_worker(sys.executable, config, lake, k, 4) for k in range(1, 5)]
            outcomes = [w.wait() for w in workers]
        finally:
            stop.set()
            for t in readers:
                t.join()
        assert [code for code, _ in outcomes] == [0, 0, 0, 0], [text[-800:] for _, text in outcomes]
        assert errors == []
        assert reads["metrics"] >= 1 and reads["dashboard"] >= 1
        assert set(fake.by_shard) == {1, 2, 3, 4}  # each shard used its own token

        # The same numbers as one machine, and no key twice across the shards.
        assert _metrics(lake, config) == expected
        from warehouse import Warehouse

        with Warehouse(lake, read_only=True) as wh:
            for entity in ENTITIES.values():
                key = ", ".join(entity.key)
                doubled = wh.scalar(
                    f"SELECT count(*) FROM (SELECT {key} FROM {entity.name} GROUP BY ALL HAVING count(*) > 1)"
                )
                assert doubled == 0, entity.name
            assert wh.shards() == ["shard_1_of_4", "shard_2_of_4", "shard_3_of_4", "shard_4_of_4"]
            assert wh.scalar("SELECT count(*) FROM lake.main.deployments") == 0

        # The leaders' and the jobs' commands give the same answers on either storage.
        for args in (["compare", "2026-02", "2026-03", "--format", "json"], ["alert", "--dry-run", "--format", "json"]):
            on_file = run_cli("--config", str(config), *args, db=file_db)
            on_lake = run_cli("--config", str(config), *args, db=lake)
            assert (on_lake.code, json.loads(on_lake.stdout)) == (on_file.code, json.loads(on_file.stdout)), args
        report = run_cli("--config", str(config), "report", "--quarter", "2026-Q1", "--format", "md",
                         "--out", str(tmp_path / "report.md"), db=lake)
        assert report.code == 0 and "2026-Q1" in (tmp_path / "report.md").read_text()

        # kill -9 of a worker in the middle of its first run, then its rerun: nothing lost or doubled.
        second = "ducklake:postgres:" + pg.create_database("killed")
        os.environ["DORA_IMPACT_LAKE_DATA_PATH"] = str(tmp_path / "killed-data")
        k = max(range(1, 5), key=lambda s: sum(Shard(s, 4).owns(n) for n in repo_names(REPOS)))
        fake.by_shard.clear()
        victim = start_worker(sys.executable, config, second, k, 4)
        deadline = time.monotonic() + 120
        while fake.by_shard[k] < 20 and victim.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        victim.process.send_signal(signal.SIGKILL)
        victim.wait()
        assert victim.process.returncode == -signal.SIGKILL
        rerun = start_worker(sys.executable, config, second, k, 4)
        code, text = rerun.wait()
        assert code == 0, text[-800:]
        assert _shard_rows(second, f"shard_{k}_of_4") == _shard_rows(lake, f"shard_{k}_of_4")
    finally:
        server.stop()

