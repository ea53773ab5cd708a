"""GitLab against a local GitLab (documented response shapes): group projects with subgroups
(keyset pagination), deployments (tier, finish time, statuses), merged merge requests with
commits and approvals, incidents, X-Next-Page pagination, a 429 honoured; metrics equal
hand-computed values, shown beside GitLab's own DORA metrics for the same project and period."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from collectors.gitlab import sync as gl_sync
from collectors.gitlab.sync import GitLabSync, gitlab_dora
from collectors.http import GITLAB_LIMITS, HttpClient, NextPageHeader
from dora_impact.config import load_config
from tests.conftest import run_cli, write
from tests.github_fake import GitRepo
from tests.gitlab_fake import TOKEN, FakeGitLab
from warehouse import Warehouse

NOW = datetime(2026, 4, 1, tzinfo=UTC).timestamp()


def commit(sha: str, at: str, title: str) -> dict:
    return {"id": sha, "short_id": sha[:8], "title": title, "author_name": "dev", "authored_date": at,
            "committed_date": at, "web_url": f"https://gitlab.example.com/acme/platform/shop/-/commit/{sha}"}


@pytest.fixture
def setup(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.setattr(gl_sync, "PER_PAGE", 2)  # every listing spans pages: X-Next-Page edges
    repo = GitRepo(tmp_path / "src")
    repo.commit("Initial", "2026-02-01T00:00:00")
    c1 = repo.commit("Add checkout", "2026-03-01T09:00:00")
    c2 = repo.commit("Add cart", "2026-03-03T09:00:00")
    c3 = repo.commit("Add search", "2026-03-10T09:00:00")
    fake = FakeGitLab(clock=NOW).attach(httpserver)
    fake.add_project(7, "acme/platform/shop", str(repo.path), "acme/platform")  # in a subgroup
    fake.add_project(8, "acme/docs", str(repo.path), "acme")
    fake.add_project(9, "other/thing", str(repo.path), "other")  # not configured
    fake.add_deployment(7, 1, c1, "production", "success", "2026-03-02T09:50:00Z", "2026-03-02T10:00:00Z")
    fake.add_deployment(7, 2, c2, "production", "success", "2026-03-04T08:50:00Z", "2026-03-04T09:00:00Z")
    # No finished_at (older GitLab): the job's finish, not the later update of the record.
    fake.add_deployment(7, 3, c3, "production", "success", "2026-03-11T08:50:00Z", None,
                        job_finished="2026-03-11T09:00:00Z", updated="2026-03-12T00:00:00Z")
    fake.add_deployment(7, 4, c3, "staging", "success", "2026-03-10T11:50:00Z", "2026-03-10T12:00:00Z",
                        tier="staging")
    fake.add_deployment(7, 5, c3, "production", "running", "2026-03-20T08:50:00Z", None)
    fake.add_merge_request(7, 1, "alice", "2026-03-03T08:00:00Z", "2026-03-03T12:00:00Z", c2,
                           [commit(c2, "2026-03-03T09:00:00Z", "Add cart")], ["bob", "alice"])
    fake.add_merge_request(7, 2, "alice", "2026-03-10T08:00:00Z", "2026-03-10T15:00:00Z", c3,
                           [commit(c3, "2026-03-10T09:00:00Z", "Add search")], ["carol"])
    fake.add_incident(7, 1, "2026-03-11T10:00:00Z", "2026-03-11T12:00:00Z")
    # What GitLab's DORA API answers for this project in March (its definitions, docs/gitlab.md).
    fake.dora = {
        (7, "deployment_frequency"): [{"date": "2026-03-01", "value": 3}],
        (7, "lead_time_for_changes"): [{"date": "2026-03-01", "value": 70200.0}],  # merge -> deploy: 21 h, 18 h
        (7, "time_to_restore_service"): [{"date": "2026-03-01", "value": 7200.0}],
        (7, "change_failure_rate"): [{"date": "2026-03-01", "value": 0.3333}],
    }
    fake.faults = [r"/projects/7/deployments"]
    config = write(tmp_path / "dora.toml", f"""
[gitlab]
api_url = "{fake.url}"
groups = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "cache"}"

