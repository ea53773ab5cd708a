"""`compare A B` against a small org computed by hand.

The fixture (2026, every deployment at 10:00Z, each shipping one change):
  team pay (acme/shop)
    Q2 (1 Apr .. 30 Jun, 91 days = 13 weeks): one deployment every Wednesday, 1 Apr .. 24 Jun
       (13); each change committed 10 h before; incidents on the 1st, 5th and 9th deployments,
       resolved 2 h after them (3 failures: change fail rate 3/13, recovery 2 h).
    Q3 (1 Jul .. 30 Sep, 92 days = 13 weeks and 1 day): Wednesday and Thursday of every week,
       1 Jul .. 24 Sep (26); lead times alternate 4 h and 6 h (median 5 h); incidents on the
       Wednesdays of weeks 1, 4, 7 and 10, resolved after 1 h (4 failures: 4/26, recovery 1 h).
  team web (acme/web): one deployment on 15 Jul and one on 1 Oct, nothing in Q2.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from collectors.files import read_import
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.compare import PeriodError, _adjust, compare, parse_period
from warehouse.metrics import compute_metrics

AFTER_Q3 = datetime(2026, 10, 5, 12, tzinfo=UTC)


def build(tmp_path, db):
    deployments = ["deployment_id,repo,environment,status,finished_at"]
    changes = ["repo,sha,committed_at,deployment_id"]
    incidents = ["incident_id,opened_at,resolved_at,deployment_id"]

    def deploy(name, repo, day, lead_hours=None):
        at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
        deployments.append(f"{name},{repo},production,success,{at.isoformat()}")
        if lead_hours is not None:
            changes.append(f"{repo},c-{name},{(at - timedelta(hours=lead_hours)).isoformat()},{name}")
        return at

    def incident(name, at, hours):
        incidents.append(f"i-{name},{(at + timedelta(minutes=5)).isoformat()},"
                         f"{(at + timedelta(hours=hours)).isoformat()},{name}")

    for week in range(13):
        at = deploy(f"q2-{week}", "acme/shop", date(2026, 4, 1) + timedelta(weeks=week), 10)
        if week in (0, 4, 8):
            incident(f"q2-{week}", at, 2)
        wednesday = date(2026, 7, 1) + timedelta(weeks=week)
        at = deploy(f"q3-{week}-wed", "acme/shop", wednesday, 4)
        deploy(f"q3-{week}-thu", "acme/shop", wednesday + timedelta(days=1), 6)
        if week in (0, 3, 6, 9):
            incident(f"q3-{week}-wed", at, 1)
    deploy("web-1", "acme/web", date(2026, 7, 15))
    deploy("web-2", "acme/web", date(2026, 10, 1))  # data runs past Q3: Q3 is covered to its end
    files = [
        write(tmp_path / "teams.csv", "team,repo\npay,acme/shop\nweb,acme/web\n"),
        write(tmp_path / "deployments.csv", "\n".join(deployments) + "\n"),
        write(tmp_path / "changes.csv", "\n".join(changes) + "\n"),
        write(tmp_path / "incidents.csv", "\n".join(incidents) + "\n"),
    ]
    with Warehouse(db) as wh:
        wh.load(read_import(files))
    return db


@pytest.fixture
def org_db(tmp_path, db):
    return build(tmp_path, db)


def rows_of(db, a="2026-Q3", b="2026-Q2", by="team", now=AFTER_Q3):
    with time_machine.travel(now, tick=False), Warehouse(db, read_only=True) as wh:
        return {(r["key"], r["metric"]): r for r in compare(wh, None, a, b, by=by)}


def test_periods_parse():
    q = parse_period("2026-Q3")
    assert (q.kind, q.start, q.end) == ("quarter", date(2026, 7, 1), date(2026, 10, 1))
    m = parse_period("2026-02")
    assert (m.kind, m.start, m.end) == ("month", date(2026, 2, 1), date(2026, 3, 1))
    assert parse_period("2025-q4").end == date(2026, 1, 1)
    for bad in ("2026-Q5", "2026-13", "Q3", "2026"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_team_values_changes_and_levels_by_hand(org_db):
    rows = rows_of(org_db)
    df = rows[("pay", "deployment_frequency")]
    assert df["value_b"] == pytest.approx(13 / (91 / 7))
    assert df["value_a"] == pytest.approx(26 / (92 / 7))
    assert df["change"] == pytest.approx(2 * 91 / 92 - 1)
    assert (df["n_a"], df["n_b"]) == (26, 13)
    # Q2's 13 weeks hold one deployment each: every draw of Q2 is 1.0. Q3's draws differ only by
    # how often the 1-day block (30 Sep, no deployment) is drawn among 14 blocks: k times gives
    # 7 * 2 (14 - k) / (7 (14 - k) + k). P(k >= 4) = 1.6% < 2.5% <= P(k >= 3) = 7.5%, and
    # P(k = 0) = 35%: so the interval is exactly [k=3, k=0].
    assert df["ci_low"] == pytest.approx(7 * 22 / 80 - 1)
    assert df["ci_high"] == pytest.approx(1.0)
    assert df["beyond_noise"] is True and df["test"] == "bootstrap over weeks"

    lead = rows[("pay", "lead_time")]
    assert (lead["value_b"], lead["value_a"], lead["change"]) == (pytest.approx(10), pytest.approx(5), pytest.approx(-0.5))
    # Medians of resampled 4 h / 6 h changes lie in [4, 6]: the change in [-60%, -40%].
    assert -0.6 - 1e-9 <= lead["ci_low"] < -0.5 < lead["ci_high"] <= -0.4 + 1e-9
    assert lead["beyond_noise"] is True and lead["test"] == "bootstrap over changes"

    cfr = rows[("pay", "change_fail_rate")]
    assert (cfr["value_b"], cfr["value_a"]) == (pytest.approx(3 / 13), pytest.approx(4 / 26))
    assert cfr["change"] == pytest.approx(-1 / 3)
    assert cfr["ci_low"] < cfr["change"] < cfr["ci_high"] and cfr["ci_low"] < 0 < cfr["ci_high"]
    assert cfr["beyond_noise"] is False  # 3 failures against 4: well within week-to-week noise

    recovery = rows[("pay", "recovery_time")]
    assert (recovery["value_b"], recovery["value_a"], recovery["change"]) == (2, 1, pytest.approx(-0.5))
    assert (recovery["n_b"], recovery["n_a"]) == (3, 4)
    assert recovery["ci_low"] is None and recovery["beyond_noise"] is False  # 3 < 5 recoveries

    rework = rows[("pay", "rework_rate")]
    assert (rework["value_a"], rework["value_b"], rework["change"]) == (0, 0, None)

    # Levels: Q2 fails 23% of deployments (low); Q3 weekly+, 5 h, 15%, 1 h (high).
    assert (df["level_b"], df["level_a"], df["level_move"]) == ("low", "high", "up")
    assert all(rows[("pay", m)]["level_a"] == "high" for m in ("lead_time", "throughput"))


def test_factors_combine_their_metrics(org_db):
    rows = rows_of(org_db)
    throughput = rows[("pay", "throughput")]
    # Geometric mean of frequency x1.978, lead time x0.5 and recovery x0.5 with signs aligned.
    assert throughput["change"] == pytest.approx((2 * 91 / 92 * 2 * 2) ** (1 / 3) - 1)
    assert throughput["ci_low"] is None  # recovery time has too few failures for draws
    instability = rows[("pay", "instability")]
    assert instability["change"] == pytest.approx(-1 / 3)  # rework has no change: the fail rate alone
    assert instability["ci_low"] == pytest.approx(rows[("pay", "change_fail_rate")]["ci_low"])


def test_org_rows_first_and_teams_missing_a_period(org_db):
    with time_machine.travel(AFTER_Q3, tick=False), Warehouse(org_db, read_only=True) as wh:
        ordered = compare(wh, None, "2026-Q3", "2026-Q2", by="team")
    assert [r["key"] for r in ordered[::7]] == ["org", "pay", "web"]
    assert [r["metric"] for r in ordered[:7]] == [
        "deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate",
        "throughput", "instability"]
    rows = {(r["key"], r["metric"]): r for r in ordered}
    assert rows[("org", "deployment_frequency")]["value_a"] == pytest.approx(27 / (92 / 7))
    assert rows[("org", "change_fail_rate")]["value_a"] == pytest.approx(4 / 27)
    web = rows[("web", "deployment_frequency")]
    # web's data begins on 15 July: Q3 is covered for it from then (78 days), not whole.
    assert (web["value_a"], web["value_b"], web["change"], web["n_b"], web["level_b"]) == (
        pytest.approx(1 / (78 / 7)), None, None, 0, None)
    assert (web["complete_a"], web["covered_days_a"]) == (False, 78)
    assert all(r["complete_a"] and r["complete_b"] for r in ordered if r["key"] != "web")


@pytest.mark.parametrize("now", [AFTER_Q3, datetime(2026, 8, 12, 12, tzinfo=UTC)])
def test_value_a_is_the_metrics_deployments_per_week(org_db, now):
    rows = rows_of(org_db, now=now)
    with time_machine.travel(now, tick=False), Warehouse(org_db, read_only=True) as wh:
        metrics = compute_metrics(wh, None, "team", "quarter", date(2026, 7, 1), date(2026, 9, 30))
    for m in metrics:
        assert rows[(m["key"], "deployment_frequency")]["value_a"] == m["deployments_per_week"]
        assert rows[(m["key"], "lead_time")]["value_a"] == m["lead_time_median_hours"]
        assert rows[(m["key"], "deployment_frequency")]["level_a"] == m["dora_level"]


def test_a_running_quarter_is_compared_on_its_elapsed_days(org_db):
    rows = rows_of(org_db, now=datetime(2026, 8, 12, 12, tzinfo=UTC))
    df = rows[("pay", "deployment_frequency")]
    # 1 Jul .. 12 Aug 12:00 = 42.5 days: weeks 1-6 (12 deployments) and Wed 12 Aug 10:00.
    assert df["covered_days_a"] == pytest.approx(42.5) and df["weeks_a"] == 7
    assert df["value_a"] == pytest.approx(13 / (42.5 / 7))
    assert df["n_a"] == 13
    assert (df["complete_a"], df["complete_b"]) == (False, True)


def test_a_period_with_no_deployment_is_refused(org_db):
    # The data begins on 1 April: 2026-Q1 holds nothing to compare (a table of dashes would
    # read as a comparison). The same for a quarter that has not begun.
    with pytest.raises(PeriodError) as empty:
        rows_of(org_db, a="2026-Q2", b="2026-Q1")
    assert str(empty.value) == (
        "2026-Q1: no production deployments in it (the data runs from 2026-04-01 to 2026-10-01)")
    with pytest.raises(PeriodError) as future:
        rows_of(org_db, a="2027-Q1", b="2026-Q4")
    assert str(future.value) == "2027-Q1 has not begun (today is 2026-10-05)"


@pytest.mark.parametrize(("a", "b", "message"), [
    ("2026-Q3", "2026-08", "2026-Q3 and 2026-08 overlap: compare two separate periods"),
    ("2026-Q3", "2026-Q3", "2026-Q3 and 2026-Q3 overlap: compare two separate periods"),
    ("2026-Q2", "2026-Q3", "2026-Q2 is before 2026-Q3: the first period is the one looked at, the second "
                           "the one it is compared with (compare 2026-Q3 2026-Q2)"),
])
def test_impossible_pairs_exit_2_with_one_line(org_db, a, b, message):
    result = run_cli("compare", a, b, db=org_db)
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.strip() == f"dora-impact: {message}"


def test_team_flags_are_adjusted_over_the_team_rows(org_db):
    rows = rows_of(org_db)
    lead = rows[("pay", "lead_time")]
    # Every draw of pay's lead-time ratio is below 1 (medians of 4/6 h against exactly 10 h):
    # no draw on the far side of zero, p = 2 (0 + 1) / (2000 + 1). web has no changes, so the
    # family of lead-time rows is pay's alone and BH leaves p as it is.
    assert lead["p_value"] == pytest.approx(2 / 2001) and lead["p_adjusted"] == pytest.approx(2 / 2001)
    assert lead["beyond_noise"] is True
    assert rows[("org", "lead_time")]["p_adjusted"] == rows[("org", "lead_time")]["p_value"]
    # Levels per metric beside the cluster: 5 h lead time is elite on its own (< 24 h), while
    # the quarter's cluster is high; 15% failing is high; the 1 h recovery high (< 1 day).
    assert (lead["metric_level_a"], lead["level_a"]) == ("elite", "high")
    assert rows[("pay", "change_fail_rate")]["metric_level_a"] == "high"
    assert rows[("pay", "change_fail_rate")]["metric_level_b"] == "low"  # 23% > 20%
    assert rows[("pay", "recovery_time")]["metric_level_a"] == "high"
    assert rows[("pay", "rework_rate")]["metric_level_a"] is None  # no published cut-off


def test_benjamini_hochberg_by_hand():
    # p = 0.01, 0.04, 0.045, 0.5 over four teams: p * m / rank = 0.04, 0.08, 0.06, 0.5, made
    # monotone from the top: 0.04, 0.06, 0.06, 0.5. Only the first stays beyond noise.
    family = [{"metric": "lead_time", "p_value": p, "beyond_noise": True} for p in (0.01, 0.04, 0.045, 0.5)]
    other = {"metric": "rework_rate", "p_value": None, "beyond_noise": False}
    _adjust([*family, other])
    assert [r["p_adjusted"] for r in family] == pytest.approx([0.04, 0.06, 0.06, 0.5])
    assert [r["beyond_noise"] for r in family] == [True, False, False, False]
    assert "p_adjusted" not in other


def test_months_compare_too(org_db):
    rows = rows_of(org_db, a="2026-07", b="2026-06")
    df = rows[("pay", "deployment_frequency")]
    # July: 5 Wednesdays (1, 8, 15, 22, 29) and their Thursdays = 10 over 31 days; June: 4 over 30.
    assert df["value_a"] == pytest.approx(10 / (31 / 7))
    assert df["value_b"] == pytest.approx(4 / (30 / 7))


def test_cli_json_csv_table_and_bad_period(org_db):
    env = {}
    # The CLI runs in a subprocess: Q2 against Q1 is over whatever day the test runs.
    result = run_cli("compare", "2026-Q3", "2026-Q2", "--format", "json", db=org_db, env=env)
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    required = ["scope", "key", "metric", "a", "b", "value_a", "value_b", "change", "ci_low", "ci_high",
                "beyond_noise", "n_a", "n_b", "level_a", "level_b", "complete_a", "complete_b"]
    assert list(rows[0])[: len(required)] == required
    pay = next(r for r in rows if r["key"] == "pay" and r["metric"] == "deployment_frequency")
    assert pay["value_a"] == pytest.approx(26 / (92 / 7)) and pay["scope"] == "team"
    assert math.isclose(pay["change"], 2 * 91 / 92 - 1)

    csv = run_cli("compare", "2026-Q3", "2026-Q2", "--by", "org", "--format", "csv", db=org_db)
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("scope,key,metric,a,b,value_a,value_b,change")
    assert len(lines) == 1 + 7 and lines[1].startswith("org,org,deployment_frequency,2026-Q3,2026-Q2,")

    table = run_cli("compare", "2026-Q3", "2026-Q2", db=org_db)
    assert table.code == 0 and "2026-Q3 against 2026-Q2" in table.stdout
    assert "low → high" in table.stdout

    bad = run_cli("compare", "2026-Q9", "2026-Q2", db=org_db)
    assert bad.code == 2
    assert bad.stderr.strip() == "dora-impact: '2026-Q9': expected a quarter (2026-Q3) or a month (2026-09)"


def test_metrics_over_a_range_without_data_exits_2(org_db, tmp_path):
    before = run_cli("metrics", "--since", "2026-01-01", "--until", "2026-03-01", db=org_db)
    assert (before.code, before.stdout) == (2, "")
    assert before.stderr.strip() == ("dora-impact: no production deployments from 2026-01-01 to 2026-03-01 "
                                     "(the data runs from 2026-04-01 to 2026-10-01)")
    with Warehouse(tmp_path / "empty.duckdb"):
        pass  # a database with its schema and no rows
    empty = run_cli("metrics", "--format", "json", db=tmp_path / "empty.duckdb")
    assert empty.code == 2
    assert empty.stderr.strip() == ("dora-impact: no data: the database holds no deployments yet "
                                    "(import, sync or demo first)")


def test_a_rate_fallen_to_zero_leaves_its_factor_without_a_change(tmp_path, db):
    # Q2: 13 Wednesday deployments, the first caused an incident (1/13 failed); Q3: 13, none
    # failed. The change fail rate falls by 100%: log(0) has no value, so instability, the
    # geometric mean of its metrics' ratios, has none either (it was a math domain error).
    rows = ["deployment_id,repo,environment,status,finished_at"]
    for week in range(13):
        for q, first in (("q2", date(2026, 4, 1)), ("q3", date(2026, 7, 1))):
            rows.append(f"{q}-{week},acme/shop,production,success,{first + timedelta(weeks=week)}T10:00:00Z")
    rows.append("last,acme/shop,production,success,2026-10-01T10:00:00Z")
    files = [write(tmp_path / "deployments.csv", "\n".join(rows) + "\n"),
             write(tmp_path / "incidents.csv", "incident_id,opened_at,resolved_at,deployment_id\n"
                   "i1,2026-04-01T10:05:00Z,2026-04-01T12:00:00Z,q2-0\n")]
    with Warehouse(db) as wh:
        wh.load(read_import(files))
    with time_machine.travel(AFTER_Q3, tick=False), Warehouse(db, read_only=True) as wh:
        got = {r["metric"]: r for r in compare(wh, None, "2026-Q3", "2026-Q2", by="repo")
               if r["scope"] == "repo"}
    assert got["change_fail_rate"]["change"] == -1.0
    assert got["change_fail_rate"]["value_b"] == pytest.approx(1 / 13)
    assert got["instability"]["change"] is None and got["instability"]["ci_low"] is None
    # 13 deployments in both: per week over 92 days (Q3) against 91 (Q2); no lead or recovery time.
    assert got["throughput"]["change"] == pytest.approx(91 / 92 - 1)
