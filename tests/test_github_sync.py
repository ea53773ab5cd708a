"""`dora-impact sync` against the fake GitHub and real git repositories: what lands in every
table, computed by hand for the scenario in tests/github_fake.py (build_scenario)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from collectors.github.sync import GitHubSync
from collectors.run import RunOptions
from dora_impact.config import load_config
from dora_impact_app.after_load import after_load
from tests.conftest import run_cli
from tests.github_fake import TOKEN, FakeClock, FakeGitHub, GitRepo, Scenario, build_scenario
from warehouse import Warehouse
from warehouse.metrics import compute_metrics, prepare

NOW = datetime(2026, 1, 21, tzinfo=UTC).timestamp()


@pytest.fixture
def fake(httpserver) -> FakeGitHub:
    return FakeGitHub(clock=FakeClock(NOW)).attach(httpserver)


@pytest.fixture
def sc(tmp_path, fake, monkeypatch) -> Scenario:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return build_scenario(tmp_path, fake)


def sync(sc: Scenario, config: Path | None = None, db: Path | None = None, **kw):
    """One GitHub run followed by the after-load step, as `sync` runs it."""
    cfg = load_config(config or sc.config_path)
    with Warehouse(db or sc.db) as wh:
        result = GitHubSync(wh, cfg, RunOptions(**kw), sleep=sc.fake.clock.sleep, clock=sc.fake.clock.time).run()
        after_load(wh, cfg)
        return result


def q(db: Path, sql: str) -> list[tuple]:
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        return wh.con.execute(sql).fetchall()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_sync_fills_every_table(sc):
    result = sync(sc)
    s = sc.sha
    assert result.failures == []
    assert sorted(result.scopes) == ["acme/api", "acme/web"]
    assert sorted(result.warnings) == [
        "acme/empty: empty repository; skipped",
        "acme/ghost: repository not found (404) or not visible to the token; skipped",
        "acme/legacy: archived or disabled; skipped",
    ]
    # Hotfix and rollback as the failure rule reads the evidence (warehouse/sql/01_prod_deployments.sql).
    deployments = q(
        sc.db,
        "SELECT d.deployment_id, d.environment, d.status, d.finished_at, d.sha, "
        "coalesce(p.is_hotfix, false), coalesce(p.is_rollback, false) "
        "FROM deployments d LEFT JOIN prod_deployments p USING (deployment_id) ORDER BY d.finished_at",
    )
    assert deployments == [
        (
            "github:acme/web:tag:v1.0.0",
            "production",
            "success",
            ts("2026-01-03T09:00"),
            s["w1"],
            False,
            False,
        ),
        # Finished at the first terminal status, not the later `inactive`.
        (
            "github:acme/api:deployment:101",
            "production",
            "success",
            ts("2026-01-06T12:00"),
            s["m1"],
            False,
            False,
        ),
        (
            "github:acme/api:deployment:103",
            "staging",
            "success",
            ts("2026-01-08T10:45"),
            s["s2"],
            False,
            False,
        ),
        (
            "github:acme/api:deployment:102",
            "production",
            "success",
            ts("2026-01-08T12:00"),
            s["s2"],
            False,
            False,
        ),
        # Actions runs of "Deploy" on main; CI, the cancelled run, the run on another branch
        # and the run still in progress are not deployments.
        ("github:acme/api:run:9001", "production", "success", ts("2026-01-09T12:00"), s["h3"], True, False),
        ("github:acme/api:run:9003", "production", "failure", ts("2026-01-10T10:00"), s["f4"], False, False),
        ("github:acme/api:run:9005", "production", "success", ts("2026-01-10T11:00"), s["f4"], False, False),
        (
            "github:acme/api:deployment:104",
            "production",
            "success",
            ts("2026-01-12T12:00"),
            s["c2r"],
            False,
            False,
        ),
        ("github:acme/api:run:9006", "production", "success", ts("2026-01-13T10:30"), s["rv"], False, True),
        (
            "github:acme/web:tag:v1.1.0",
            "production",
            "success",
            ts("2026-01-15T09:00"),
            s["w2"],
            False,
            False,
        ),
    ]
    changes = q(
        sc.db, "SELECT sha, pr_number, deployment_id, committed_at FROM changes ORDER BY committed_at"
    )
    api = "github:acme/api:"
    assert changes == [
        # r0 is older than the window: the first deployment does not absorb it.
        (s["w1"], None, "github:acme/web:tag:v1.0.0", ts("2026-01-02T09:00")),
        (s["a1"], 1, api + "deployment:101", ts("2026-01-05T10:00")),
        (s["a2"], 1, api + "deployment:101", ts("2026-01-05T12:00")),
        # Squash merge: the pull request's own commits, not the squash commit.
        (s["b1"], 2, api + "deployment:102", ts("2026-01-07T09:00")),
        (s["b2"], 2, api + "deployment:102", ts("2026-01-07T15:00")),
        (s["h3"], None, api + "run:9001", ts("2026-01-09T08:00")),
        (s["f4"], None, api + "run:9005", ts("2026-01-10T09:00")),
        (s["w2"], None, "github:acme/web:tag:v1.1.0", ts("2026-01-10T09:00")),
        # Rebase merge: the original commits stand in for their rebased copies.
        (s["c1"], 3, api + "deployment:104", ts("2026-01-11T09:00")),
        (s["c2"], 3, api + "deployment:104", ts("2026-01-11T11:00")),
        (s["g5"], None, api + "deployment:104", ts("2026-01-11T20:00")),
        (s["rv"], None, api + "run:9006", ts("2026-01-13T09:00")),
    ]
    prs = q(
        sc.db,
        "SELECT number, author, created_at, merged_at, first_commit_at, first_review_at, approved_at, "
        "merge_sha, reviewers, labels FROM pull_requests ORDER BY number",
    )
    assert prs == [
        (
            1,
            "alice",
            ts("2026-01-05T12:30"),
            ts("2026-01-06T10:00"),
            ts("2026-01-05T10:00"),
            ts("2026-01-05T15:00"),
            ts("2026-01-06T09:00"),
            s["m1"],
            "bob;carol",
            "feature",
        ),
        (
            2,
            "bob",
            ts("2026-01-07T16:00"),
            ts("2026-01-08T10:00"),
            ts("2026-01-07T09:00"),
            ts("2026-01-08T09:00"),
            ts("2026-01-08T09:00"),
            s["s2"],
            "alice",
            None,
        ),
        # The author's own comment is not a review of the pull request.
        (
            3,
            "carol",
            ts("2026-01-11T12:00"),
            ts("2026-01-12T10:00"),
            ts("2026-01-11T09:00"),
            ts("2026-01-11T14:00"),
            ts("2026-01-12T09:30"),
            s["c2r"],
            "alice",
            "perf;refactor",
        ),
    ]  # PR 4 was merged into `release`, not the default branch
    assert q(sc.db, "SELECT number, review_id, reviewer, state FROM reviews ORDER BY review_id") == [
        (1, "501", "bob", "COMMENTED"),
        (1, "502", "bob", "APPROVED"),
        (2, "503", "alice", "APPROVED"),
        (3, "504", "alice", "CHANGES_REQUESTED"),
        (3, "505", "carol", "COMMENTED"),
        (3, "506", "alice", "APPROVED"),
    ]
    incidents = q(
        sc.db,
        # The window is the metric rule's, for every source (incident_deployments).
        "SELECT i.incident_id, i.opened_at, i.resolved_at, severity, a.deployment_id, "
        "coalesce(c.attributed_by, a.attributed_by) FROM incidents i "
        "JOIN github_incident_causes c USING (incident_id) "
        "JOIN incident_deployments a USING (incident_id) ORDER BY i.opened_at",
    )
    assert incidents == [
        # "Caused by #2": the deployment that shipped pull request 2.
        (
            "github:acme/api#10",
            ts("2026-01-08T20:00"),
            ts("2026-01-09T14:00"),
            "sev2",
            api + "deployment:102",
            "cause",
        ),
        # Nothing named: the last production deployment within 48 hours before it opened.
        (
            "github:acme/api#11",
            ts("2026-01-10T12:00"),
            ts("2026-01-10T15:00"),
            None,
            api + "run:9005",
            "window",
        ),
        # A short sha of a rebased commit: the deployment of exactly that sha.
        (
            "github:acme/api#15",
            ts("2026-01-12T13:00"),
            ts("2026-01-12T18:00"),
            None,
            api + "deployment:104",
            "cause",
        ),
        # No deployment within 48 hours: unattributed.
        ("github:acme/api#12", ts("2026-01-20T10:00"), None, "sev3", None, None),
    ]  # #13 is a pull request and #14 is not labelled incident
    with Warehouse(sc.db) as wh:
        counts = after_load(wh, load_config(sc.config_path), count_incidents=True).incidents
    assert counts == {"named": 2, "window": 1, "unattributed": 1}
    assert q(sc.db, "SELECT DISTINCT team FROM incidents") == [("payments",)]
    assert q(sc.db, "SELECT team, repo FROM teams ORDER BY repo") == [
        ("payments", "acme/api"),
        ("frontend", "acme/web"),
    ]
    assert result.counts["deployments"].new == 10 and result.counts["changes"].new == 12


def test_metrics_on_the_synced_fixture_equal_hand_computed_values(sc):
    sync(sc)
    cfg = load_config(sc.config_path)
    with Warehouse(sc.db) as wh:
        by_repo = {
            r["key"]: r
            for r in compute_metrics(
                wh, cfg.metrics, by="repo", period="month", since=date(2026, 1, 1), until=date(2026, 1, 31)
            )
        }
        org = compute_metrics(
            wh, cfg.metrics, by="org", period="month", since=date(2026, 1, 1), until=date(2026, 1, 31)
        )
    api, web = by_repo["acme/api"], by_repo["acme/web"]
    # acme/api: 6 successful production deployments and 1 failed run (failed_runs_count).
    assert api["deployments"] == 6 and api["production_deployments"] == 7
    # Its data begins with deployment 101 on 6 January: 26 covered days of the 31 (docs/metrics.md).
    assert (api["period_days"], api["complete"]) == (pytest.approx(26), False)
    assert api["deployments_per_week"] == pytest.approx(6 / (26 / 7))
    # Lead times (h): a1 26, a2 24, b1 27, b2 21, h3 4, f4 2, c1 27, c2 25, g5 16, rv 1.5.
    assert api["changes"] == 10
    assert api["lead_time_median_hours"] == pytest.approx(22.5)
    assert api["lead_time_p90_hours"] == pytest.approx(27.0)
    # Failed: 102 (incident #10), run 9003 (failed run), run 9005 (incident #11), 104 (#15).
    assert api["failed_deployments"] == 4 and api["change_fail_rate"] == pytest.approx(4 / 7)
    # Recovery (h): 102 -> #10 resolved 26, 9003 -> next success 1, 9005 -> #11 4, 104 -> #15 6.
    assert api["recovery_time_median_hours"] == pytest.approx(5.0)
    # Rework: the hotfix run 9001 and the revert run 9006.
    assert api["rework_deployments"] == 2 and api["rework_rate"] == pytest.approx(2 / 7)
    # acme/web: v1.0.0 ships w1 after 24 h, v1.1.0 ships w2 after 120 h.
    assert web["deployments"] == 2 and web["changes"] == 2 and web["failed_deployments"] == 0
    assert web["lead_time_median_hours"] == pytest.approx(72.0)
    assert web["lead_time_p90_hours"] == pytest.approx(24 + 0.9 * 96)
    [o] = org
    assert o["deployments"] == 8 and o["production_deployments"] == 9 and o["changes"] == 12
    assert o["change_fail_rate"] == pytest.approx(4 / 9) and o["lead_time_median_hours"] == pytest.approx(
        24.0
    )


def test_unchanged_resync_costs_at_most_two_counted_requests(sc):
    sync(sc)
    before = len(sc.fake.log)
    result = sync(sc)
    again = sc.fake.log[before:]
    counted = [e for e in again if e.counted]
    # Only the pull-request probes (GraphQL, 1 point each) and the 404 of the missing repo.
    assert sorted(e.target for e in counted) == ["/graphql", "/graphql", "/repos/acme/ghost"]
    per_repo = [e for e in counted if e.resource == "graphql"]
    assert len(per_repo) / 2 <= 2
    assert result.cost.graphql_points == 2 and result.cost.rest_points == 1
    assert result.cost.not_modified == sum(1 for e in again if e.status == 304) >= 10
    assert all(c.new == 0 and c.updated == 0 for c in result.counts.values())


def test_in_progress_run_is_picked_up_by_the_next_sync(sc):
    sync(sc)
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%run:9007'") == [(0,)]
    run = next(r for r in sc.fake.repos["acme/api"].runs if r["id"] == 9007)
    run.update(status="completed", conclusion="failure", updated_at="2026-01-14T09:40:00Z")
    result = sync(sc)
    assert q(sc.db, "SELECT status, finished_at FROM deployments WHERE deployment_id LIKE '%run:9007'") == [
        ("failure", ts("2026-01-14T09:40"))
    ]
    assert result.counts["deployments"].new == 1


def test_pending_deployment_finishes_later_and_a_later_inactive_changes_nothing(sc):
    fake = sc.fake
    fake.add_deployment(
        "acme/api",
        105,
        sc.sha["rv"],
        "production",
        "2026-01-14T12:00:00",
        [("queued", "2026-01-14T12:00:00"), ("in_progress", "2026-01-14T12:01:00")],
    )
    sync(sc)
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:105'") == [(0,)]
    fake.add_status("acme/api", 105, "error", "2026-01-14T12:30:00")
    sync(sc)
    fake.add_status("acme/api", 105, "success", "2026-01-14T13:00:00")
    fake.add_status("acme/api", 105, "inactive", "2026-01-15T13:00:00")
    sync(sc)
    # `error` was the first terminal status: a failure at 12:30, for good.
    assert q(sc.db, "SELECT status, finished_at FROM deployments WHERE deployment_id LIKE '%:105'") == [
        ("failure", ts("2026-01-14T12:30"))
    ]
    status_reads = [e.status for e in fake.requests("deployments/105/statuses")]
    assert status_reads == [200, 200]  # not read again once finished


def test_rest_fallback_gives_the_same_pull_requests(sc, tmp_path):
    sync(sc)
    rest_cfg = tmp_path / "rest.toml"
    rest_cfg.write_text(sc.config_path.read_text().replace("[github]\n", "[github]\ngraphql = false\n"))
    rest_db = tmp_path / "rest.duckdb"
    before = len(sc.fake.log)
    result = sync(sc, config=rest_cfg, db=rest_db)
    assert result.failures == []
    assert not [e for e in sc.fake.log[before:] if e.resource == "graphql"]
    # API version 2026-03-10 has no merge_commit_sha: the merged event gives it.
    assert len(sc.fake.requests(r"/issues/\d+/events")) == 3
    for table in ("pull_requests", "reviews", "changes"):
        sql = f"SELECT * EXCLUDE (source) FROM {table} ORDER BY ALL"
        assert q(rest_db, sql) == q(sc.db, sql), table


def test_since_bounds_the_first_backfill(sc):
    sync(sc, since=date(2026, 1, 9))
    assert q(sc.db, "SELECT min(finished_at) FROM deployments WHERE repo = 'acme/api'") == [
        (ts("2026-01-09T12:00"),)
    ]
    # The first deployment in the window ships only commits from the window.
    assert q(sc.db, "SELECT sha FROM changes WHERE deployment_id LIKE '%run:9001'") == [(sc.sha["h3"],)]
    assert q(sc.db, "SELECT count(*) FROM pull_requests") == [(1,)]  # only #3 was updated since


def test_full_refetches(sc):
    sync(sc)
    before = len(sc.fake.log)
    result = sync(sc, full=True)
    again = sc.fake.log[before:]
    assert sum(1 for e in again if e.status == 304) == 0
    assert len([e for e in again if "/statuses" in e.target]) == 4
    assert all(c.new == 0 for c in result.counts.values())


def test_releases_rule_and_org_discovery_with_globs(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    lib = GitRepo(tmp_path / "lib")
    one = lib.commit("One", "2026-01-02T09:00:00")
    two = lib.commit("Two", "2026-01-04T09:00:00")
    lib.tag("v2.0.0", one)
    lib.tag("v2.1.0-rc1", two)
    lib.tag("v2.1.0", two)
    for name in ("acme/lib", "acme/lib-old", "acme/site", "acme/tools"):
        fake.repo(name, clone_url=str(lib.path))
    fake.orgs["acme"] = ["acme/lib", "acme/lib-old", "acme/site", "acme/tools"]
    fake.add_release("acme/lib", 1, "v2.0.0", "2026-01-02T10:00:00")
    fake.add_release("acme/lib", 2, "v2.1.0-rc1", "2026-01-04T10:00:00", prerelease=True)
    fake.add_release("acme/lib", 3, "v2.1.0", "2026-01-05T10:00:00")
    fake.add_release("acme/lib", 4, "v3.0.0", None, draft=True)
    config = tmp_path / "dora.toml"
    config.write_text(f"""
