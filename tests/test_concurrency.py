"""Readers and writers of one database file never break each other (warehouse/locking.py,
docs/concurrency.md): each waits out the other's short hold; a second writer waits for the
first and, past the wait, says which command holds the file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
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


def hold(db: Path, read_only: bool, seconds: float, command: str = "dora-impact sync") -> subprocess.Popen:
    """Another process that opens the file and keeps it for `seconds` (as a long dashboard
    query or a sync's batch would); returns once it holds it."""
    script = textwrap.dedent(f"""
        import sys, time
        from warehouse import Warehouse
        wh = Warehouse({str(db)!r}, read_only={read_only}, command={command!r})
        wh.con.execute("SELECT 1").fetchall()
        print("holding", flush=True)
        time.sleep({seconds})
        wh.close()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout.readline().strip() == "holding"
    return process


@pytest.fixture
def built(db, tmp_path) -> Path:
    files = write(tmp_path / "deployments.csv", DEPLOYMENTS)
    assert run_cli("import", str(files), db=db).code == 0
    return db


def test_a_writer_waits_for_an_open_reader_instead_of_failing(built, tmp_path):
    more = write(tmp_path / "more" / "deployments.csv", DEPLOYMENTS.replace("d2,", "d3,"))
    reader = hold(built, read_only=True, seconds=3)
    started = time.monotonic()
    result = run_cli("import", str(more), db=built)
    assert result.code == 0, result.stderr
    assert time.monotonic() - started >= 1  # it did wait for the reader
    reader.wait(timeout=30)
    with Warehouse(built, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM deployments") == 3


def test_a_reader_waits_for_a_writer_instead_of_failing(built):
    writer = hold(built, read_only=False, seconds=3)
    result = run_cli("metrics", "--format", "json", db=built)
    assert result.code == 0, result.stderr
    assert '"deployments": 2' in result.stdout
    writer.wait(timeout=30)


def test_a_second_writer_waits_then_names_the_command_holding_the_database(built, tmp_path):
    writer = hold(built, read_only=False, seconds=60, command="dora-impact sync --full")
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


def test_a_long_writer_lets_readers_in_between_its_batches(built):
    """A writer committing batch after batch for 8 s: readers are served meanwhile, each
    within a moment, not after the writer is done."""
    script = textwrap.dedent(f"""
        import time, polars as pl
        from datetime import UTC, datetime
        from warehouse import Warehouse
        with Warehouse({str(built)!r}) as wh:
            end, i = time.monotonic() + 8, 0
            while time.monotonic() < end:
                wh.load({{"deployments": pl.DataFrame({{
                    "deployment_id": [f"w{{i}}"], "repo": ["acme/w"], "environment": ["production"],
                    "status": ["success"], "finished_at": [datetime(2026, 1, 7, tzinfo=UTC)],
                }})}})
                i += 1
                time.sleep(0.05)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1])
    try:
        time.sleep(1.5)
        waits = []
        while writer.poll() is None and len(waits) < 20:
            t0 = time.monotonic()
            with Warehouse(built, read_only=True, wait=30) as wh:
                wh.scalar("SELECT count(*) FROM deployments")
            waits.append(time.monotonic() - t0)
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
    assert len(waits) >= 3 and max(waits) < 4, waits


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_syncs_imports_metrics_and_the_dashboard_at_once_make_no_errors(tmp_path):
    """The full picture for about a minute (bench/bench_contention.py runs it for longer and
    records the figures in docs/performance.md)."""
    out = contention.run(tmp_path, seconds=float(os.environ.get("DORA_CONTENTION_SECONDS", 45)))
    assert out.errors() == []
    assert out.syncs.runs >= 1 and out.imports.runs >= 1
    assert out.metrics.runs >= 2 and out.pages.runs >= len(contention.PAGES)
