"""An organisation of many small repositories on the fake GitHub, for sharded syncs: shared by
tests/test_lake.py and bench/bench_lake.py.

Every repository is a real git repository (4 commits on main, a day apart), with a production
deployment of each commit through the deployments API (one in seven fails), a merged pull
request, and for every third repository an incident. The fake accepts one token per shard
and counts the requests made with each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from werkzeug.wrappers import Request, Response

from tests.github_fake import TOKEN, FakeGitHub, GitRepo


def shard_token(k: int) -> str:
    return f"ghp_SHARD{k}token0123456789abcdefSECRET"


class ShardedFake(FakeGitHub):
    """The fake GitHub, answering the usual token and every shard's own."""

    def __init__(self, shards: int = 8, **kw) -> None:
        super().__init__(**kw)
        self.accepted = {shard_token(k): k for k in range(1, shards + 1)}
        self.by_shard: Counter[int] = Counter()
        self._count_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        token = request.environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if token in self.accepted:
            with self._count_lock:
                self.by_shard[self.accepted[token]] += 1
            request.environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        return super().handle(request)


def repo_names(n: int) -> list[str]:
    return [f"acme/svc-{i:03d}" for i in range(n)]


# Ownership as config/dora.example.toml shows it: globs, and per-repository teams that win over
# them (one of them a repository GitHub does not list), and an initiative for `impact`.
OWNERSHIP = """
[repos."acme/svc-001"]
team = "gamma"

[repos."acme/svc-006"]
team = "gamma"

[repos."acme/ghost"]
team = "delta"

[[initiatives]]
name = "Golden path"
started_on = 2026-02-16
teams = ["alpha"]
ramp_weeks = 0
"""


def build_org(tmp: Path, fake: FakeGitHub, repos: int, db: str | Path, extra: str = "") -> Path:
    """The repositories on the fake and a config syncing them into `db` (with `extra` TOML
    appended); the config's path."""
    names = repo_names(repos)
    for i, name in enumerate(names):
        git = GitRepo(tmp / "src" / name.split("/")[1])
        first = 1 + i % 9
        days = [first + 4 * j for j in range(4)]
        shas = [
            git.commit(f"change {j} of {name}", f"2026-02-{day:02d}T09:00:00", author=f"dev{(i + j) % 5}")
            for j, day in enumerate(days)
        ]
        fake.repo(name, clone_url=str(git.path))
        for j, (sha, day) in enumerate(zip(shas, days, strict=True)):
            status = "failure" if (i + j) % 7 == 3 else "success"
            at = f"2026-02-{day:02d}T"
            fake.add_deployment(
                name, 1000 * (i + 1) + j, sha, "production", at + "10:00:00",
                [("in_progress", at + "10:00:00"), (status, at + "10:30:00")],
            )
        pr_at = f"2026-02-{days[1]:02d}T"
        fake.add_pull(
            name, 1, f"dev{i % 5}", pr_at + "08:00:00", pr_at + "09:00:00", shas[1],
            [{"sha": shas[1], "committed_at": pr_at + "09:00:00", "authored_at": pr_at + "07:00:00",
              "author": f"dev{i % 5}"}],
            reviews=[{"id": 10 * i + 1, "reviewer": f"dev{(i + 1) % 5}", "state": "APPROVED",
                      "at": pr_at + "08:30:00"}],
        )
        if i % 3 == 0:
            at = f"2026-02-{days[2]:02d}T"
            fake.add_issue(name, 2, f"{name} is down", at + "12:00:00", at + "15:00:00", ["incident"], "Down.")
    config = tmp / "dora.toml"
    quoted = ", ".join(f'"{n}"' for n in names)
    config.write_text(f"""
db = "{db}"

[metrics]
production_environment = "^production$"

[github]
api_url = "{fake.url}"
repos = [{quoted}]
since = 2026-01-01
cache_dir = "{tmp / "cache"}"

[teams]
alpha = ["acme/svc-00[0-5]"]
beta = ["acme/svc-*"]
{extra}""")
    return config


@dataclass
class Worker:
    shard: int
    process: subprocess.Popen

    def wait(self, timeout: float = 300) -> tuple[int, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out + err


def start_worker(python: str, config: Path, db: str, k: int, n: int, extra_env: dict | None = None) -> Worker:
    """`dora-impact sync --shard k/n` in a new process, with shard k's own token."""
    env = {**os.environ, "COLUMNS": "200", f"DORA_GITHUB_TOKEN_SHARD_{k}": shard_token(k),
           "GITHUB_TOKEN": TOKEN, **(extra_env or {})}
    process = subprocess.Popen(
        [python, "-m", "dora_impact", "--db", db, "--config", str(config), "sync", "--shard", f"{k}/{n}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    return Worker(k, process)


PYTHON = sys.executable
