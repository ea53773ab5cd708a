"""`alert` over a sequence of weekly runs, posting to a real local HTTP server.

The org (deployments only, evenly spread Monday to Friday): teams pay, web and ops deploy 20
times a week from week 0 (Mon 2 Mar 2026, ISO 2026-W10). pay then deploys 10 a week in weeks
30-35, 3 a week in weeks 36-39, and 20 again from week 40. Each run is pinned to a Monday, so
its last complete week is the week before.

By hand (warehouse/alert_detect.py; pay's deployments out of the org's, a binomial share):
the baseline is weeks 0-29 (all the history, under a year), share p0 = 20/60 = 1/3 with no
overdispersion (phi = 1, every week alike). The rule's change is a 25% fall; the two CUSUMs are
designed for odds x 0.75 and x 0.75^2: p1 = 0.375/1.375 and p2 = 0.28125/1.28125. A week of pay
10 out of 50 adds to the larger CUSUM 10 ln(p2/p0) + 40 ln((1-p2)/(1-p0)) = 2.128; pay deploys
20 a week in its baseline: the threshold of that volume band (20 or more a week), 7.64, is
crossed in the 4th such week, week 33 (3 x 2.128 = 6.38, 4 x 2.128 = 8.51), with the change
since week 30 an odds ratio of (10/40)/(1/2) - 1 = -50%.
  after week 38: since week 30 the odds are 69/360 against 1/2: -61.7%, over 10 points worse:
  worsened (after week 37 it is -58.75%: silent);
  from week 40 (20 out of 60) each week adds -(20 ln(p1/p0) + 40 ln((1-p1)/(1-p0))) = 0.533
  to the recovery CUSUM, which closes at half the threshold (3.82) in the 8th week, week 47
  (7 x 0.533 = 3.73): recovered.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import time_machine
from typer.testing import CliRunner
from werkzeug import Response

from dora_impact.cli import app
from tests.conftest import dump_tables, run_cli, write
from warehouse import Warehouse
from warehouse.alert_detect import THRESHOLD, VOLUME_BANDS, detect, quiet_mask

WEEK0 = date(2026, 3, 2)
SECRET = "T000/B000/s3cr3tXYZ"


def per_week(team: str, week: int) -> int:
    if team != "pay":
        return 20
    return 10 if 30 <= week <= 35 else 3 if 36 <= week <= 39 else 20


def build(tmp_path, db, weeks=48, count=per_week, week0=WEEK0):
    lines = ["deployment_id,repo,environment,status,finished_at"]
    for team in ("pay", "web", "ops"):
        for week in range(weeks):
            n = count(team, week)
            monday = datetime.combine(week0 + timedelta(weeks=week), datetime.min.time(), tzinfo=UTC)
            for i in range(n):
                at = monday + timedelta(hours=6 + i * (5 * 24 - 12) / n)
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


def alert(db, week, env, *extra, config=None):
    args = ["--db", str(db)] + (["--config", str(config)] if config else []) + ["alert", *extra]
    with time_machine.travel(monday_after(week), tick=False):
        return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One database for the module, copied per test (building it is the slow part)."""
    folder = tmp_path_factory.mktemp("org")
    return build(folder, folder / "dora.duckdb")


@pytest.fixture
def org(built, tmp_path):
    import shutil

    return shutil.copy(built, tmp_path / "dora.duckdb")


@pytest.fixture
def receiver(httpserver):
    """The Slack and generic webhook endpoints; `answers` (status, body, headers) are used up
    in turn before the endpoints answer 200."""
    state: dict = {"answers": [], "posts": [], "tries": 0}

    def handle(request):
        state["tries"] += 1
        if state["answers"]:
            status, body, headers = state["answers"].pop(0)
            return Response(body, status=status, headers=headers)
        state["posts"].append((request.path, request.get_json()))
        return Response("ok", status=200)

    httpserver.expect_request(f"/services/{SECRET}", method="POST").respond_with_handler(handle)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    httpserver.expect_request("/pay", method="POST").respond_with_handler(handle)
    state["env"] = {
        "SLACK_WEBHOOK_URL": httpserver.url_for(f"/services/{SECRET}"),
        "DORA_IMPACT_WEBHOOK_URL": httpserver.url_for("/hook"),
    }
    state["url"] = httpserver.url_for
    return state


def slack_texts(receiver):
    return [body["text"] for path, body in receiver["posts"] if path.startswith("/services")]


