"""Scale benchmark: import a large generated org, then time `metrics --by team --period week`.

Targets on a 2-core machine: import <= 60 s, metrics <= 10 s, peak memory <= 2 GB, and the
import (which refreshes the precomputed tables) within 1.5x of the same import into a
warehouse that precomputes nothing, measured in the same run (`--baseline`).
Run: `.venv/bin/python bench/bench_scale.py [--format csv|parquet] [--teams 200] [--baseline]`.
Figures go to docs/performance.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

DEPLOYMENTS = 1_000_000
CHANGES = 5_000_000
INCIDENTS = 50_000
REPOS = 2_000
TEAMS = 50
START = datetime(2024, 11, 25, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400


def generate(folder: Path, fmt: str, seed: int = 1, teams_n: int | None = None) -> dict[str, Path]:
    global TEAMS
    TEAMS = teams_n or TEAMS
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    repos = np.array([f"org/repo-{i:04d}" for i in range(REPOS)])
    teams = pl.DataFrame({"team": [f"team-{i % TEAMS:02d}" for i in range(REPOS)], "repo": repos})

    finished = np.sort(rng.integers(0, SPAN_S, DEPLOYMENTS))
    repo_of = rng.integers(0, REPOS, DEPLOYMENTS)
    env = np.where(rng.random(DEPLOYMENTS) < 0.8, "production", "staging")
    status = np.where(rng.random(DEPLOYMENTS) < 0.93, "success", "failure")
    hotfix = rng.random(DEPLOYMENTS) < 0.05
    base = pl.lit(START)
    deployments = (
        pl.DataFrame(
            {
                "deployment_id": [f"d{i}" for i in range(DEPLOYMENTS)],
                "repo": repos[repo_of],
                "environment": env,
                "status": status,
                "finished_s": finished,
                "sha": [f"{i:040x}" for i in range(DEPLOYMENTS)],
                "is_hotfix": hotfix,
            }
        )
        .with_columns((base + pl.duration(seconds=pl.col("finished_s"))).alias("finished_at"))
        .drop("finished_s")
    )

    shipped_by = rng.integers(0, DEPLOYMENTS, CHANGES)
    lead_s = np.minimum(rng.lognormal(np.log(20 * 3600), 1.2, CHANGES), 60 * 86400).astype(np.int64)
    changes = (
        pl.DataFrame(
            {
                "repo": repos[repo_of[shipped_by]],
                "sha": [f"c{i:039x}" for i in range(CHANGES)],
                "committed_s": finished[shipped_by] - lead_s,
                "author": [f"dev{i % 5000}" for i in range(CHANGES)],
                "deployment_id": [f"d{i}" for i in shipped_by],
            }
        )
        .with_columns((base + pl.duration(seconds=pl.col("committed_s"))).alias("committed_at"))
        .drop("committed_s")
    )

    caused_by = rng.integers(0, DEPLOYMENTS, INCIDENTS)
    opened = finished[caused_by] + rng.integers(60, 86400, INCIDENTS)
    resolved = opened + rng.lognormal(np.log(3 * 3600), 1.0, INCIDENTS).astype(np.int64)
    incidents = (
        pl.DataFrame(
            {
                "incident_id": [f"i{i}" for i in range(INCIDENTS)],
                "opened_s": opened,
                "resolved_s": resolved,
                "repo": repos[repo_of[caused_by]],
                "deployment_id": [f"d{i}" for i in caused_by],
            }
        )
        .with_columns(
            (base + pl.duration(seconds=pl.col("opened_s"))).alias("opened_at"),
            (base + pl.duration(seconds=pl.col("resolved_s"))).alias("resolved_at"),
        )
        .drop("opened_s", "resolved_s")
    )

    paths = {}
    for name, frame in (
        ("teams", teams),
        ("deployments", deployments),
        ("changes", changes),
        ("incidents", incidents),
    ):
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            # ISO 8601 with Z, as an export would write it.
            frame = frame.with_columns(
                pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                for c, t in frame.schema.items()
                if isinstance(t, pl.Datetime)
            )
            frame.write_csv(path)
        else:
            frame.write_parquet(path)
        paths[name] = path
    return paths


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, measured by GNU time around it alone
    (this process's own memory, e.g. the generated frames, must not count)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *command], check=True,
                       stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        peak_kb = int(out.read().strip().splitlines()[-1])
    return elapsed, peak_kb / 1024


# The import of the same files into a warehouse that precomputes nothing: the cost of the load
# alone, against which the refresh's share is judged.
BARE_IMPORT = """
import sys
from pathlib import Path
from collectors.importer import import_files
from warehouse import Warehouse
Warehouse.precomputes = False
with Warehouse(Path(sys.argv[1])) as wh:
    import_files(wh, [Path(p) for p in sys.argv[2:]])
"""


def main() -> None:
    global DEPLOYMENTS, CHANGES, INCIDENTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--folder", default="bench/data")
    parser.add_argument("--teams", type=int, default=TEAMS)
    parser.add_argument("--deployments", type=int, default=DEPLOYMENTS,
                        help="org size; changes and incidents scale with it (5 and 0.05 a deployment)")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the import into a warehouse without precomputed tables")
    args = parser.parse_args()
    DEPLOYMENTS, CHANGES, INCIDENTS = args.deployments, 5 * args.deployments, args.deployments // 20
    folder = Path(args.folder) / args.format
    db = folder / "bench.duckdb"
    start = time.perf_counter()
    paths = generate(folder, args.format, teams_n=args.teams)
    print(
        f"generated in {time.perf_counter() - start:.1f} s: "
        + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in paths.values())
    )
    for leftover in (db, db.with_name(db.name + ".wal")):
        leftover.unlink(missing_ok=True)
    cli = [sys.executable, "-m", "dora_impact", "--db", str(db)]
    if args.baseline:
        bare = folder / "bare.duckdb"
        for leftover in (bare, bare.with_name(bare.name + ".wal")):
            leftover.unlink(missing_ok=True)
        bare_s, bare_mb = timed([sys.executable, "-c", BARE_IMPORT, str(bare), *map(str, paths.values())])
        print(f"import without precomputed tables: {bare_s:.1f} s, peak RSS {bare_mb:.0f} MB")
        bare.unlink(missing_ok=True)
    import_s, import_mb = timed([*cli, "import", *map(str, paths.values())])
    print(f"import: {import_s:.1f} s, peak RSS {import_mb:.0f} MB")
    if args.baseline:
        print(f"import with the refresh / without: {import_s / bare_s:.2f}x")
    metrics_s, metrics_mb = timed(
        [*cli, "metrics", "--by", "team", "--period", "week", "--until", "2026-11-22", "--format", "json"]
    )
    print(f"metrics --by team --period week: {metrics_s:.1f} s, peak RSS {metrics_mb:.0f} MB")
    print(f"database file: {db.stat().st_size / 1e6:.0f} MB; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
