"""One config listing a GitHub organisation, a GitLab group and a PagerDuty service: one
`sync` brings all three into one warehouse, and metrics per team run across them."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import run_cli, write
from tests.github_fake import TOKEN as GITHUB_TOKEN
from tests.github_fake import FakeGitHub, GitRepo
from tests.gitlab_fake import TOKEN as GITLAB_TOKEN
from tests.gitlab_fake import FakeGitLab
from tests.pagerduty_fake import TOKEN as PAGERDUTY_TOKEN
from tests.pagerduty_fake import FakePagerDuty


@pytest.fixture
def servers():
    started = [HTTPServer(), HTTPServer(), HTTPServer()]
    for s in started:
        s.start()
    yield started
    for s in started:
        s.clear()
        s.stop()


def test_github_org_gitlab_group_and_pagerduty_service_in_one_warehouse(servers, tmp_path):
    gh_server, gl_server, pd_server = servers
    api = GitRepo(tmp_path / "api")
    api.commit("Initial", "2025-12-01T00:00:00")
    a1 = api.commit("Add orders", "2026-03-02T09:00:00")
    a2 = api.commit("Add refunds", "2026-03-09T09:00:00")
    github = FakeGitHub().attach(gh_server)
    github.repo("acme/api", clone_url=str(api.path))
    github.orgs["acme"] = ["acme/api"]
    github.add_run("acme/api", 1, "Deploy", a1, "2026-03-02T10:00:00", "2026-03-02T10:10:00")
    github.add_run("acme/api", 2, "Deploy", a2, "2026-03-09T10:00:00", "2026-03-09T10:10:00")

    shop = GitRepo(tmp_path / "shop")
    shop.commit("Initial", "2025-12-01T00:00:00")
    s1 = shop.commit("Add cart", "2026-03-03T09:00:00")
    gitlab = FakeGitLab(clock=time.time()).attach(gl_server)
    gitlab.add_project(7, "acme/platform/shop", str(shop.path), "acme/platform")
    for did, day in ((1, "04"), (2, "11"), (3, "18")):
        gitlab.add_deployment(7, did, s1, "production", "success", f"2026-03-{day}T09:50:00Z",
                              f"2026-03-{day}T10:00:00Z")

    pagerduty = FakePagerDuty().attach(pd_server)
    pagerduty.add_incident("PX1", "PAPI", "2026-03-09T11:00:00Z", resolved="2026-03-09T12:10:00Z",
                           title="Refunds failing, deployment_id: github:acme/api:run:2")

    config = write(tmp_path / "dora.toml", f"""
[github]
api_url = "{github.url}"
orgs = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "gh-cache"}"

[[github.deployments.workflows]]
name = "^Deploy$"
environment = "production"

[gitlab]
api_url = "{gitlab.url}"
groups = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "gl-cache"}"

[pagerduty]
api_url = "{pagerduty.url}"
since = 2026-03-01

[[pagerduty.services]]
id = "PAPI"
team = "payments"

