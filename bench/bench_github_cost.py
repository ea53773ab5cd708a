"""What a GitHub sync costs against the rate limits, measured against the fake GitHub.

1. First sync of a repository with 1,000 merged pull requests (3 commits, 2 reviews, a review
   request and 2 labels each): requests and points. Target: <= 25 for the pull requests.
2. Re-sync of the same, unchanged repository: requests that count against the primary limits
   (304s do not). Target: <= 2.
3. For reference, the REST-only fallback (`graphql = false`) on the same repository.
4. GitHub Actions: a repository with 20,000 CI runs and 400 deploy runs. Requests for a first
   sync, an unchanged re-sync and a re-sync after a day of activity (1,000 CI runs, 20 deploy
   runs), now (only the matching workflows' runs are walked) and before (every run of the
   repository; figures in BEFORE_ACTIONS, measured by running this script's `--only-actions`
   against the code of commit df02376, which walked `/actions/runs`).

The fake computes GraphQL points with GitHub's documented formula from the query the client
actually sends, and counts every request that is not a 304; the client's own tally is shown
beside it.

    .venv/bin/python bench/bench_github_cost.py [--prs 1000] [--no-rest] [--only-actions]
        [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402

from bench.docsection import write_section  # noqa: E402
from collectors.github.sync import GitHubSync  # noqa: E402
from dora_impact.config import load_config  # noqa: E402
from tests.github_fake import TOKEN, FakeGitHub, GitRepo, github_config  # noqa: E402
from warehouse import Warehouse  # noqa: E402

HEADING = "## GitHub sync cost"


def build(fake: FakeGitHub, tmp: Path, prs: int) -> Path:
    repo = GitRepo(tmp / "src")
    head = repo.commit("Initial", "2026-01-01T00:00:00")
    fake.repo("bench/big", clone_url=str(repo.path))
    for n in range(1, prs + 1):
        day = f"2026-{1 + (n * 11 // prs) % 12:02d}-{1 + n % 28:02d}"
        commits = [
            {
                "sha": f"{n:08d}{i:032d}",
                "committed_at": f"{day}T0{i}:00:00",
                "authored_at": f"{day}T0{i}:00:00",
                "author": f"dev{n % 17}",
            }
            for i in range(1, 4)
        ]
        reviews = [
            {
                "id": n * 10 + 1,
                "reviewer": f"dev{(n + 1) % 17}",
                "state": "COMMENTED",
                "at": f"{day}T05:00:00",
            },
            {
                "id": n * 10 + 2,
                "reviewer": f"dev{(n + 1) % 17}",
                "state": "APPROVED",
                "at": f"{day}T06:00:00",
            },
        ]
        fake.add_pull(
            "bench/big",
            n,
            f"dev{n % 17}",
            f"{day}T04:00:00",
            f"{day}T07:00:00",
            head,
            commits,
            reviews=reviews,
            requested=[f"dev{(n + 1) % 17}"],
            labels=["feature", f"area-{n % 5}"],
            updated_at=f"{day}T07:{n % 60:02d}:00",
        )
    return github_config(tmp / "dora.toml", fake, ["bench/big"])


def measure(fake: FakeGitHub, config: Path, db: Path) -> dict:
    start = len(fake.log)
    used = dict(fake.used)
    t0 = time.perf_counter()
    with Warehouse(db) as wh:
        result = GitHubSync(wh, load_config(config)).run()
    seconds = time.perf_counter() - t0
    log = fake.log[start:]
    prs = [e for e in log if e.resource == "graphql" or "/pulls" in e.target or "/events" in e.target]
    assert not result.failures, result.failures
    # The client's own tally (from x-ratelimit headers and rateLimit.cost) must agree.
    assert (result.cost.rest_points, result.cost.graphql_points, result.cost.not_modified) == (
        fake.used["core"] - used["core"],
        fake.used["graphql"] - used["graphql"],
        sum(1 for e in log if e.status == 304),
    ), "client and server disagree on the cost"
    return {
        "requests": len(log),
        "counted": sum(1 for e in log if e.counted),
        "not_modified": sum(1 for e in log if e.status == 304),
        "rest_points": fake.used["core"] - used["core"],
        "graphql_points": fake.used["graphql"] - used["graphql"],
        "pr_requests": len(prs),
        "pr_points": sum(1 for e in prs if e.resource == "core" and e.counted)
        + (fake.used["graphql"] - used["graphql"]),
        "client": result,
        "seconds": seconds,
    }


CI_RUNS, DEPLOY_RUNS = 20_000, 400
DAY_CI, DAY_DEPLOY = 1_000, 20
# Before: the workflow-run stream walked /actions/runs (every run of the repository).
# Measured with `--only-actions` against commit df02376 (see the docstring).
BEFORE_ACTIONS = {"first": 204, "unchanged": 1, "day": 11}


def build_actions(fake: FakeGitHub, tmp: Path) -> Path:
    repo = GitRepo(tmp / "actions-src")
    repo.commit("Initial", "2026-01-01T00:00:00")
    fake.repo("bench/ci-heavy", clone_url=str(repo.path))
    add_runs(fake, 0, CI_RUNS, DEPLOY_RUNS, "2026-01-01")
    return github_config(tmp / "actions.toml", fake, ["bench/ci-heavy"], """graphql = false

