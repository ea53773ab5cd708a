"""A sync killed at any moment (SIGKILL, no cleanup) and run again ends with exactly the rows
of an uninterrupted sync: nothing lost, nothing doubled. Real processes, a real local HTTP
server, real git repositories, real DuckDB files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.github_fake import TOKEN, FakeGitHub, build_scenario
from warehouse import Warehouse

# Each run is killed a moment after the fake has answered one of these (each run resumes the
# previous one): half-way through the deployments' statuses, while the pull requests of the
# first repository are being stored, and in its incidents.
KILL_AFTER = (("/deployments/103/statuses", 0.0), ("POST /graphql", 0.15), ("/issues?labels=incident", 0.08))


def start_sync(config: Path) -> subprocess.Popen:
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "dora_impact", "--config", str(config), "sync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


# Bookkeeping that says when or how often, not what: a resumed sync commits more loads, later.
# The precomputed tables themselves (mart_*) are compared like every other table.
NOT_COMPARED = {
    # The rate-limit rows record the API's quota when the sync ended: a resumed sync spent more.
    "sync_state": "source, scope, resource, CASE WHEN scope = 'rate-limit' THEN NULL ELSE cursor END, etag",
    "source_loads": "source",
    "load_version": "NULL",
    "mart_state": "rules",
}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every table (cursors included, minus their write time), rows sorted."""
    with Warehouse(db, read_only=True) as wh:
        tables = [
            r[0]
            for r in wh.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND table_name <> 'schema_version' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            cols = NOT_COMPARED.get(t, "*")
            out[t] = sorted(wh.con.execute(f"SELECT {cols} FROM {t}").fetchall(), key=repr)
        return out


def variant(sc, name: str) -> Path:
    """The same scenario with its own database and clone cache."""
    text = sc.config_path.read_text().replace(str(sc.db), str(sc.db.with_name(f"{name}.duckdb")))
    text = text.replace(str(sc.config_path.parent / "cache"), str(sc.config_path.parent / f"cache-{name}"))
    path = sc.config_path.with_name(f"{name}.toml")
    path.write_text(text)
    return path


@pytest.mark.slow
def test_killed_sync_resumes_to_the_same_tables(tmp_path, httpserver):
    fake = FakeGitHub(delay=0.03).attach(httpserver)
    sc = build_scenario(tmp_path, fake)
    reference, resumed = variant(sc, "reference"), variant(sc, "resumed")

    done = start_sync(reference)
    out, err = done.communicate(timeout=180)
    assert done.returncode == 0, err.decode()

    kills = 0
    for after, delay in KILL_AFTER:
        seen = len(fake.log)
        proc = start_sync(resumed)
        fake.log.wait_for(re.escape(after), after=seen, stop=lambda p=proc: p.poll() is not None)
        time.sleep(delay)  # where in the work the kill lands, not a wait for anything
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
    assert kills == len(KILL_AFTER)  # each run really died mid-sync

    final = start_sync(resumed)
    out, err = final.communicate(timeout=180)
    assert final.returncode == 0, err.decode()

    want = snapshot(sc.db.with_name("reference.duckdb"))
    got = snapshot(sc.db.with_name("resumed.duckdb"))
    assert want["deployments"] and want["changes"] and want["incidents"] and want["pull_requests"]
    for table in want:
        assert got[table] == want[table], table