[teams]
payments = ["acme/api"]
shop = ["acme/platform/*"]
""")
    db = tmp_path / "d.duckdb"
    env = {"GITHUB_TOKEN": GITHUB_TOKEN, "GITLAB_TOKEN": GITLAB_TOKEN, "PAGERDUTY_TOKEN": PAGERDUTY_TOKEN}
    done = run_cli("--config", str(config), "sync", db=db, env=env)
    assert done.code == 0, done.stderr + done.stdout
    for secret in env.values():
        assert secret not in done.stdout + done.stderr
    metrics = run_cli("--config", str(config), "metrics", "--by", "team", "--period", "month", "--since",
                      "2026-03-01", "--until", "2026-03-31", "--format", "json", db=db)
    assert metrics.code == 0, metrics.stderr
    march = {r["key"]: r for r in json.loads(metrics.stdout) if r["period"] == "2026-03"}
    # payments (GitHub): 2 deploy runs, the second caused PagerDuty's PX1 (resolved 2 h after it
    # finished); lead times 1 h 10 min each.
    p = march["payments"]
    assert (p["deployments"], p["failed_deployments"], p["change_fail_rate"]) == (2, 1, 0.5)
    assert p["recovery_time_median_hours"] == pytest.approx(2.0)
    assert p["lead_time_median_hours"] == pytest.approx(70 / 60)
    # shop (GitLab): 3 deployments; s1 shipped by the first, 25 h after its commit.
    s = march["shop"]
    assert (s["deployments"], s["failed_deployments"]) == (3, 0)
    assert s["lead_time_median_hours"] == pytest.approx(25.0)


def _team_deployments(config, db) -> dict[str, int]:
    """March 2026 production deployments per team, as `metrics --by team` gives them."""
    done = run_cli("--config", str(config), "metrics", "--by", "team", "--period", "month", "--since",
                   "2026-03-01", "--until", "2026-03-31", "--format", "json", db=db)
    assert done.code == 0, done.stderr
    return {r["key"]: r["deployments"] for r in json.loads(done.stdout) if r["period"] == "2026-03"}


def test_moving_repositories_in_teams_moves_rows_of_every_source_alike(servers, tmp_path):
    """GitHub, GitLab, webhook and imported deployments of four repositories, first all owned
    by `alpha`; after [teams] gives each its own team and a sync runs again (nothing new to
    fetch), every repository's deployments count for its new team: a team stamped on a row
    while collecting does not keep it where it was."""
    from collectors.webhooks import Spool, generic_event
    from dora_impact.config import load_config
    from dora_impact.webhooks_command import Loader
    from warehouse import Warehouse
    from warehouse.freshness import is_fresh

    gh_server, gl_server, _ = servers
    api = GitRepo(tmp_path / "api")
    api.commit("Initial", "2025-12-01T00:00:00")
    a1 = api.commit("Add orders", "2026-03-02T09:00:00")
    github = FakeGitHub().attach(gh_server)
    github.repo("acme/api", clone_url=str(api.path))
    github.orgs["acme"] = ["acme/api"]
    github.add_run("acme/api", 1, "Deploy", a1, "2026-03-02T10:00:00", "2026-03-02T10:10:00")
    github.add_run("acme/api", 2, "Deploy", a1, "2026-03-09T10:00:00", "2026-03-09T10:10:00")
    shop = GitRepo(tmp_path / "shop")
    shop.commit("Initial", "2025-12-01T00:00:00")
    s1 = shop.commit("Add cart", "2026-03-03T09:00:00")
    gitlab = FakeGitLab(clock=time.time()).attach(gl_server)
    gitlab.add_project(7, "acme/platform/shop", str(shop.path), "acme/platform")
    for did, day in ((1, "04"), (2, "11"), (3, "18")):
        gitlab.add_deployment(7, did, s1, "production", "success", f"2026-03-{day}T09:50:00Z",
                              f"2026-03-{day}T10:00:00Z")
    sources = f"""
[github]
api_url = "{github.url}"
orgs = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "gh-cache"}"

[[github.deployments.workflows]]
name = "^Deploy$"

[gitlab]
api_url = "{gitlab.url}"
groups = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "gl-cache"}"
"""
    config = write(tmp_path / "dora.toml", sources + """
[teams]
alpha = ["acme/*"]
""")
    db = tmp_path / "d.duckdb"
    env = {"GITHUB_TOKEN": GITHUB_TOKEN, "GITLAB_TOKEN": GITLAB_TOKEN}
    done = run_cli("--config", str(config), "sync", db=db, env=env)
    assert done.code == 0, done.stderr + done.stdout
    imported = write(tmp_path / "deployments.csv", """
deployment_id,repo,environment,status,finished_at,team
i1,acme/imported,production,success,2026-03-05T10:00:00Z,someone-else
""")
    done = run_cli("--config", str(config), "import", str(imported), db=db)
    assert done.code == 0, done.stderr
    # A deployment received by serve-webhooks' loader (POST /events), loaded as it loads it.
    spool = Spool(tmp_path / "hooks.jsonl")
    spool.append(generic_event({"entity": "deployments", "rows": [{
        "deployment_id": "h1", "repo": "acme/hooks", "environment": "production",
        "status": "success", "finished_at": "2026-03-06T10:00:00Z"}]}, "events:h1"))
    assert Loader(spool, db, load_config(config), 1.0).flush() == 1
    assert _team_deployments(config, db) == {"alpha": 7}

    write(config, sources + """
[teams]
gh = ["acme/api"]
gl = ["acme/platform/*"]
imp = ["acme/imported"]
hooks = ["acme/hooks"]
""")
    done = run_cli("--config", str(config), "sync", db=db, env=env)
    assert done.code == 0, done.stderr + done.stdout
    with Warehouse(db, read_only=True) as wh:
        assert is_fresh(wh, load_config(config).metrics)  # the metrics below read the stored tables
    assert _team_deployments(config, db) == {"gh": 2, "gl": 3, "imp": 1, "hooks": 1}

    # A repository no team claims any more falls back to the team its own row names.
    write(config, sources + """
[teams]
gh = ["acme/api"]
""")
    assert run_cli("--config", str(config), "sync", db=db, env=env).code == 0
    assert _team_deployments(config, db) == {"gh": 2, "someone-else": 1, "unassigned": 4}
