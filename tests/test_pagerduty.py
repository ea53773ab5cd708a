"""PagerDuty incidents against a local PagerDuty (documented response shapes): windows of at
most six months, offset pagination with `more`, the offset cap handled by narrowing the
window, 429 and 5xx, resolution from log entries, open incidents re-read, explicit causes; and
the metrics they give equal hand-computed values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from collectors.pagerduty import sync as pd_sync
from collectors.pagerduty.config import PagerDutyService
from collectors.pagerduty.sync import PagerDutySync, named_deployment
from collectors.shipping import load_rows
from dora_impact.config import load_config
from tests.conftest import run_cli, write
from tests.pagerduty_fake import TOKEN, FakePagerDuty
from warehouse import Warehouse
from warehouse.metrics import prepare

NOW = datetime(2026, 4, 1, tzinfo=UTC).timestamp()


def deployments() -> list[dict]:
    return [
        {"deployment_id": f"dep-{n}", "repo": "acme/shop", "environment": "production", "status": "success",
         "finished_at": datetime(2026, 3, 2 + 7 * (n - 1), 10, tzinfo=UTC), "sha": f"{n:040x}"}
        for n in range(1, 5)
    ]


@pytest.fixture
def setup(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
    monkeypatch.setattr(pd_sync, "PAGE", 2)  # pages of 2: `more` at every edge
    monkeypatch.setattr(pd_sync, "OFFSET_CAP", 4)  # 3+ pages in one window: narrow it
    fake = FakePagerDuty(offset_cap=4).attach(httpserver)
    fake.add_incident("P1", "PSHOP", "2026-03-09T11:00:00Z", resolved="2026-03-09T13:00:00Z",
                      title="Checkout errors after deploy, deployment_id: dep-2")
    fake.add_incident("P2", "PSHOP", "2026-03-16T12:00:00Z", resolved=None, log_resolved="2026-03-16T15:00:00Z",
                      title="Latency spike (deployment_id=dep-3)", priority=None)
    fake.add_incident("P3", "PSHOP", "2026-03-20T08:00:00Z", resolved="2026-03-20T09:00:00Z",
                      title="Disk full on a batch host")
    fake.add_incident("P4", "PSHOP", "2026-03-25T08:00:00Z", status="triggered", title="Still burning")
    fake.add_incident("P5", "PSHOP", "2025-08-01T08:00:00Z", resolved="2025-08-01T09:00:00Z", title="Old one")
    fake.add_incident("P6", "PSHOP", "2026-01-15T08:00:00Z", resolved="2026-01-15T08:30:00Z", title="DNS")
    fake.add_incident("X1", "POTHER", "2026-03-10T08:00:00Z", resolved="2026-03-10T09:00:00Z")
    config = write(tmp_path / "dora.toml", f"""
[pagerduty]
api_url = "{fake.url}"
since = 2025-06-01

[[pagerduty.services]]
id = "PSHOP"
repos = ["acme/shop"]

