"""What commands killed with SIGKILL leave behind: never an unopenable database, and later
runs clean up the build files and half-made clones of killed runs (only of dead PIDs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from collectors.git import clone_or_fetch
from tests.conftest import run_cli
from tests.github_fake import GitRepo
from warehouse import Warehouse

# Runs killed with a signal and run again: processes, seconds each.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def killed_writer_leaves_a_wal(db: Path) -> None:
    """A writer that has written (its WAL not yet checkpointed) and is then killed -9, as a
    `sync --git` killed on the demo database was."""
    script = textwrap.dedent(f"""
        import os, signal
        from warehouse import Warehouse
        wh = Warehouse({str(db)!r})
        wh.con.execute("CREATE TABLE scratch (x INTEGER)")
        wh.con.execute("INSERT INTO scratch VALUES (1)")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT)
    assert done.returncode == -signal.SIGKILL
    assert db.with_name(db.name + ".wal").exists()


def test_demo_over_a_database_with_a_killed_writers_wal_stays_openable(db):
    with Warehouse(db):
        pass
    killed_writer_leaves_a_wal(db)
    first = run_cli("demo", "--no-serve", db=db)
    assert first.code == 0, first.stderr
    assert not db.with_name(db.name + ".wal").exists()
    metrics = run_cli("metrics", "--format", "json", db=db)
    assert metrics.code == 0, metrics.stderr
    again = run_cli("demo", "--no-serve", db=db)  # still the demo's, still openable
    assert again.code == 0, again.stderr


def test_a_killed_demo_build_is_cleaned_up_by_the_next_run(db):
    folder = db.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "dora_impact", "--db", str(db), "demo", "--no-serve"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while not list(folder.glob(f".demo-{process.pid}-*.duckdb")):
        assert process.poll() is None and time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    time.sleep(1.0)  # well into the build: the file and its WAL are being written
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = sorted(p.name for p in folder.glob(".demo-*"))
    assert left and all(name.startswith(f".demo-{process.pid}-") for name in left)
    # A build of a process that still runs (this one) is not touched.
    alive = folder / f".demo-{os.getpid()}-keep.duckdb"
    alive.write_bytes(b"")
    result = run_cli("demo", "--no-serve", db=db)
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in folder.glob(".demo-*")) == [alive.name]
    assert not db.exists() or run_cli("metrics", db=db).code == 0


def test_half_made_clones_of_dead_syncs_are_removed(tmp_path):
    source = GitRepo(tmp_path / "src")
    source.commit("Initial", "2026-01-01T08:00:00")
    cache = tmp_path / "cache" / "acme"
    dead = cache / f"api.git.partial-{dead_pid()}"
    running = cache / f"web.git.partial-{os.getpid()}"
    for folder in (dead, running):
        (folder / "objects").mkdir(parents=True)
    clone_or_fetch(str(source.path), cache / "shop.git")
    assert (cache / "shop.git" / "HEAD").exists()
    assert not dead.exists()
    assert running.exists()


def test_builds_without_a_pid_in_the_name_are_removed_once_a_day_old(tmp_path):
    from dora_impact.demo_command import clean_leftovers

    now = 1_790_000_000.0
    old, old_wal, fresh = (tmp_path / n for n in (".demo-k2j9x.duckdb", ".demo-k2j9x.duckdb.wal",
                                                   ".demo-p0q1r.duckdb"))
    other = tmp_path / ".demo-notes.txt"  # not a build file: never touched
    for path, age in ((old, 25 * 3600), (old_wal, 25 * 3600), (fresh, 23 * 3600), (other, 90 * 86400)):
        path.write_bytes(b"")
        os.utime(path, (now - age, now - age))
    removed = clean_leftovers(tmp_path, now=now)
    assert sorted(p.name for p in removed) == [old.name, old_wal.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name])