[github]
api_url = "{fake.url}"
orgs = ["acme"]
include = ["acme/lib*", "acme/site"]
exclude = ["*-old"]
since = 2026-01-01
cache_dir = "{tmp_path / "cache"}"
[github.deployments]
use_deployments_api = false
[[github.deployments.tags]]
pattern = '^v\\d'
releases = true
environment = "prod"
[github.incidents]
labels = ["outage", "incident"]
""")
    with Warehouse(tmp_path / "db.duckdb") as wh:
        result = GitHubSync(wh, load_config(config), sleep=fake.clock.sleep, clock=fake.clock.time).run()
        rows = wh.con.execute(
            "SELECT deployment_id, environment, finished_at, sha FROM deployments ORDER BY finished_at"
        ).fetchall()
    assert sorted(result.scopes) == ["acme/lib", "acme/site"]
    assert rows == [
        ("github:acme/lib:release:v2.0.0", "prod", ts("2026-01-02T10:00"), one),
        ("github:acme/lib:release:v2.1.0", "prod", ts("2026-01-05T10:00"), two),
    ]
    assert not fake.requests("/deployments")  # use_deployments_api = false
    assert len(fake.requests("/repos/acme/lib/issues")) == 2  # one listing per incident label


def test_cli_missing_token_is_one_line_exit_2(sc):
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert done.code == 2
    assert done.stderr.strip().count("\n") == 0
    assert "GITHUB_TOKEN or GH_TOKEN" in done.stderr and "repo" in done.stderr


def test_cli_rejected_token_names_the_variable_exit_2(sc):
    text = sc.config_path.read_text().replace("[github]\n", '[github]\ntoken_env = "ACME_GH_TOKEN"\n')
    sc.config_path.write_text(text)
    done = run_cli("--config", str(sc.config_path), "sync", env={"ACME_GH_TOKEN": "ghp_revoked_0000000000"})
    assert done.code == 2
    assert "ACME_GH_TOKEN" in done.stderr and "401" in done.stderr and "scope" in done.stderr
    assert "Traceback" not in done.stderr and "ghp_revoked_0000000000" not in done.stderr + done.stdout


def test_cli_token_with_a_stray_carriage_return_is_refused_without_showing_it(sc):
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": "ghp_SECRETVALUE123\r\n"})
    # Surrounding whitespace is trimmed: the trimmed token is sent, the fake rejects it (401),
    # and the one-line error names the variable, never the token.
    assert done.code == 2 and "GITHUB_TOKEN" in done.stderr
    assert "ghp_SECRETVALUE123" not in done.stderr + done.stdout
    # An inner control character is refused before any request.
    inner = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": "ghp_SECRET\rVALUE123"})
    assert inner.code == 2
    assert inner.stderr.strip() == (
        "dora-impact: environment variable GITHUB_TOKEN: the token contains spaces or control "
        "characters; set it to the token alone"
    )


def test_cli_token_missing_a_permission_is_exit_2_naming_it(sc):
    sc.fake.fault(r"/repos/acme/api/actions/workflows/\d+/runs", "forbidden", times=99)
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": TOKEN})
    assert done.code == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "GITHUB_TOKEN" in lines[-1] and "the token needs actions=read" in lines[-1]
    assert TOKEN not in done.stderr + done.stdout


def test_cli_partial_failure_exit_3_and_the_rest_is_synced(sc):
    sc.fake.fault(r"/repos/acme/api/actions/workflows/\d+/runs", "malformed", times=99)
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": TOKEN})
    assert done.code == 3, done.stderr
    assert "acme/api workflow_runs" in done.stderr and "unexpected payload" in done.stderr
    assert "partial failure" in done.stderr
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:run:%'") == [(0,)]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:deployment:%'") == [(4,)]
    assert q(sc.db, "SELECT count(*) FROM incidents") == [(4,)]
    # Summary numbers are printed.
    assert "requests:" in done.stdout and "rate-limit points used:" in done.stdout and "304" in done.stdout


def test_answer_that_is_not_json_fails_that_resource_only_and_is_retried_next_sync(sc):
    # A body cut short where a repository's metadata and a deployments page should be.
    sc.fake.fault(r"^GET /repos/acme/web$", "not-json", times=99)
    sc.fake.fault(r"^GET /repos/acme/api/deployments\?", "not-json", times=99)
    result = sync(sc)
    failed = {(f.scope, f.resource): f.message for f in result.failures}
    assert sorted(failed) == [("acme/api", "deployments"), ("acme/web", "repository")]
    # Each message names the endpoint, in one line.
    assert failed["acme/web", "repository"].startswith("GET /repos/acme/web: answer is not JSON")
    assert failed["acme/api", "deployments"].startswith("GET /repos/acme/api/deployments?")
    assert "answer is not JSON" in failed["acme/api", "deployments"]
    # The rest completed: acme/api's runs and incidents are stored, nothing of acme/web.
    assert result.scopes == ["acme/api"]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:deployment:%'") == [(0,)]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:run:%'") != [(0,)]
    assert q(sc.db, "SELECT count(*) FROM incidents") == [(4,)]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE repo = 'acme/web'") == [(0,)]
    # The failed parts' cursors were not advanced: the next sync fetches them whole.
    sc.fake.faults.clear()
    again = sync(sc)
    assert again.failures == []
    assert sorted(again.scopes) == ["acme/api", "acme/web"]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE deployment_id LIKE '%:deployment:%'") == [(4,)]
    assert q(sc.db, "SELECT count(*) FROM deployments WHERE repo = 'acme/web'") != [(0,)]


def test_cli_answer_that_is_not_json_is_a_partial_failure_exit_3(sc):
    sc.fake.fault(r"^GET /repos/acme/web$", "not-json", times=99)
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": TOKEN})
    assert done.code == 3, done.stderr
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    assert "acme/web repository: GET /repos/acme/web: answer is not JSON" in done.stderr
    assert "partial failure" in done.stderr
    assert q(sc.db, "SELECT count(*) FROM incidents") == [(4,)]


def test_token_never_reaches_output_database_or_clone(sc, tmp_path):
    done = run_cli("--config", str(sc.config_path), "sync", env={"GITHUB_TOKEN": TOKEN})
    assert done.code == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert TOKEN.encode() not in sc.db.read_bytes()
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def _keys(model: type) -> set[str]:
    """Every config key of a pydantic model, nested models included."""
    import typing

    from pydantic import BaseModel

    keys = set()
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        keys.add(name)
        for arg in (f.annotation, *typing.get_args(f.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    keys |= _keys(inner)
    return keys


def test_example_config_is_valid_and_shows_every_key():
    from dora_impact.config import Config

    path = Path(__file__).resolve().parents[1] / "config" / "dora.example.toml"
    config = load_config(path)
    assert config.github is not None and config.github.deployments.workflows and config.initiatives
    text = path.read_text()
    missing = sorted(
        k
        for k in _keys(Config)
        if f"{k} =" not in text
        and f"[{k}]" not in text
        and f"[[{k}]]" not in text
        and f".{k}]" not in text
        and f"{k} = " not in text
    )
    assert missing == []


def test_faults_on_the_way_change_nothing_in_the_result(sc, tmp_path):
    """502s, a dropped connection, secondary limits and a spent primary limit mid-sync: the
    sync waits and retries (on the injected clock) and stores exactly what a clean one does."""
    clean_db = tmp_path / "clean.duckdb"
    sync(sc, db=clean_db)
    fake = sc.fake
    fake.fault(r"/deployments/102/statuses", "502", times=2)
    fake.fault(r"/actions/workflows/\d+/runs", "drop")
    fake.fault(r"/actions/workflows/\d+/runs", "secondary", retry_after=30)
    fake.fault(r"POST /graphql", "exhaust", reset_in=120)
    fake.fault(r"/issues\?labels=incident", "secondary-no-retry-after")
    fake.fault(r"/repos/acme/web/deployments", "502")
    slept_before = len(fake.clock.slept)
    result = sync(sc, full=True, db=tmp_path / "faulty.duckdb")
    assert result.failures == []
    slept = fake.clock.slept[slept_before:]
    assert sorted(slept) == [1, 1, 1, 2, 30, 60, 121]
    assert result.cost.waited_seconds == sum(slept)
    for table in ("deployments", "changes", "pull_requests", "reviews", "incidents", "teams"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert q(tmp_path / "faulty.duckdb", sql) == q(clean_db, sql), table


def test_graphql_missing_falls_back_to_rest(sc, tmp_path):
    sc.fake.fault("POST /graphql", "notfound", times=99)
    result = sync(sc)
    assert result.failures == []
    assert q(sc.db, "SELECT number, merge_sha FROM pull_requests ORDER BY number") == [
        (1, sc.sha["m1"]),
        (2, sc.sha["s2"]),
        (3, sc.sha["c2r"]),
    ]
    assert len(sc.fake.requests(r"/pulls/\d+/reviews")) == 3


def test_ghes_urls():
    from collectors.github.config import GitHubConfig

    ghes = GitHubConfig(api_url="https://github.example.com/api/v3/")
    assert ghes.api_url == "https://github.example.com/api/v3"
    assert ghes.graphql_endpoint() == "https://github.example.com/api/graphql"
    assert GitHubConfig().graphql_endpoint() == "https://api.github.com/graphql"
    assert GitHubConfig(graphql_url="http://127.0.0.1:9/gql").graphql_endpoint() == "http://127.0.0.1:9/gql"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("Caused by #123", ("pull_request", "123", "o/r")),
        ("This was introduced by acme/other#9 last week", ("pull_request", "9", "acme/other")),
        ("root cause: 1a2b3c4d5e6f", ("sha", "1a2b3c4d5e6f", "o/r")),
        ("Regressed by DEADBEEF12", ("sha", "deadbeef12", "o/r")),
        ("Bad deploy https://github.com/o/r/actions/runs/30433642", ("run", "30433642", "o/r")),
        (
            "see https://api.github.com/repos/acme/api/deployments/77 for details",
            ("deployment", "77", "acme/api"),
        ),
        ("Caused by https://github.com/acme/api/pull/5", ("pull_request", "5", "acme/api")),
        (
            "Caused by this commit: https://github.com/acme/api/commit/0123456789abcdef",
            ("sha", "0123456789abcdef", "acme/api"),
        ),
        ("Related to #12 and 1a2b3c4d5e6f, cause unknown", None),  # no cause words before them
        # An explicit cause wins over a link merely mentioned (the rollback run).
        (
            "Caused by #41. Mitigation: rolled back with https://github.com/o/r/actions/runs/9",
            ("pull_request", "41", "o/r"),
        ),
        ("Caused by PR #41", ("pull_request", "41", "o/r")),
        ("Introduced by commit 4a1b2c3", ("sha", "4a1b2c3", "o/r")),
        ("Caused by ACME/Shop#41", ("pull_request", "41", "acme/shop")),  # GitHub ignores case
        ("Not caused by #41; see https://github.com/o/r/actions/runs/9", ("run", "9", "o/r")),
        ("This was not caused by #41.", None),
        ("Root cause: #7", ("pull_request", "7", "o/r")),
        ("", None),
    ],
)
def test_cause_parsing(body, expected):
    from collectors.causes import parse_cause

    cause = parse_cause(body, "o/r")
    assert (None if cause is None else (cause.kind, cause.ref, cause.repo)) == expected


def test_rules_first_terminal_status_conclusions_and_workflow_matching():
    from collectors.config import WorkflowRule
    from collectors.github import rules

    statuses = [
        {"state": "inactive", "created_at": "2026-01-03T00:00:00Z"},
        {"state": "success", "created_at": "2026-01-02T00:00:00Z"},
        {"state": "error", "created_at": "2026-01-01T12:00:00Z"},
        {"state": "in_progress", "created_at": "2026-01-01T00:00:00Z"},
    ]
    assert rules.first_terminal(statuses) == ("failure", ts("2026-01-01T12:00"))
    assert rules.first_terminal(statuses[:1]) is None  # inactive alone never finishes one
    assert [
        rules.RUN_CONCLUSIONS.get(c)
        for c in ("success", "failure", "timed_out", "startup_failure", "cancelled", "skipped")
    ] == ["success", "failure", "failure", "failure", None, None]
    rule = WorkflowRule(path=r"deploy\.yml$", event="^push$", environment="prod")
    run = {
        "name": "Anything",
        "path": ".github/workflows/deploy.yml@main",
        "head_branch": "x",
        "event": "push",
    }
    assert rules.workflow_rule([WorkflowRule(name="^Other$"), rule], run) is rule
    assert rules.workflow_rule([rule], {**run, "event": "schedule"}) is None


def test_cli_nothing_to_sync_and_bad_rules_are_exit_2(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("[metrics]\nfailed_runs_count = true\n")
    done = run_cli("--config", str(empty), "sync", db=tmp_path / "x.duckdb")
    assert done.code == 2 and "add a [github], [gitlab] or [pagerduty] section" in done.stderr and "--git" in done.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[github]\nrepos = ["acme/api"]\n[[github.deployments.workflows]]\nname = "(unclosed"\n')
    done = run_cli("--config", str(bad), "sync", db=tmp_path / "x.duckdb")
    assert done.code == 2
    assert "key github.deployments.workflows.0.name" in done.stderr and "regular expression" in done.stderr


def test_a_failed_pull_request_stream_makes_the_next_sync_walk_the_graph_again(sc):
    sc.fake.fault(r"/graphql|/pulls", "malformed", times=999)
    first = sync(sc)
    assert any(f.resource == "pull_requests" for f in first.failures)
    s = sc.sha
    # Without its pull request, the squash commit stood for itself.
    assert q(sc.db, f"SELECT deployment_id FROM changes WHERE sha = '{s['s2']}'") == [
        ("github:acme/api:deployment:102",)
    ]
    sc.fake.faults.clear()
    second = sync(sc)
    assert second.failures == []
    # The graph was walked again: the pull request's own commits, timed from when they were
    # written, stand in for the squash commit, whose attribution is cleared.
    assert q(
        sc.db,
        "SELECT sha, deployment_id FROM changes WHERE pr_number = 2 OR sha = "
        f"'{s['s2']}' ORDER BY committed_at",
    ) == [
        (s["b1"], "github:acme/api:deployment:102"),
        (s["b2"], "github:acme/api:deployment:102"),
        (s["s2"], None),
    ]
