"""The `demo` command: build the synthetic demo org, then serve the dashboard."""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dora_impact.context import AppContext
from dora_impact.errors import UserError
from dora_impact.metrics_command import print_metrics
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.locking import WriterLock, check_path, pid_alive, sidecar, wait_seconds
from warehouse.precompute import refresh

# collectors.synthetic.DEFAULT_SEED, repeated so that start-up does not import numpy and scipy
# (tests/test_impact_cli.py checks that they agree).
DEMO_SEED = 4


def holds_only_demo_data(path: Path) -> bool:
    """True when the file is absent or every row in it came from the demo generator."""
    if not path.exists():
        return True
    with Warehouse(path, read_only=True) as wh:  # waits while a command holds the file
        tables = [r[0] for r in wh.con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'source'"
        ).fetchall()]
        return all(
            wh.scalar(f"SELECT count(*) FROM {t} WHERE source IS DISTINCT FROM 'demo'") == 0
            for t in tables
        )


BUILD_NAME = re.compile(r"^\.demo-(\d+)-[^.]+\.duckdb(\.wal|\.lock|\.gate)?$")
# Builds of versions that did not put the PID in the name: removed once surely abandoned.
UNNAMED_BUILD = re.compile(r"^\.demo-[^-.]+\.duckdb(\.wal|\.lock|\.gate)?$")
ABANDONED_SECONDS = 24 * 3600


def clean_leftovers(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the build files (`.demo-PID-XXXX.duckdb` and its WAL and locks) of demo runs
    that were killed: only those whose PID no longer runs, so a concurrent build is kept.
    Files without a PID are removed when untouched for a day (no build takes that long)."""
    now = time.time() if now is None else now
    removed = []
    for entry in folder.glob(".demo-*.duckdb*"):
        m = BUILD_NAME.match(entry.name)
        unnamed = UNNAMED_BUILD.match(entry.name)
        if (m and not pid_alive(int(m.group(1)))) or (
            unnamed and now - entry.stat().st_mtime > ABANDONED_SECONDS
        ):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


ALERT_TABLES = ("alert_state", "alert_outbox")


def carry_alert_state(wh: Warehouse, old: Path) -> None:
    """Rebuilding the demo keeps what `alert` recorded, so that a scheduled alert sees an
    injected regression come and go across rebuilds (nothing else is carried over)."""
    if not old.exists():
        return
    wh.con.execute(f"ATTACH '{old}' AS previous (READ_ONLY)")
    try:
        for table in ALERT_TABLES:
            found = wh.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'previous' "
                "AND table_name = ?", [table])
            if found:
                wh.con.execute(f"INSERT INTO {table} SELECT * FROM previous.{table}")
    finally:
        wh.con.execute("DETACH previous")


def build_demo(
    path: Path, seed: int | None = None, regression: str | None = None,
    metrics_cfg: MetricsConfig | None = None,
) -> dict:
    """Generate the demo org into a new file and move it over `path` in one step.

    Building beside the target and renaming means a killed build leaves the old file intact,
    and a rebuild never mixes two generations of the demo. The old file's WAL is removed
    before the rename: DuckDB would otherwise replay it into the new file and refuse to open
    it ("WAL does not match database file"). The build is finished and checkpointed first, so
    the new file needs no WAL, and the writer lock of `path` is held across the swap, so no
    writer is working on the old file meanwhile.
    `regression`: a team whose deployments halve in the last 4 weeks
    (collectors/demo_regression.py).
    """
    from collectors.demo_regression import inject_regression
    from collectors.synthetic import DEFAULT_SEED, load_demo

    seed = DEFAULT_SEED if seed is None else seed
    transform = None
    if regression:
        def transform(frames: dict) -> dict:
            try:
                return inject_regression(frames, regression)
            except ValueError as exc:
                raise UserError(f"--regression: {exc}") from None

    path = path.resolve()
    clean_leftovers(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".demo-{os.getpid()}-", suffix=".duckdb", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        with Warehouse(tmp) as wh:
            counts = load_demo(wh, seed=seed, transform=transform)
            carry_alert_state(wh, path)
            refresh(wh, metrics_cfg)
            from warehouse.impact.plans import record_current

            record_current(wh)  # the demo initiatives' analysis plans
            wh.con.execute("CHECKPOINT")
        swap_lock = WriterLock(path, "dora-impact demo", wait_seconds(), None)
        try:
            sidecar(path, "wal").unlink(missing_ok=True)
            os.replace(tmp, path)
        finally:
            swap_lock.release()
    finally:
        for kind in ("wal", "lock", "gate"):
            sidecar(tmp, kind).unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return counts


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard after.")] = True,
        seed: Annotated[int, typer.Option(help="Random seed of the generated org.")] = DEMO_SEED,
        port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8501,
        regression: Annotated[
            str | None,
            typer.Option(help="Inject a regression: this team deploys half as often in the last 4 weeks."),
        ] = None,
    ) -> None:
        """Build the synthetic demo org into the database, then serve the dashboard."""
        context: AppContext = ctx.obj
        console = Console(stderr=True)
        if not isinstance(context.db_path, Path):
            raise UserError("demo builds a DuckDB file: pass --db with a file path, not a DuckLake")
        check_path(context.db_path, read_only=False)
        if not holds_only_demo_data(context.db_path):
            raise UserError(
                f"{context.db_path}: holds data that is not the demo's; pass --db with another path"
            )
        with console.status("Generating the demo org…"):
            counts = build_demo(context.db_path, seed, regression, context.config.metrics)
        # The teams table has one row per repository (its owner).
        label = {"teams": "repositories with an owning team"}
        summary = ", ".join(
            f"{c.new:,} {label.get(name, name.replace('_', ' '))}" for name, c in counts.items()
        )
        console.print(f"Demo org built in {context.db_path}: {summary}")
        print_metrics(context, by="org", period="quarter")
        if serve:
            from dora_impact.dashboard_command import serve_dashboard

            serve_dashboard(context, port=port)
