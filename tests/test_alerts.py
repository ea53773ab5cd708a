"""`alert` over a sequence of weekly runs, posting to a real local HTTP server.

The org (deployments only, evenly spread Monday to Friday): teams pay, web and ops deploy 20
times a week from week 0 (Mon 2 Mar 2026, ISO 2026-W10). pay then deploys 10 a week in weeks
12-15, 5 a week in weeks 16-17, and 20 again from week 18. Each run is pinned to a Monday, so
its last complete week is the week before.

By hand (pay against the rest of the org, x = log((pay + 0.5) / (rest + 0.5))): the baseline is
log(20.5 / 40.5); weeks at 10 give log(10.5 / 40.5), at 5 log(5.5 / 40.5).
  run after week 15: recent 12-15 -> change exp(log(10.5/20.5)) - 1 = -48.8%: a regression;
  after week 16: recent 13-16 -> -56.4%, under 10 points worse than notified: silent;
  after week 17: recent 14-17 -> -62.9%: worsened;
  after week 21: recent 18-21 -> 0%: recovered.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from typer.testing import CliRunner
from werkzeug import Response

from dora_impact.cli import app
from tests.conftest import dump_tables, run_cli, write
from warehouse import Warehouse
from warehouse.alerts import judge, quiet_weeks

WEEK0 = date(2026, 3, 2)
SECRET = "T000/B000/s3cr3tXYZ"


def per_week(team: str, week: int) -> int:
    if team != "pay":
        return 20
    return 10 if 12 <= week <= 15 else 5 if week in (16, 17) else 20


def build(tmp_path, db, weeks=22):
    lines = ["deployment_id,repo,environment,status,finished_at"]
    for team in ("pay", "web", "ops"):
        for week in range(weeks):
            count = per_week(team, week)
            monday = datetime.combine(WEEK0 + timedelta(weeks=week), datetime.min.time(), tzinfo=UTC)
            for i in range(count):
                at = monday + timedelta(hours=6 + i * (5 * 24 - 12) / count)
                lines.append(f"{team}-{week}-{i},acme/{team},production,success,{at.isoformat()}")
    files = [
        write(tmp_path / "teams.csv", "team,repo\npay,acme/pay\nweb,acme/web\nops,acme/ops\n"),
        write(tmp_path / "deployments.csv", "\n".join(lines) + "\n"),
    ]
    from collectors.files import read_import

    with Warehouse(db) as wh:
        wh.load(read_import(files))
    return db


def monday_after(week: int) -> datetime:
    return datetime.combine(WEEK0 + timedelta(weeks=week + 1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)


def alert(db, week, env, *extra):
    with time_machine.travel(monday_after(week), tick=False):
        result = CliRunner().invoke(app, ["--db", str(db), "alert", *extra], env=env, catch_exceptions=False)
    return result


@pytest.fixture
def org(tmp_path, db):
    return build(tmp_path, db)


@pytest.fixture
def receiver(httpserver):
    """The Slack and generic webhook endpoints; `fail` makes them answer 500."""
    state = {"fail": False, "posts": []}

    def handle(request):
        if state["fail"]:
            return Response("down", status=500)
        state["posts"].append((request.path, request.get_json()))
        return Response("ok", status=200)

    httpserver.expect_request(f"/services/{SECRET}", method="POST").respond_with_handler(handle)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    state["env"] = {
        "SLACK_WEBHOOK_URL": httpserver.url_for(f"/services/{SECRET}"),
        "DORA_IMPACT_WEBHOOK_URL": httpserver.url_for("/hook"),
    }
    return state


def slack_texts(receiver):
    return [body["text"] for path, body in receiver["posts"] if path.startswith("/services")]


def test_first_alert_silence_worsening_recovery(org, receiver):
    env = receiver["env"]
    first = alert(org, 15, env)
    assert first.exit_code == 1, first.output
    assert slack_texts(receiver) == [
        "Deployment frequency fell 49% for team pay since 2026-W22: 10.0/week against 20.0/week "
        "in 2026-W10..2026-W21."
    ]
    slack = receiver["posts"][0][1]
    assert slack["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Delivery regression",
                                                              "emoji": True}}
    hook = next(body for path, body in receiver["posts"] if path == "/hook")
    assert (hook["event"], hook["scope"], hook["key"], hook["metric"], hook["since_week"]) == (
        "regression", "team", "pay", "deployment_frequency", "2026-W22")
    assert hook["change"] == pytest.approx(10.5 / 20.5 - 1)
    assert (hook["recent_value"], hook["baseline_value"]) == (10.0, 20.0)

    silent = alert(org, 16, env)
    assert silent.exit_code == 1 and len(receiver["posts"]) == 2  # open, not worse by 10 points

    worse = alert(org, 17, env)
    assert worse.exit_code == 1
    texts = slack_texts(receiver)
    assert len(texts) == 2 and texts[1].startswith("Deployment frequency fell further 63% for team pay since 2026-W22")
    change = math.exp((2 * math.log(10.5 / 40.5) + 2 * math.log(5.5 / 40.5)) / 4 - math.log(20.5 / 40.5)) - 1
    assert receiver["posts"][-1][1]["change"] == pytest.approx(change)

    recovered = alert(org, 21, env)
    assert recovered.exit_code == 0
    texts = slack_texts(receiver)
    assert len(texts) == 3 and texts[2].startswith("Recovered: deployment frequency for team pay is back to 20.0/week")
    assert alert(org, 21, env).exit_code == 0 and len(slack_texts(receiver)) == 3  # nothing twice
    # The secret part of the URL is in no output and nowhere in the database.
    for output in (first.output, worse.output, recovered.output):
        assert SECRET not in output
    assert SECRET not in repr(dump_tables(org))


def test_a_failing_receiver_gets_the_alert_once_when_it_recovers(org, receiver):
    receiver["fail"] = True
    failed = alert(org, 15, receiver["env"])
    assert failed.exit_code == 1
    assert "NOT delivered to slack (HTTP 500)" in failed.output and SECRET not in failed.output
    assert receiver["posts"] == []
    with Warehouse(org, read_only=True) as wh:
        attempts = wh.con.execute("SELECT channel, attempts, delivered_at FROM alert_outbox ORDER BY id").fetchall()
    assert attempts == [("slack", 3, None), ("webhook", 3, None)]  # retried, kept

    receiver["fail"] = False
    again = alert(org, 15, receiver["env"])
    assert again.exit_code == 1
    assert [path for path, _ in receiver["posts"]] == [f"/services/{SECRET}", "/hook"]
    assert alert(org, 15, receiver["env"]).exit_code == 1 and len(receiver["posts"]) == 2


def test_dry_run_prints_and_changes_nothing(org, receiver):
    assert alert(org, 15, receiver["env"]).exit_code == 1
    before = dump_tables(org)
    dry = alert(org, 17, receiver["env"], "--dry-run", "--format", "json")
    assert dry.exit_code == 1
    report = json.loads(dry.output)
    assert [e["event"] for e in report["events"]] == ["worsened"]
    assert [w["channel"] for w in report["would_send"]] == ["slack", "webhook"]
    assert dump_tables(org) == before and len(receiver["posts"]) == 2


def test_too_little_data_is_skipped_not_alarmed(org):
    report = json.loads(alert(org, 15, {}, "--format", "json").output)
    skipped = {(s["rule"].split("-")[0], s["key"]) for s in report["skipped"]}
    # No changes at all: every lead-time series is skipped; no channel configured: nothing sent.
    assert ("lead_time", "pay") in skipped and ("lead_time", "org") in skipped
    assert report["channels"] == [] and [o["key"] for o in report["open"]] == ["pay"]


def test_an_org_wide_quiet_week_pages_nobody(tmp_path, db):
    """Every team deploys a quarter as often in week 14 (a holiday): no team, no org alert."""
    build(tmp_path, db, weeks=16)
    with Warehouse(db) as wh:
        wh.con.execute("DELETE FROM deployments WHERE deployment_id LIKE '%-14-%' "
                       "AND CAST(split_part(deployment_id, '-', 3) AS INTEGER) % 4 <> 0")
        wh.con.execute("DELETE FROM deployments WHERE deployment_id LIKE 'pay-%' "
                       "AND CAST(split_part(deployment_id, '-', 2) AS INTEGER) >= 12")
        for week in range(12, 16):  # pay back to 20 a week: only the holiday remains
            for i in range(20 if week != 14 else 5):
                at = monday_after(week - 1) + timedelta(hours=i)
                wh.con.execute("INSERT INTO deployments (deployment_id, repo, environment, status, finished_at) "
                               "VALUES (?, 'acme/pay', 'production', 'success', ?)", [f"p{week}-{i}", at])
    result = alert(db, 15, {}, "--format", "json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["open"] == [], report


def test_quiet_weeks_and_judgement_by_hand():
    counts = [60.0] * 12 + [60, 15, 60, 60]
    assert quiet_weeks(counts, 4).tolist() == [False] * 13 + [True, False, False]
    # Most of the recent window quiet: a lasting dip, judged, not hidden.
    assert not quiet_weeks([60.0] * 12 + [15, 15, 15, 60], 4).any()
    x = [0.0] * 12 + [-0.5] * 4
    j = judge(__import__("numpy").array(x), 4, 0.2, "fall", noise_floor=0.1)
    assert j.status == "regressed" and j.change == pytest.approx(math.exp(-0.5) - 1)
    assert j.z == pytest.approx(-0.5 / (0.1 * math.sqrt(1 / 4 + (math.pi / 2) / 12)))
    assert judge(__import__("numpy").array(x), 4, 0.5, "fall", noise_floor=0.1).status == "ok"  # too small


def test_bad_alert_config_is_exit_2(tmp_path, org):
    config = write(tmp_path / "dora.toml", '[[alerts.rules]]\nmetric = "uptime"\n')
    result = run_cli("--config", str(config), "alert", db=org)
    assert result.code == 2
    assert result.stderr.startswith("dora-impact: ") and "alerts.rules.0.metric" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_org_expects_last_years_seasonal_lull():
    """300 deployments a week, 216 (x0.72) in the 4 recent weeks, as in the same weeks a year
    ago: with last year's weeks the org is not alarmed; without them it is (-28%)."""
    import numpy as np

    from warehouse.alerts import judge_series

    this_year = np.array([300.0] * 12 + [216.0] * 4)
    quiet = np.zeros(16, dtype=bool)
    args = ("deployment_frequency", this_year, this_year, quiet, 4, 0.2, "fall", True)
    alone = judge_series(*args)
    assert alone.status == "regressed" and alone.change == pytest.approx(216.5 / 300.5 - 1)
    seasonal = judge_series(*args, last_year=(this_year * 0.95, this_year * 0.95, this_year * 0.95))
    assert seasonal.status == "ok"
    assert seasonal.change == pytest.approx((216.5 / 300.5) / ((216 * 0.95 + 0.5) / (300 * 0.95 + 0.5)) - 1)
