"""Refresh benchmark: what the precomputed tables cost after a load (warehouse/precompute.py).

On bench_scale.py's org (1,000,000 deployments, 5,000,000 changes; its database in
`--folder`, made by `bench/bench_dashboard.py` or `bench/bench_scale.py --format parquet`), on
a copy of the file, each case timed step by step in-process (wall clock and this process's CPU):

- full: a full rebuild (what a new file, or a change of the [metrics] rules, queues);
- unchanged: 10 repositories queued whose rows did not change (no aggregate to redo);
- import: 100 new deployments and 500 changes in 10 repositories, in the last week of the data.

Run: `.venv/bin/python bench/bench_refresh.py [--folder bench/data/parquet] [--skip-full]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import warehouse.precompute as precompute  # noqa: E402
from warehouse import Warehouse  # noqa: E402

STEPS: list[tuple[str, float, float]] = []


def timed(fn, label):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            STEPS.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return wrapper


precompute._batches = timed(precompute._batches, "find linked repositories")
precompute._recompute_rows = timed(precompute._recompute_rows, "row batch")
precompute._aggregate = timed(precompute._aggregate, "aggregate chunk")


def new_rows() -> dict[str, pl.DataFrame]:
    base = datetime(2026, 11, 20, tzinfo=UTC)
    repos = [f"org/repo-{i:04d}" for i in range(0, 2000, 200)]
    deployments = pl.DataFrame({
        "deployment_id": [f"n{i}" for i in range(100)], "repo": [repos[i % 10] for i in range(100)],
        "environment": ["production"] * 100, "status": ["success"] * 100,
        "finished_at": [base + timedelta(hours=i) for i in range(100)],
        "sha": [f"{i:040x}"[::-1] for i in range(100)]})
    changes = pl.DataFrame({
        "repo": [repos[(i // 5) % 10] for i in range(500)], "sha": [f"n{i:039x}" for i in range(500)],
        "committed_at": [base + timedelta(hours=i // 5 - 7) for i in range(500)],
        "deployment_id": [f"n{i // 5}" for i in range(500)]})
    return {"deployments": deployments, "changes": changes}


def case(source: Path, name: str, prepare) -> None:
    with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
        db = Path(tmp) / "copy.duckdb"
        shutil.copy(source, db)
        with Warehouse(db) as wh:
            prepare(wh)
            STEPS.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            precompute.refresh(wh)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU (load average {os.getloadavg()[0]:.1f})")
        steps = defaultdict(list)
        for label, w, c in STEPS:
            steps[label].append((w, c))
        for label, values in steps.items():
            print(f"  {label}: {len(values)} x, {sum(w for w, _ in values):.1f} s wall in all, longest "
                  f"{max(w for w, _ in values):.2f} s, {sum(c for _, c in values):.1f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default="bench/data/parquet")
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()
    source = Path(args.folder) / "bench.duckdb"
    with Warehouse(source) as wh:
        precompute.refresh(wh)  # start from fresh tables
    if not args.skip_full:
        case(source, "full rebuild", lambda wh: wh.con.execute("INSERT INTO mart_dirty_repos VALUES ('*')"))
    case(source, "10 repositories queued, unchanged", lambda wh: wh.con.execute(
        "INSERT INTO mart_dirty_repos SELECT DISTINCT repo FROM deployments ORDER BY repo LIMIT 10"))
    case(source, "import of 100 deployments and 500 changes", lambda wh: wh.load(new_rows(), source="import"))
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