def test_the_cusum_by_hand():
    p0 = 1 / 3
    odds2 = 0.5 * 0.75**2
    p2 = odds2 / (1 + odds2)
    step = 10 * math.log(p2 / p0) + 40 * math.log((1 - p2) / (1 - p0))
    assert step == pytest.approx(2.128, abs=1e-3)
    y = np.array([20.0] * 30 + [10.0] * 6)
    n = np.array([60.0] * 30 + [50.0] * 6)
    path = detect("share", y, n, np.ones(36, dtype=bool), 0.75)
    assert VOLUME_BANDS[-1] <= 20  # pay's 20 a week are in the last band
    weeks_needed = math.ceil(THRESHOLD["share"][-1] / step)
    assert weeks_needed == 4
    assert path.alarms == [30 + weeks_needed - 1] and path.onset == 30
    assert path.change == pytest.approx((60 / 240) / 0.5 - 1)
    # Too little history: no baseline, skipped rather than alarmed.
    assert detect("share", y[:20], n[:20], np.ones(20, dtype=bool), 0.75).status == "skipped"


def test_quiet_mask_hides_holidays_not_lasting_dips():
    counts = np.array([60.0] * 30 + [15, 60, 60] + [15, 15, 15, 15, 60])
    mask = quiet_mask(counts)
    assert mask[30] and not mask[31] and not mask[33:37].any()  # four quiet weeks: a real dip


def test_first_alert_silence_worsening_recovery(org, receiver):
    env = receiver["env"]
    assert alert(org, 32, env).exit_code == 0 and receiver["posts"] == []
    first = alert(org, 33, env)
    assert first.exit_code == 1, first.output
    assert slack_texts(receiver) == [
        "Deployment frequency fell 50% for team pay since 2026-W40: 10.0 a week against 20.0 a week "
        "in 2026-W10..2026-W39."
    ]
    hook = next(body for path, body in receiver["posts"] if path == "/hook")
    assert (hook["event"], hook["scope"], hook["key"], hook["metric"], hook["since_week"]) == (
        "regression", "team", "pay", "deployment_frequency", "2026-W40")
    assert hook["change"] == pytest.approx(-0.5)
    assert alert(org, 34, env).exit_code == 1 and len(receiver["posts"]) == 2  # open, silent
    assert alert(org, 37, env).exit_code == 1 and len(receiver["posts"]) == 2  # -58.75%: silent
    worse = alert(org, 38, env)
    assert worse.exit_code == 1 and slack_texts(receiver)[-1].startswith(
        "Deployment frequency fell further 62% for team pay since 2026-W40")
    assert alert(org, 46, env).exit_code == 1 and len(receiver["posts"]) == 4
    recovered = alert(org, 47, env)
    assert recovered.exit_code == 0, recovered.output
    assert slack_texts(receiver)[-1].startswith("Recovered: deployment frequency for team pay")


def test_a_permanent_answer_leaves_the_queue_and_shows_in_the_exit_code(org, receiver):
    receiver["answers"] = [(410, "channel_is_archived", {})]
    result = alert(org, 33, receiver["env"])
    assert result.exit_code == 3, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("NOT delivered")]
    assert lines == ["NOT delivered to slack: regression for pay (HTTP 410 channel_is_archived); "
                     "taken out of the queue"]
    assert receiver["tries"] == 2  # one post to Slack (not retried), one to the webhook
    with Warehouse(org, read_only=True) as wh:
        row = wh.con.execute("SELECT last_error, failed_at IS NOT NULL, attempts FROM alert_outbox "
                             "WHERE channel = 'slack'").fetchone()
    assert row == ("HTTP 410 channel_is_archived", True, 1)
    again = alert(org, 34, receiver["env"])
    assert again.exit_code == 1 and receiver["tries"] == 2  # not retried, nothing new to send
    assert SECRET not in result.output + result.stderr