[teams]
shop = ["acme/platform/*"]
""")
    return fake, load_config(config), tmp_path / "d.duckdb", config, (c1, c2, c3)


def run(config, db, slept):
    with Warehouse(db) as wh:
        return GitLabSync(wh, config, sleep=slept.append, clock=lambda: NOW).run()


def test_gitlab_sync_rows(setup):
    fake, config, db, _, (c1, c2, c3) = setup
    slept: list[float] = []
    result = run(config, db, slept)
    assert not result.failures, result.failures
    assert result.scopes == ["acme/docs", "acme/platform/shop"]
    assert slept == [6.0]  # 429: until RateLimit-Reset (5 s away), plus one
    assert any("pagination=keyset" in t for t, _ in fake.log)
    with Warehouse(db, read_only=True) as wh:
        deps = wh.con.execute(
            "SELECT deployment_id, environment, status, finished_at::VARCHAR, is_production, team, workflow "
            "FROM deployments ORDER BY 1").fetchall()
        prs = wh.con.execute("SELECT number, merged_at::VARCHAR, reviewers, merge_sha, source FROM pull_requests "
                             "ORDER BY 1").fetchall()
        lead = wh.con.execute("SELECT sha, deployment_id FROM changes WHERE repo = 'acme/platform/shop' "
                              "AND deployment_id IS NOT NULL ORDER BY committed_at").fetchall()
        incidents = wh.con.execute("SELECT incident_id, resolved_at::VARCHAR, team FROM incidents").fetchall()
    assert deps == [
        ("gitlab:acme/platform/shop:deployment:1", "production", "success", "2026-03-02 10:00:00+00", True, "shop",
         "deploy-production"),
        ("gitlab:acme/platform/shop:deployment:2", "production", "success", "2026-03-04 09:00:00+00", True, "shop",
         "deploy-production"),
        ("gitlab:acme/platform/shop:deployment:3", "production", "success", "2026-03-11 09:00:00+00", True, "shop",
         "deploy-production"),
        ("gitlab:acme/platform/shop:deployment:4", "staging", "success", "2026-03-10 12:00:00+00", None, "shop",
         "deploy-staging"),
    ]  # the running one is not an outcome yet
    assert prs == [(1, "2026-03-03 12:00:00+00", "bob", c2, "gitlab"), (2, "2026-03-10 15:00:00+00", "carol", c3, "gitlab")]
    assert lead == [(c1, "gitlab:acme/platform/shop:deployment:1"), (c2, "gitlab:acme/platform/shop:deployment:2"),
                    (c3, "gitlab:acme/platform/shop:deployment:3")]
    assert incidents == [("gitlab:acme/platform/shop#1", "2026-03-11 12:00:00+00", "shop")]


def test_our_metrics_beside_gitlabs_dora_metrics(setup):
    fake, config, db, config_path, _ = setup
    run(config, db, [])
    done = run_cli("--config", str(config_path), "metrics", "--by", "repo", "--period", "month",
                   "--since", "2026-03-01", "--until", "2026-03-31", "--format", "json", db=db)
    assert done.code == 0, done.stderr
    ours = next(r for r in json.loads(done.stdout) if r["key"] == "acme/platform/shop" and r["period"] == "2026-03")
    client = HttpClient(fake.url, headers={"PRIVATE-TOKEN": TOKEN}, pagination=NextPageHeader(), limits=GITLAB_LIMITS)
    theirs = gitlab_dora(client, 7, date(2026, 3, 1), date(2026, 3, 31))
    # Deployment frequency: both count the 3 successful production-tier deployments.
    assert ours["deployments"] == theirs["deployment_frequency"] == 3
    # Lead time: ours from each commit (25 h, 24 h, 24 h -> median 24 h); GitLab's from each
    # merge request's merge (21 h, 18 h -> 19.5 h), and without the direct push c1.
    assert ours["lead_time_median_hours"] == pytest.approx(24.0)
    assert theirs["lead_time_for_changes"] / 3600 == pytest.approx(19.5)
    # Change fail rate: GitLab divides all incidents by deployments (1/3); ours counts the
    # deployments that caused an incident. This incident names none, so the window rule pins it
    # to the last production deployment before it (deployment 3, an hour earlier): 1 of 3.
    assert ours["change_fail_rate"] == pytest.approx(1 / 3) and theirs["change_failure_rate"] == pytest.approx(
        1 / 3, abs=1e-3)
    # Recovery: GitLab's is how long incidents stayed open (2 h); ours runs from the failed
    # deployment's finish (09:00) to the incident's resolution (12:00): 3 h.
    assert theirs["time_to_restore_service"] == 7200 and ours["recovery_time_median_hours"] == pytest.approx(3.0)


def test_tiers_come_from_the_environments_endpoint_with_conditional_requests(setup):
    fake, config, db, _, (c1, c2, c3) = setup
    # An environment named `live` whose tier is production: production by its tier alone (the
    # name rule would not take it), known only from GET /projects/:id/environments.
    fake.add_deployment(7, 6, c3, "live", "success", "2026-03-12T08:50:00Z", "2026-03-12T09:00:00Z")
    run(config, db, [])

    def production() -> dict[str, bool | None]:
        with Warehouse(db, read_only=True) as wh:
            return dict(wh.con.execute(
                "SELECT environment, bool_or(is_production) FROM deployments GROUP BY 1").fetchall())

    assert production() == {"production": True, "staging": None, "live": True}
    fake.log.clear()
    run(config, db, [])  # unchanged: the environments answer 304, deployments from the cursor
    assert ("/projects/7/environments?per_page=2", 304) in fake.log
    assert production() == {"production": True, "staging": None, "live": True}
    # The tier changes: the map is read again and so are the project's deployments.
    fake.environments[7]["live"]["tier"] = "staging"
    fake.log.clear()
    run(config, db, [])
    assert ("/projects/7/environments?per_page=2", 200) in fake.log
    assert any(t.startswith("/projects/7/deployments") and "updated_after=2026-03-01T00" in t for t, _ in fake.log)
    assert production() == {"production": True, "staging": None, "live": None}


def test_a_squash_merged_with_a_merge_commit_keeps_the_requests_commits(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    repo = GitRepo(tmp_path / "src")
    first = repo.commit("Initial", "2026-03-01T00:00:00")
    repo.checkout("feature", new=True)
    a1 = repo.commit("Cart model", "2026-03-02T09:00:00")
    a2 = repo.commit("Cart view", "2026-03-02T11:00:00")
    repo.checkout("squashed", new=True, start="main")
    squash = repo.squash("feature", "Add cart", "2026-03-03T09:00:00")
    repo.checkout("main")
    merge = repo.merge("squashed", "Merge branch 'feature' into 'main'", "2026-03-03T09:00:00")
    fake = FakeGitLab(clock=NOW).attach(httpserver)
    fake.add_project(7, "acme/shop", str(repo.path), "acme")
    fake.add_deployment(7, 1, merge, "production", "success", "2026-03-03T11:50:00Z", "2026-03-03T12:00:00Z")
    fake.add_merge_request(7, 4, "alice", "2026-03-02T12:00:00Z", "2026-03-03T09:00:00Z", merge,
                           [commit(a1, "2026-03-02T09:00:00Z", "Cart model"),
                            commit(a2, "2026-03-02T11:00:00Z", "Cart view")], ["bob"], squash_sha=squash)
    config = load_config(write(tmp_path / "dora.toml", f"""
[gitlab]
api_url = "{fake.url}"
groups = ["acme"]
since = 2026-03-01
cache_dir = "{tmp_path / "cache"}"
"""))
    db = tmp_path / "d.duckdb"
    result = run(config, db, [])
    assert not result.failures, result.failures
    with Warehouse(db, read_only=True) as wh:
        shipped = wh.con.execute(
            "SELECT sha, pr_number, deployment_id FROM changes WHERE deployment_id IS NOT NULL ORDER BY committed_at"
        ).fetchall()
    # The request's two commits, neither the squash commit nor the merge commit (and the
    # direct push before them).
    d = "gitlab:acme/shop:deployment:1"
    assert shipped == [(first, None, d), (a1, 4, d), (a2, 4, d)]
