"""GitHub Actions at the cost of the deploy runs: only the matching workflows' runs are walked,
a re-sync of an unchanged repository is free (304s), and each run keeps its workflow and URL."""

from __future__ import annotations

import duckdb
import pytest

from collectors.github.sync import GitHubSync
from dora_impact.config import load_config
from tests.github_fake import TOKEN, FakeClock, FakeGitHub, github_config
from warehouse import Warehouse


@pytest.fixture
def setup(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fake = FakeGitHub(clock=FakeClock(1_780_000_000)).attach(httpserver)  # 2026-05-28
    fake.repo("acme/svc", clone_url=None)
    # 250 CI runs (3 pages of 100) and 3 deploy runs, one of which failed.
    for i in range(250):
        fake.add_run("acme/svc", 1000 + i, "CI", f"{i:040x}", f"2026-03-{1 + i % 28:02d}T0{i % 10}:00:00",
                     f"2026-03-{1 + i % 28:02d}T0{i % 10}:05:00")
    fake.add_run("acme/svc", 1, "Deploy", "a" * 40, "2026-04-01T10:00:00", "2026-04-01T10:20:00",
                 path=".github/workflows/deploy.yml@main")
    fake.add_run("acme/svc", 2, "Deploy", "b" * 40, "2026-04-02T10:00:00", "2026-04-02T10:30:00",
                 conclusion="failure", path=".github/workflows/deploy.yml@main")
    fake.add_run("acme/svc", 3, "Deploy", "c" * 40, "2026-04-03T10:00:00", "2026-04-03T10:10:00",
                 path=".github/workflows/deploy.yml@main")
    config = github_config(tmp_path / "dora.toml", fake, ["acme/svc"], """graphql = false

[[github.deployments.workflows]]
path = "deploy\\\\.yml$"
environment = "production"
""")
    return fake, load_config(config), tmp_path / "d.duckdb"


def sync(fake, config, db):
    with Warehouse(db) as wh:
        result = GitHubSync(wh, config, sleep=fake.clock.sleep, clock=fake.clock.time).run()
    assert not [f for f in result.failures if f.resource != "git"], result.failures
    return result


def test_only_matching_workflows_runs_are_walked(setup):
    fake, config, db = setup
    sync(fake, config, db)
    actions = [e.target for e in fake.log if "/actions/" in e.target]
    assert not any("/actions/runs" in t for t in actions)  # never the all-runs listing
    assert [t.split("?")[0] for t in actions] == [
        "/repos/acme/svc/actions/workflows",
        "/repos/acme/svc/actions/workflows/161336/runs",  # Deploy only; CI is 161335
    ]
    rows = duckdb.connect(str(db), read_only=True).execute(
        "SELECT deployment_id, status, workflow, workflow_path, url, finished_at::VARCHAR "
        "FROM deployments ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("github:acme/svc:run:1", "success", "Deploy", ".github/workflows/deploy.yml",
         "https://github.com/acme/svc/actions/runs/1", "2026-04-01 10:20:00+00"),
        ("github:acme/svc:run:2", "failure", "Deploy", ".github/workflows/deploy.yml",
         "https://github.com/acme/svc/actions/runs/2", "2026-04-02 10:30:00+00"),
        ("github:acme/svc:run:3", "success", "Deploy", ".github/workflows/deploy.yml",
         "https://github.com/acme/svc/actions/runs/3", "2026-04-03 10:10:00+00"),
    ]


def test_resync_is_free_and_picks_up_a_new_deploy_run(setup):
    fake, config, db = setup
    sync(fake, config, db)
    start = len(fake.log)
    sync(fake, config, db)
    actions = [e for e in fake.log[start:] if "/actions/" in e.target]
    assert [(e.target.split("?")[0], e.status) for e in actions] == [
        ("/repos/acme/svc/actions/workflows", 304),
        ("/repos/acme/svc/actions/workflows/161336/runs", 304),
    ]
    # New CI runs cost nothing; a new deploy run is one page.
    fake.add_run("acme/svc", 5000, "CI", "d" * 40, "2026-04-04T09:00:00", "2026-04-04T09:05:00")
    fake.add_run("acme/svc", 4, "Deploy", "e" * 40, "2026-04-04T10:00:00", "2026-04-04T10:10:00",
                 path=".github/workflows/deploy.yml@main")
    start = len(fake.log)
    sync(fake, config, db)
    actions = [e for e in fake.log[start:] if "/actions/" in e.target]
    assert [(e.target.split("?")[0], e.status) for e in actions] == [
        ("/repos/acme/svc/actions/workflows", 304),
        ("/repos/acme/svc/actions/workflows/161336/runs", 200),
    ]
    n = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM deployments").fetchone()[0]
    assert n == 4
