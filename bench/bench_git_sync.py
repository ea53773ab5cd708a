"""Local-git sync benchmark: `dora-impact sync --git` on a generated history.

The history (made with `git fast-import`, so generating it takes a second or two): a main line
of 20,000 commits in all, 2,000 of them "Merge pull request #N" merges each bringing in a
feature branch of 4 commits, the rest direct commits, one commit an hour, and 500 `v*` tags
spread along the main line. Timed, each as its own process: the fresh sync into a new
database, then the same sync again with nothing changed.

Targets (issue 9): fresh < 10 s, unchanged re-sync well under a second; the command's
own start-up (Python and its imports) is reported apart as `dora-impact --help`.
Run: `.venv/bin/python bench/bench_git_sync.py`.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = 1_735_689_600  # 2025-01-01T00:00:00Z


def generate(
    path: Path, commits: int = 20_000, merges: int = 2_000, tags: int = 500, branch: int = 4
) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    lines: list[str] = []
    mark = 0
    t = START
    main_marks: list[int] = []

    def commit(ref: str, message: str, parents: list[int]) -> int:
        nonlocal mark, t
        mark += 1
        t += 3600
        who = f"dev <dev@example.com> {t} +0000"
        data = message.encode()
        lines.append(
            f"commit {ref}\nmark :{mark}\nauthor {who}\ncommitter {who}\ndata {len(data)}\n{message}\n"
        )
        if parents:
            lines.append(f"from :{parents[0]}\n")
            for p in parents[1:]:
                lines.append(f"merge :{p}\n")
        lines.append("\n")
        return mark

    direct = commits - merges * (branch + 1)
    every = max(1, (direct + merges) // merges)
    made = 0
    n = 0
    head = commit("refs/heads/main", "Initial", [])
    main_marks.append(head)
    while made < direct + merges - 1:
        made += 1
        if made % every == 0 and n < merges:
            n += 1
            tip = head
            for k in range(branch):
                tip = commit(f"refs/heads/feature-{n % 8}", f"Feature {n} step {k}", [tip])
            head = commit("refs/heads/main", f"Merge pull request #{n} from acme/feature-{n}", [head, tip])
        else:
            head = commit("refs/heads/main", f"Change {made}", [head])
        main_marks.append(head)
    step = max(1, len(main_marks) // tags)
    for i in range(tags):
        lines.append(
            f"reset refs/tags/v1.{i}.0\nfrom :{main_marks[min(len(main_marks) - 1, (i + 1) * step - 1)]}\n\n"
        )
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input="".join(lines).encode(), check=True
    )
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)


def timed(args: list[str], env: dict[str, str]) -> str:
    """Wall clock and CPU (user + system, the process and its git children): on a shared
    machine the CPU figure is the one that does not depend on the neighbours."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return f"{took:.2f} s wall, {cpu:.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--merges", type=int, default=2_000)
    parser.add_argument("--tags", type=int, default=500)
    opts = parser.parse_args()
    cli = str(Path(sys.executable).with_name("dora-impact"))
    with tempfile.TemporaryDirectory() as tmp:
        repo, db = Path(tmp) / "repo", Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        generate(repo, opts.commits, opts.merges, opts.tags)
        count = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--all", "--count"], capture_output=True, text=True
        ).stdout.strip()
        print(f"generated {count} commits, {opts.tags} tags in {time.perf_counter() - t0:.1f} s")
        env = {**os.environ, "DORA_IMPACT_DB": str(db)}
        sync = [cli, "sync", "--git", str(repo), "--since", "2024-01-01"]
        print(f"start-up (dora-impact --help): {timed([cli, '--help'], env)}")
        print(f"fresh sync: {timed(sync, env)}")
        for i in range(3):
            print(f"unchanged re-sync {i + 1}: {timed(sync, env)}")
        print(f"load average: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
