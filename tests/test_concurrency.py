"""Readers and writers of one database file never break each other (warehouse/locking.py,
docs/concurrency.md): each waits out the other's short hold; a second writer waits for the
first and, past the wait, says which command holds the file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import contention
from tests.browser import CHROMIUM
from tests.conftest import run_cli, write
from warehouse import Warehouse

DEPLOYMENTS = """
deployment_id,repo,environment,status,finished_at
d1,acme/shop,production,success,2026-01-05T10:00:00Z
d2,acme/shop,production,success,2026-01-06T10:00:00Z
"""


def hold(db: Path, read_only: bool, command: str = "dora-impact sync") -> subprocess.Popen:
    """Another process that opens the file and keeps it (as a long dashboard query or a sync's
    batch would) until its stdin is closed; returns once it holds it."""
    script = textwrap.dedent(f"""
        import sys
        from warehouse import Warehouse
        wh = Warehouse({str(db)!r}, read_only={read_only}, command={command!r})
        wh.con.execute("SELECT 1").fetchall()
        print("holding", flush=True)
        sys.stdin.read()
        wh.close()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout.readline().strip() == "holding"
    return process


def command_until_it_waits(*args: str, db: Path) -> subprocess.Popen:
    """`dora-impact` in a new process, returned once it says it is waiting for the file."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dora_impact", "--db", str(db), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DORA_IMPACT_LOCK_WAIT": "120"},
    )
    line = process.stderr.readline()
    assert line.startswith("dora-impact: waiting for "), line
    return process


@pytest.fixture
def built(db, tmp_path) -> Path:
    files = write(tmp_path / "deployments.csv", DEPLOYMENTS)
    assert run_cli("import", str(files), db=db).code == 0
    return db


def test_a_writer_waits_for_an_open_reader_instead_of_failing(built, tmp_path):
    more = write(tmp_path / "more" / "deployments.csv", DEPLOYMENTS.replace("d2,", "d3,"))
    reader = hold(built, read_only=True)
    writer = command_until_it_waits("import", str(more), db=built)
    reader.communicate(timeout=30)  # the reader is done: the waiting writer goes in
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    with Warehouse(built, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM deployments") == 3


def test_a_reader_waits_for_a_writer_instead_of_failing(built):
    writer = hold(built, read_only=False)
    reader = command_until_it_waits("metrics", "--format", "json", db=built)
    writer.communicate(timeout=30)
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert '"deployments": 2' in out


def test_a_second_writer_waits_then_names_the_command_holding_the_database(built, tmp_path):
    writer = hold(built, read_only=False, command="dora-impact sync --full")
    try:
        result = run_cli(
            "import", str(tmp_path / "deployments.csv"), db=built, env={"DORA_IMPACT_LOCK_WAIT": "2"}
        )
        assert result.code == 4
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"dora-impact: {built}: in use by `dora-impact sync --full` (PID {writer.pid}, since ")
        assert last.endswith("still held after 2 s of waiting (DORA_IMPACT_LOCK_WAIT)")
        assert "Could not set lock" not in result.stderr
    finally:
        writer.kill()
        writer.wait()
    # A writer killed with SIGKILL holds nothing: the next one goes straight in.
    assert run_cli("import", str(tmp_path / "deployments.csv"), db=built).code == 0


def test_a_long_writer_lets_readers_in_between_its_batches(built, tmp_path):
    """A writer committing batch after batch until it is told to stop: readers are served
    meanwhile and see its batches arrive one by one. A reader made to wait for the end would
    wait for ever (the writer stops only when the readers are done), and fail on its 30 s
    limit instead."""
    stop = tmp_path / "stop"
    script = textwrap.dedent(f"""
        import pathlib, time, polars as pl
        from datetime import UTC, datetime
        from warehouse import Warehouse
        stop, i = pathlib.Path({str(stop)!r}), 0
        with Warehouse({str(built)!r}) as wh:
            while not stop.exists() and i < 5000:
                wh.load({{"deployments": pl.DataFrame({{
                    "deployment_id": [f"w{{i}}"], "repo": ["acme/w"], "environment": ["production"],
                    "status": ["success"], "finished_at": [datetime(2026, 1, 7, tzinfo=UTC)],
                }})}})
                i += 1
                time.sleep(0.05)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    seen: list[int] = []
    try:
        for _ in range(5000):
            if len(set(seen)) >= 4 or writer.poll() is not None:
                break
            with Warehouse(built, read_only=True, wait=30) as wh:
                seen.append(wh.scalar("SELECT count(*) FROM deployments WHERE repo = 'acme/w'"))
        alive = writer.poll() is None
        stop.touch()
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
    assert alive, "the writer ended before the readers saw its batches"
    assert len(set(seen)) >= 4 and seen == sorted(seen), seen


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_syncs_imports_metrics_and_the_dashboard_at_once_make_no_errors(tmp_path):
    """The full picture for about a minute (bench/bench_contention.py runs it for longer and
    records the figures in docs/performance.md)."""
    out = contention.run(tmp_path, seconds=float(os.environ.get("DORA_CONTENTION_SECONDS", 45)))
    assert out.errors() == []
    assert out.syncs.runs >= 1 and out.imports.runs >= 1
    assert out.metrics.runs >= 2 and out.pages.runs >= len(contention.PAGES)
