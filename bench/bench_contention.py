"""Readers and writers on one database at once, for long enough to count several hundred
page loads and runs: `sync --full` against the slowed fake GitHub and `import` in loops,
`metrics` in a loop, and headless chromium reloading every dashboard page (tests/contention.py
does the work; tests/test_concurrency.py runs the same for under a minute). Target: 0 errors
on either side.

    .venv/bin/python bench/bench_contention.py [--seconds 900] [--delay 0.02] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docsection import write_section  # noqa: E402
from tests import contention  # noqa: E402

HEADING = "## Readers and writers at once"


def report(out: contention.Outcome, seconds: float, delay: float) -> str:
    rows = [
        ("`sync --full` (fake GitHub, +%.0f ms per request)" % (delay * 1000), out.syncs),
        ("`import` (800 rows)", out.imports),
        ("`metrics --by team --format json`", out.metrics),
        ("dashboard page loads (Data health, Teams, Delivery, Initiatives)", out.pages),
    ]
    lines = [
        HEADING,
        "",
        f"bench/bench_contention.py, {out.seconds:.0f} s of wall clock on {os.cpu_count()} cores "
        f"({platform.machine()}; load average {os.getloadavg()[0]:.0f} at the end), every side "
        "at once on one file:",
        "",
        "| side | runs | errors | median s | p95 s | max s |",
        "|---|---|---|---|---|---|",
    ]
    for label, t in rows:
        lines.append(
            f"| {label} | {t.runs} | {len(t.errors)} | {t.p(0.5):.1f} | {t.p(0.95):.1f} | {t.p(1):.1f} |"
        )
    lines += [
        "",
        "Times include process start-up and the waits for the other side's short holds; a sync "
        "and an import never overlap (one writer at a time, the second waits).",
        "",
        f"{sum(t.runs for _, t in rows)} runs and page loads, {len(out.errors())} errors. Command: "
        f"`.venv/bin/python bench/bench_contention.py --seconds {seconds:.0f} --write docs/performance.md`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the fake waits per request")
    parser.add_argument("--write", type=Path, help="replace this section of the given Markdown file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        out = contention.run(Path(tmp), args.seconds, delay=args.delay)
    text = report(out, args.seconds, args.delay)
    print(text)
    for error in out.errors()[:20]:
        print("error:", error)
    if args.write:
        write_section(args.write, HEADING, text)
    sys.exit(1 if out.errors() else 0)


if __name__ == "__main__":
    main()
