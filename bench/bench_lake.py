"""Sharded sync workers into a DuckLake, against the fake GitHub with latency.

1. Throughput: an org of `--repos` small repositories (tests/lake_org.py) on the fake GitHub,
   every request delayed by `--delay` seconds (a stand-in for GitHub's round trip), synced by
   1, 4 and 8 shard workers at once (`sync --shard K/N`, each with its own token) into a new
   DuckLake each time, and by one plain `sync` into a DuckDB file: repositories per minute.
2. Publishing: `maintain` on the lake of the most workers, after them (it builds the
   precomputed tables over every shard: what readers then use).
3. Reading: `metrics --by team --period week --format json` (the CLI, a new process each,
   median of `--reads`) and the dashboard's data layer (dashboards.data.metrics, refreshes in
   this process: the first, the second, the median of `--reads` after them) on that lake
   against the file, and the lake's time as a multiple of the file's (the target: 1.5x at
   most).

Needs the lake environment and PostgreSQL's server binaries (docs/scaling.md):

    .venv/bin/python bench/bench_lake.py [--repos 48] [--delay 0.05] [--reads 3] [--workers 1,4,8]
        [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402

from bench.docsection import write_section  # noqa: E402
from tests import postgres  # noqa: E402
from tests.github_fake import TOKEN  # noqa: E402
from tests.lake_org import ShardedFake, build_org, start_worker  # noqa: E402

HEADING = "## Sharded sync into a DuckLake"
WORKERS = (1, 4, 8)


def sync_workers(config: Path, lake: str, n: int) -> float:
    t0 = time.perf_counter()
    workers = [start_worker(sys.executable, config, lake, k, n) for k in range(1, n + 1)]
    for w in workers:
        code, text = w.wait(timeout=3600)
        if code != 0:
            raise SystemExit(f"shard {w.shard}/{n} failed ({code}): {text[-800:]}")
    return time.perf_counter() - t0


def sync_file(config: Path, db: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dora_impact", "--db", str(db), "--config", str(config), "sync"],
        capture_output=True, text=True, env={**os.environ, "GITHUB_TOKEN": TOKEN},
    )
    if done.returncode != 0:
        raise SystemExit(f"file sync failed: {done.stderr[-800:]}")
    return time.perf_counter() - t0


def maintain(config: Path, lake: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dora_impact", "--db", lake, "--config", str(config), "maintain"],
        capture_output=True, text=True,
    )
    if done.returncode != 0 or "precomputed tables published: 1" not in done.stdout:
        raise SystemExit(f"maintain failed: {done.stdout[-300:]} {done.stderr[-500:]}")
    return time.perf_counter() - t0


def time_metrics_cli(db: str, config: Path, reads: int) -> float:
    took = []
    for _ in range(reads):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "dora_impact", "--db", db, "--config", str(config),
             "metrics", "--by", "team", "--period", "week", "--format", "json"],
            capture_output=True, text=True,
        )
        took.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"metrics failed: {done.stderr[-500:]}")
    return statistics.median(took)


def time_dashboard(db: str, config: Path, reads: int, served: bool = False) -> tuple[float, float, float]:
    """The dashboard's refreshes in a new process: (the first read, the second, the median of
    `reads` after them). On a lake the first read connects (extensions, attach); the second
    takes its connection and copies publish's tables to memory; the later ones read memory.
    `served`: as the dashboard's server runs, a lake's reader opened before it listens
    (warehouse/lake.py `warm`; a file has nothing to open ahead): (that start-up, the first
    read after it, the median of `reads` after that)."""
    from dashboards import data
    from warehouse import lake

    lake.forget_readers()
    took = []
    if served:
        t0 = time.perf_counter()
        if db.startswith(lake.PREFIX):
            lake.warm(db)
        took.append(time.perf_counter() - t0)
    for _ in range(reads + 2 - len(took)):
        t0 = time.perf_counter()
        data.metrics(db, str(config), "team", "week", None, None)
        took.append(time.perf_counter() - t0)
    return took[0], took[1], statistics.median(took[2:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=48)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the fake waits per request")
    parser.add_argument("--reads", type=int, default=3)
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)), help="worker counts, e.g. 1,4,8")
    parser.add_argument("--write", type=Path, help="replace this script's section in that Markdown file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    load_before = os.getloadavg()[0]
    pg = postgres.start()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            workers = [int(w) for w in args.workers.split(",")]
            fake = ShardedFake(shards=max(workers), delay=args.delay).attach(server)
            config = build_org(tmp / "org", fake, args.repos, "unused.duckdb")
            seconds: dict[str, float] = {}
            lakes: dict[int, str] = {}
            for n in workers:
                lakes[n] = "ducklake:postgres:" + pg.create_database(f"bench_{n}")
                os.environ["DORA_IMPACT_LAKE_DATA_PATH"] = str(tmp / f"lake-{n}")
                label = f"{n} worker{'s' if n > 1 else ''} into a DuckLake"
                seconds[label] = sync_workers(config, lakes[n], n)
                print(f"{label}: {seconds[label]:.1f} s", flush=True)
            file_db = tmp / "one.duckdb"
            seconds["1 process into a DuckDB file"] = sync_file(config, file_db)
            lake = lakes[max(workers)]
            seconds[f"`maintain` after the {max(workers)} workers (publish, upkeep)"] = maintain(config, lake)
            reading = {
                "metrics CLI (by team, weekly), a new process each": (
                    time_metrics_cli(str(file_db), config, args.reads),
                    time_metrics_cli(lake, config, args.reads),
                ),
            }
            board = zip(time_dashboard(str(file_db), config, args.reads),
                        time_dashboard(lake, config, args.reads), strict=True)
            for what, pair in zip(("first read in the process", "second read",
                                   f"later refreshes (median of {args.reads})"), board, strict=True):
                reading[f"dashboard data layer (by team, weekly), {what}"] = pair
            served = zip(time_dashboard(str(file_db), config, args.reads, served=True),
                         time_dashboard(lake, config, args.reads, served=True), strict=True)
            for what, pair in zip(("the server's start-up: a lake's reader opened ahead",
                                   "first read after that start-up",
                                   f"later refreshes (median of {args.reads})"), served, strict=True):
                reading[f"dashboard server (by team, weekly), {what}"] = pair
    finally:
        server.stop()
        pg.stop()
    text = report(args, seconds, reading, load_before)
    print(text)
    if args.write:
        write_section(args.write, HEADING, text)


def report(
    args, seconds: dict[str, float], reading: dict[str, tuple[float, float]], load_before: float
) -> str:
    one = seconds.get("1 worker into a DuckLake")
    lines = [
        HEADING,
        "",
        f"{args.repos} repositories (tests/lake_org.py: 4 deployments, a pull request, some incidents "
        f"and a real git clone each) on the fake GitHub, every request delayed {args.delay * 1000:.0f} ms; "
        "each worker a `sync --shard K/N` process with its own token, into a new DuckLake "
        "(PostgreSQL 15 catalog on 127.0.0.1, Parquet files on local disk).",
        "",
        "| sync | seconds | repositories per minute | against 1 worker |",
        "|---|---:|---:|---:|",
    ]
    for what, s in seconds.items():
        if what.startswith("`maintain`"):
            continue
        against = f"{one / s:.2f}x" if one else "-"
        lines.append(f"| {what} | {s:.1f} | {args.repos / s * 60:.0f} | {against} |")
    published = next((w, s) for w, s in seconds.items() if w.startswith("`maintain`"))
    most = max(int(w) for w in args.workers.split(","))
    lines += ["", f"{published[0]}: {published[1]:.1f} s."]
    lines += [
        "",
        f"Reading the same org (the lake: the {most}-shard one after `maintain`, whose "
        "publish wrote the precomputed tables and one copy of every home's rows, which readers "
        "read while no home has changed since; a dashboard process keeps its lake connection "
        "and, from its second read, copies publish's tables to memory once per publish; "
        "`dora-impact dashboard` opens that reader before its server listens):",
        "",
        "| read | DuckDB file (s) | DuckLake (s) | lake / file |",
        "|---|---:|---:|---:|",
    ]
    for what, (file_s, lake_s) in reading.items():
        ratio = f"{lake_s / file_s:.2f}x" if file_s >= 0.005 else "-"  # a file opens nothing ahead
        lines.append(f"| {what} | {file_s:.2f} | {lake_s:.2f} | {ratio} |")
    lines += [
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}, Python {platform.python_version()}), "
        f"**shared with other work** (load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after): workers beyond the cores compete for them, so the figures "
        "say how far waiting on GitHub is overlapped, not what a cluster of machines reaches. "
        f"Command: `.venv/bin/python bench/bench_lake.py --repos {args.repos} --delay {args.delay} "
        f"--reads {args.reads} --workers {args.workers} --write docs/performance.md`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