def test_a_server_error_is_retried_and_sent_by_the_next_run(org, receiver):
    receiver["answers"] = [(500, "rollup_error", {})] * 3
    result = alert(org, 33, receiver["env"], "--format", "json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    by_channel = {d["channel"]: d for d in report["deliveries"]}
    assert by_channel["slack"]["status"] == "retry_later" and by_channel["slack"]["attempts"] == 3
    assert by_channel["webhook"]["status"] == "delivered"
    later = alert(org, 34, receiver["env"])
    assert later.exit_code == 1 and len(slack_texts(receiver)) == 1  # sent once, on the next run


def test_429_waits_for_retry_after(org, receiver):
    receiver["answers"] = [(429, "rate_limited", {"Retry-After": "0"})]
    report = json.loads(alert(org, 33, receiver["env"], "--format", "json").stdout)
    slack = next(d for d in report["deliveries"] if d["channel"] == "slack")
    assert (slack["status"], slack["attempts"]) == ("delivered", 2)


def test_a_team_route_with_mentions_and_its_dashboard_link(tmp_path, org, receiver):
    config = write(tmp_path / "dora.toml", """
[alerts]
dashboard_url = "https://dora.example.com/"

[[alerts.routes]]
team = "pay"
webhook_env = "PAY_SLACK"
mentions = ["<!subteam^S0PAY>"]
""")
    env = {"SLACK_WEBHOOK_URL": receiver["env"]["SLACK_WEBHOOK_URL"], "PAY_SLACK": receiver["url"]("/pay")}
    result = alert(org, 33, env, config=config)
    assert result.exit_code == 1, result.output
    assert [path for path, _ in receiver["posts"]] == ["/pay"]  # the team's channel only
    body = receiver["posts"][0][1]
    assert body["text"].startswith("<!subteam^S0PAY> Deployment frequency fell 50% for team pay")
    button = body["blocks"][-1]["elements"][0]
    assert button["url"] == "https://dora.example.com?team=pay"
    # The route's variable missing on a run: the message cannot go out: exit 3, kept.
    with Warehouse(org) as wh:
        wh.con.execute("DELETE FROM alert_state")
    missing = alert(org, 33, {}, config=config)
    assert missing.exit_code == 3
    assert "PAY_SLACK is not set" in missing.stderr


@pytest.mark.parametrize("body, key", [
    ('[[alerts.rules]]\nmetric = "uptime"\n', "alerts.rules.0.metric"),
    ('[[alerts.routes]]\nteam = "pay"\nwebhook_env = "https://hooks.slack.com/x"\n', "alerts.routes.0.webhook_env"),
    ('[[alerts.rules]]\nmetric = "lead_time"\nbaseline_weeks = 12\n', "alerts.rules.0.baseline_weeks"),
])
def test_bad_alert_config_is_exit_2(tmp_path, org, body, key):
    config = write(tmp_path / "dora.toml", body)
    result = run_cli("--config", str(config), "alert", db=org)
    assert result.code == 2
    assert result.stderr.startswith("dora-impact: ") and key in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dry_run_lists_every_delivery_and_changes_nothing(org, receiver):
    before = dump_tables(org)
    dry = alert(org, 33, receiver["env"], "--dry-run", "--format", "json")
    assert dry.exit_code == 1
    report = json.loads(dry.stdout)
    assert [(d["channel"], d["status"]) for d in report["deliveries"]] == [
        ("slack", "would_send"), ("webhook", "would_send")]
    assert dump_tables(org) == before and receiver["posts"] == []


def test_the_weekly_digest_goes_out_once_a_week(tmp_path, org, receiver):
    config = write(tmp_path / "dora.toml", "[alerts.digest]\nenabled = true\n")
    env = {"SLACK_WEBHOOK_URL": receiver["env"]["SLACK_WEBHOOK_URL"]}
    assert alert(org, 20, env, config=config).exit_code == 0
    digests = [b for _, b in receiver["posts"] if b["text"].startswith("Weekly delivery digest")]
    assert len(digests) == 1
    assert digests[0]["text"].startswith("Weekly delivery digest for 2026-W30: the org deployment frequency "
                                         "60.0 a week (+0%)")
    table = digests[0]["blocks"][2]["text"]["text"]
    assert all(team in table for team in ("pay", "web", "ops"))
    assert alert(org, 20, env, config=config).exit_code == 0 and len(receiver["posts"]) == 1


def test_change_fail_rate_rule_counts_failed_out_of_deployments(tmp_path, db):
    """pay's deployments: 1 in 10 fail until week 30, then 5 in 10: a 5-fold odds rise."""
    build(tmp_path, db, weeks=36, count=lambda team, week: 10)
    with Warehouse(db) as wh:
        wh.con.execute("UPDATE deployments SET status = 'failure' WHERE repo = 'acme/pay' AND ("
                       "split_part(deployment_id, '-', 3) = '0' OR (CAST(split_part(deployment_id, '-', 2) "
                       "AS INTEGER) >= 30 AND CAST(split_part(deployment_id, '-', 3) AS INTEGER) < 5))")
    config = write(tmp_path / "dora.toml", '[[alerts.rules]]\nmetric = "change_fail_rate"\n')
    report = json.loads(alert(db, 35, {}, "--format", "json", config=config).stdout)
    assert [(o["key"], o["metric"]) for o in report["open"]] == [("pay", "change_fail_rate")]