[[github.deployments.workflows]]
name = "^Deploy$"
environment = "production"
""")


def add_runs(fake: FakeGitHub, first_id: int, ci: int, deploy: int, day0: str) -> None:
    """`ci` CI runs and `deploy` deploy runs spread evenly over 100 days from day0 (the deploy
    runs interleaved, one per 50 CI runs)."""
    from datetime import datetime, timedelta

    start = datetime.fromisoformat(day0)
    total = ci + deploy
    step = timedelta(days=100) / total if total > 1 else timedelta(0)
    every = max(1, total // max(1, deploy))
    made_deploy = 0
    for i in range(total):
        at = start + step * i
        deploy_run = made_deploy < deploy and i % every == every - 1
        made_deploy += deploy_run
        fake.add_run(
            "bench/ci-heavy", first_id + i + 1, "Deploy" if deploy_run else "CI", f"{first_id + i:040x}",
            at.strftime("%Y-%m-%dT%H:%M:%S"), (at + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
        )


def measure_actions(fake: FakeGitHub, config: Path, db: Path) -> int:
    start = len(fake.log)
    with Warehouse(db) as wh:
        result = GitHubSync(wh, load_config(config)).run()
    assert not result.failures, result.failures
    return sum(1 for e in fake.log[start:] if "/actions/" in e.target)


def actions_case(server: HTTPServer, tmp: Path) -> dict[str, int]:
    server.clear()  # a fresh fake on the same server (the first handler attached would answer)
    fake = FakeGitHub().attach(server)
    config = build_actions(fake, tmp)
    db = tmp / "actions.duckdb"
    out = {"first": measure_actions(fake, config, db), "unchanged": measure_actions(fake, config, db)}
    add_runs(fake, 10_000_000, DAY_CI, DAY_DEPLOY, "2026-04-11")
    out["day"] = measure_actions(fake, config, db)
    with Warehouse(db, read_only=True) as wh:
        out["deployments"] = wh.scalar("SELECT count(*) FROM deployments")
    assert out["deployments"] == DEPLOY_RUNS + DAY_DEPLOY, out
    return out


def actions_lines(now: dict[str, int]) -> list[str]:
    b = BEFORE_ACTIONS
    return [
        "",
        f"GitHub Actions: a repository with {CI_RUNS:,} CI runs and {DEPLOY_RUNS} deploy runs (one "
        f"workflow each), a rule matching the deploy workflow; the re-sync after a day adds {DAY_CI:,} "
        f"CI runs and {DAY_DEPLOY} deploy runs. Requests to `/actions/` endpoints "
        f"({now['deployments']} deployments stored):",
        "",
        "| sync | before (every run: `/actions/runs`) | now (matching workflows only) |",
        "|---|---|---|",
        f"| first sync | {b['first']} | {now['first']} |",
        f"| re-sync, unchanged | {b['unchanged']} | {now['unchanged']} (304s, free) |",
        f"| re-sync after a day | {b['day']} | {now['day']} |",
        "",
        "Now: one listing of the workflows (its ETag makes a re-read a free 304), then the runs of "
        "the matching workflows only. Before: every run of the repository, 100 to a page, so the CI "
        "runs were paid for fifty to one (measured by running this script's `--only-actions` with the "
        "collectors of commit df02376).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument("--no-rest", action="store_true", help="skip the REST-only reference run")
    parser.add_argument("--only-actions", action="store_true", help="only the GitHub Actions case")
    parser.add_argument("--write", type=Path, help="replace this script's section in that Markdown file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["GITHUB_TOKEN"] = TOKEN
    server = HTTPServer()
    server.start()
    if args.only_actions:
        try:
            with tempfile.TemporaryDirectory() as tmp_name:
                print(actions_case(server, Path(tmp_name)))
        finally:
            server.stop()
        return
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            fake = FakeGitHub().attach(server)
            config = build(fake, tmp, args.prs)
            first = measure(fake, config, tmp / "a.duckdb")
            again = measure(fake, config, tmp / "a.duckdb")
            rest = None
            if not args.no_rest:
                rest_config = tmp / "rest.toml"
                rest_config.write_text(
                    config.read_text().replace("[github]\n", "[github]\ngraphql = false\n")
                )
                rest = measure(fake, rest_config, tmp / "rest.duckdb")
            with Warehouse(tmp / "a.duckdb", read_only=True) as wh:
                counts = wh.con.execute(
                    "SELECT (SELECT count(*) FROM pull_requests), (SELECT count(*) FROM reviews),"
                    " (SELECT count(*) FROM changes)"
                ).fetchone()
            actions = actions_case(server, tmp)
    finally:
        server.stop()
    lines = [
        HEADING,
        "",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_github_cost.py', *sys.argv[1:]])}` "
        "against the fake GitHub "
        "(tests/github_fake.py; GraphQL points by GitHub's documented formula, every non-304 request "
        "counted; the client's own tally agrees). Machine: 2 cores / 24 GB, "
        f"Python {platform.python_version()}.",
        "",
        f"Repository with {args.prs} merged pull requests, each with 3 commits, 2 reviews, a review request "
        f"and 2 labels; stored: {counts[0]} pull requests, {counts[1]} reviews, {counts[2]} commits.",
        "",
        "| sync | requests | counted | 304 | REST points | GraphQL points | pull-request requests | "
        "pull-request points | target | time |",
        "|---|---|---|---|---|---|---|---|---|---|",
        row("first sync (GraphQL)", first, "pull requests <= 25"),
        row("re-sync, unchanged", again, "counted <= 2"),
    ]
    if rest:
        lines.append(row("first sync, REST fallback (reference)", rest, "-"))
    lines += [
        "",
        "Why: one GraphQL query returns 100 merged pull requests with `labels` and one `timelineItems` "
        "connection (commits, reviews and review requests together): 1 + 100 + 100 = 201 -> 2 points. "
        "An incremental sync first probes with `first: 10` (1 point). Unchanged REST listings answer 304 "
        "to their stored ETag, which GitHub does not count.",
        *actions_lines(actions),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    ok = first["pr_points"] <= 25 and again["counted"] <= 2 and actions["first"] < BEFORE_ACTIONS["first"]
    print("targets met" if ok else "TARGET MISSED", file=sys.stderr)
    if args.write:
        write_section(args.write, HEADING, text)
    sys.exit(0 if ok else 1)


def row(name: str, m: dict, target: str) -> str:
    cells = [
        name,
        m["requests"],
        m["counted"],
        m["not_modified"],
        m["rest_points"],
        m["graphql_points"],
        m["pr_requests"],
        m["pr_points"],
        target,
        f"{m['seconds']:.1f} s",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


if __name__ == "__main__":
    main()
