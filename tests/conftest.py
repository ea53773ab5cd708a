"""Shared fixtures: real DuckDB files in a temp dir and the real CLI, in this process or in a
new one."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from warehouse import Warehouse


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    db: Path | None = None,
    cwd: Path | None = None,
    env: dict | None = None,
    process: bool = False,
) -> Result:
    """Run `dora-impact` with its real argument parsing, error mapping and exit code.

    In this process by default (an interpreter start costs seconds; the suite runs hundreds of
    commands). `process=True` starts the console entry point in a new process, for tests where
    the process is the point: signals, kills, start-up, file permissions, stdin.
    """
    command = ["--db", str(db)] if db is not None else []
    command += list(args)
    if process:
        full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "dora_impact", *command],
            capture_output=True, text=True, cwd=cwd, env=full_env, timeout=300,
        )
        return Result(done.returncode, done.stdout, done.stderr)
    return run_in_process(command, cwd=cwd, env=env)


def run_in_process(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Result:
    """`dora_impact.cli.run` in this process, with the environment, working directory, root
    logging handlers and streams of a fresh process and everything put back afterwards."""
    from dora_impact.cli import run

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd, saved_environ = sys.argv, os.getcwd(), dict(os.environ)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    # pytest's own capture handlers would swallow what the command logs to stderr.
    root.handlers = []
    os.environ.update({"COLUMNS": "200", **(env or {})})
    sys.argv = ["dora-impact", *argv]
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                run()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        root.handlers, root.level = saved_handlers, saved_level
    return Result(code, out.getvalue(), err.getvalue())


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


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory) -> Callable[..., Path]:
    """A fresh copy of the demo org's database for (seed, end, weeks), each built once per
    session: the two-year org takes half a minute, a copy a moment, and every test gets a
    file of its own to write to."""
    from collectors.synthetic import DEFAULT_SEED, load_demo

    built: dict[tuple, Path] = {}

    def copy(seed: int = DEFAULT_SEED, end: date = date(2026, 3, 2), weeks: int | None = None) -> Path:
        key = (seed, end, weeks)
        if key not in built:
            template = tmp_path_factory.mktemp("demo-template") / "dora.duckdb"
            with Warehouse(template) as wh:
                load_demo(wh, seed=seed, end=end, **({} if weeks is None else {"weeks": weeks}))
                wh.con.execute("CHECKPOINT")
            built[key] = template
        target = tmp_path_factory.mktemp("demo") / "dora.duckdb"
        shutil.copyfile(built[key], target)
        return target

    return copy
