"""Shared fixtures: real DuckDB files in a temp dir and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from warehouse import Warehouse


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, db: Path | None = None, cwd: Path | None = None, env: dict | None = None) -> Result:
    """Run `dora-impact` exactly as a user would (new process, real exit code)."""
    command = [sys.executable, "-m", "dora_impact"]
    if db is not None:
        command += ["--db", str(db)]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        command + list(args), capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300
    )
    return Result(done.returncode, done.stdout, done.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"))
    return path


def dump_tables(db: Path) -> dict[str, list[tuple]]:
    """Every canonical table's rows, sorted: for comparing databases."""
    with Warehouse(db, read_only=True) as wh:
        tables = [r[0] for r in wh.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name <> 'schema_version' ORDER BY 1"
        ).fetchall()]
        return {
            t: sorted(wh.con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables
        }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "dora.duckdb"