[teams]
payments = ["acme/shop"]
""")
    db = tmp_path / "d.duckdb"
    with Warehouse(db) as wh:
        load_rows(wh, {"deployments": deployments(), "teams": [{"team": "payments", "repo": "acme/shop"}]},
                  "import", [])
    return fake, load_config(config), db, config


def run(fake, config, db, slept, now: float = NOW):
    with Warehouse(db) as wh:
        return PagerDutySync(wh, config, sleep=slept.append, clock=lambda: now).run()


def test_incidents_windows_pages_faults_and_resolution(setup):
    fake, config, db, _ = setup
    fake.faults = [(r"^/incidents\?", "429"), (r"/log_entries", "500")]
    slept: list[float] = []
    result = run(fake, config, db, slept)
    assert not result.failures
    assert slept[0] == 8.0  # ratelimit-reset 7 s, plus one; then 1 s back-off for the 500
    windows = {(q.split("since=")[1].split("&")[0], q.split("until=")[1].split("&")[0])
               for q, _ in fake.log if q.startswith("/incidents?")}
    for since, until in windows:
        days = (datetime.fromisoformat(until) - datetime.fromisoformat(since)).days
        assert days <= 180
    assert ("2025-06-01T00:00:00Z", "2025-11-28T00:00:00Z") in windows
    # The second window holds 5 incidents (offset 4 needed at 2 a page, past the cap of 4): halved.
    assert ("2025-11-28T00:00:00Z", "2026-01-29T00:00:00Z") in windows
    assert ("2026-01-29T00:00:00Z", "2026-04-01T00:00:00Z") in windows
    assert not any(status == 400 for _, status in fake.log)
    with Warehouse(db, read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT incident_id, opened_at::VARCHAR, resolved_at::VARCHAR, repo, team, severity, deployment_id, "
            "source, url FROM incidents ORDER BY 1").fetchall()
    assert rows == [
        ("pagerduty:P1", "2026-03-09 11:00:00+00", "2026-03-09 13:00:00+00", "acme/shop", "payments", "p2",
         "dep-2", "pagerduty", "https://subdomain.pagerduty.com/incidents/P1"),
        ("pagerduty:P2", "2026-03-16 12:00:00+00", "2026-03-16 15:00:00+00", "acme/shop", "payments", "high",
         "dep-3", "pagerduty", "https://subdomain.pagerduty.com/incidents/P2"),
        ("pagerduty:P3", "2026-03-20 08:00:00+00", "2026-03-20 09:00:00+00", "acme/shop", "payments", "p2",
         None, "pagerduty", "https://subdomain.pagerduty.com/incidents/P3"),
        ("pagerduty:P4", "2026-03-25 08:00:00+00", None, "acme/shop", "payments", "p2",
         None, "pagerduty", "https://subdomain.pagerduty.com/incidents/P4"),
        ("pagerduty:P5", "2025-08-01 08:00:00+00", "2025-08-01 09:00:00+00", "acme/shop", "payments", "p2",
         None, "pagerduty", "https://subdomain.pagerduty.com/incidents/P5"),
        ("pagerduty:P6", "2026-01-15 08:00:00+00", "2026-01-15 08:30:00+00", "acme/shop", "payments", "p2",
         None, "pagerduty", "https://subdomain.pagerduty.com/incidents/P6"),
    ]  # X1 belongs to a service the config does not list


def test_open_incident_is_read_again_until_it_resolves(setup):
    fake, config, db, _ = setup
    run(fake, config, db, [])
    p4 = next(i for i in fake.incidents if i["id"] == "P4")
    p4.update(status="resolved", resolved_at="2026-03-25T10:30:00Z")
    start = len(fake.log)
    run(fake, config, db, [])
    assert ("/incidents/P4", 200) in fake.log[start:]
    with Warehouse(db, read_only=True) as wh:
        state = json.loads(wh.cursor("pagerduty", "PSHOP", "incidents").cursor)
        resolved = wh.scalar("SELECT resolved_at::VARCHAR FROM incidents WHERE incident_id = 'pagerduty:P4'")
    assert state["open"] == [] and resolved == "2026-03-25 10:30:00+00"
    # A third sync, an hour later, reads only the (empty) new window.
    start = len(fake.log)
    run(fake, config, db, [], now=NOW + 3600)
    assert [q.split("?")[0] for q, _ in fake.log[start:]] == ["/incidents"]


def test_metrics_on_the_pagerduty_fixture_equal_hand_computed_values(setup):
    fake, config, db, config_path = setup
    run(fake, config, db, [])
    done = run_cli("--config", str(config_path), "metrics", "--by", "team", "--period", "month",
                   "--since", "2026-03-01", "--until", "2026-03-31", "--format", "json", db=db)
    assert done.code == 0, done.stderr
    march = next(r for r in json.loads(done.stdout) if r["period"] == "2026-03")
    # 4 production deployments; dep-2 caused P1 (resolved 3 h after dep-2 finished) and dep-3
    # caused P2 (resolved, by its log entry, 5 h after dep-3 finished). P4 names no deployment
    # and opened 46 h after dep-4 (inside the 48 h window rule): dep-4 failed too, still
    # unrecovered. P3 opened 94 h after dep-3, outside the window: nobody's. 3 of 4 failed,
    # median recovery of the recovered two 4 h.
    assert (march["key"], march["deployments"], march["failed_deployments"]) == ("payments", 4, 3)
    assert march["change_fail_rate"] == pytest.approx(0.75)
    assert march["recovery_time_median_hours"] == pytest.approx(4.0)


def test_rejected_token_is_one_line_exit_2(setup, monkeypatch):
    fake, config, db, config_path = setup
    done = run_cli("--config", str(config_path), "sync", db=db, env={"PAGERDUTY_TOKEN": "wrong-token-123"})
    assert done.code == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("dora-impact: PagerDuty rejected the token in PAGERDUTY_TOKEN")
    assert "wrong-token-123" not in done.stderr + done.stdout


def test_named_deployment_forms():
    svc = PagerDutyService(id="P", repos=["acme/shop"])
    assert named_deployment({"title": "boom deployment_id: argo:shop:42."}, svc) == "argo:shop:42"
    assert named_deployment({"description": "Caused by https://github.com/acme/shop/actions/runs/99"}, svc) == (
        "github:acme/shop:run:99")
    assert named_deployment({"title": "Disk full"}, svc) is None


def test_a_service_mapped_to_a_team_is_attributed_to_that_teams_deployments_by_the_window(setup, tmp_path):
    fake, _, db, _ = setup
    # PTEAM serves the payments team (its repositories: acme/shop); PNONE a team that deploys
    # nothing here.
    fake.add_incident("T1", "PTEAM", "2026-03-09T12:00:00Z", resolved="2026-03-09T14:00:00Z", title="Errors")
    fake.add_incident("T2", "PTEAM", "2026-03-28T12:00:00Z", resolved="2026-03-28T13:00:00Z", title="Slow")
    fake.add_incident("T3", "PNONE", "2026-03-09T12:00:00Z", resolved="2026-03-09T13:00:00Z", title="Down")
    config = load_config(write(tmp_path / "team.toml", f"""
[pagerduty]
api_url = "{fake.url}"
since = 2026-03-01

[[pagerduty.services]]
id = "PTEAM"
team = "payments"

[[pagerduty.services]]
id = "PNONE"
team = "search"

[teams]
payments = ["acme/shop"]
"""))
    run(fake, config, db, [])
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        rows = wh.con.execute(
            "SELECT incident_id, deployment_id, attributed_by FROM incident_deployments "
            "WHERE incident_id LIKE 'pagerduty:T%' ORDER BY 1").fetchall()
        failed = wh.con.execute(
            "SELECT deployment_id, recovery_hours FROM prod_deployments WHERE failed ORDER BY 1").fetchall()
    # T1 opened 2 h after dep-2 (2026-03-09 10:00), within the 48 h window: dep-2 failed and
    # recovered when T1 resolved (4 h). T2 came 4 days after dep-4: outside the window. T3's team
    # has no deployment.
    assert rows == [("pagerduty:T1", "dep-2", "window"), ("pagerduty:T2", None, None),
                    ("pagerduty:T3", None, None)]
    assert failed == [("dep-2", 4.0)]
