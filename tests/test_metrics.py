"""DORA metrics against small cases computed by hand (see docs/metrics.md for the rules).

The fixture, all in September 2026 (ISO week 36 = Mon 31 Aug .. Sun 6 Sep):
  acme/shop (team payments)
    d1 success  Tue 1 Sep 10:00Z     ships c1 (committed 31 Aug 10:00Z, 24 h) and c2 (09:00+02:00, 3 h)
    d2 success  Wed 2 Sep 10:00Z     ships c3 (2 h); incident i1 names it, resolved 15:00Z (5 h)
    d3 failure  Thu 3 Sep 10:00Z     its run failed; the next deployment d4 is a hotfix
    d4 success  Thu 3 Sep 16:00Z     hotfix, ships c4 (4 h); d3 recovered after 6 h
    s1 success  staging, ships c5    ignored everywhere
  acme/web (team web)
    d5 success  Mon 7 Sep 01:00+02:00 = Sun 6 Sep 23:00Z (still week 36), ships c6 (133 h)
    d6 success  Tue 15 Sep 10:00Z    a rollback (week 38), so d5 failed; recovered after 203 h
  week 37 has no deployment at all.
  i2 names no deployment and counts nowhere.
Coverage (docs/metrics.md): the data begins on 1 Sep (d1; web's on 6 Sep with d5) and ends
with the day of its latest row, d6 on 15 Sep: [1 Sep, 16 Sep) is covered.
"""

from __future__ import annotations

from datetime import date

import pytest

from collectors.files import read_import
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.metrics import compute_metrics

UNTIL = date(2026, 9, 20)  # a Sunday, after the data ends


@pytest.fixture
def fixture_db(tmp_path, db):
    files = [
        write(tmp_path / "teams.csv", "team,repo\npayments,acme/shop\nweb,acme/web\n"),
        write(tmp_path / "deployments.csv", """
deployment_id,repo,environment,status,finished_at,is_hotfix,is_rollback
d1,acme/shop,production,success,2026-09-01T10:00:00Z,,
d2,acme/shop,production,success,2026-09-02T10:00:00Z,,
d3,acme/shop,production,failure,2026-09-03T10:00:00Z,,
d4,acme/shop,production,success,2026-09-03T16:00:00Z,true,
s1,acme/shop,staging,success,2026-09-02T09:00:00Z,,
d5,acme/web,PRODUCTION,success,2026-09-07T01:00:00+02:00,,
d6,acme/web,production,success,2026-09-15T10:00:00Z,,true
"""),
        write(tmp_path / "changes.csv", """
repo,sha,committed_at,deployment_id
acme/shop,c1,2026-08-31T10:00:00Z,d1
acme/shop,c2,2026-09-01T09:00:00+02:00,d1
acme/shop,c3,2026-09-02T08:00:00Z,d2
acme/shop,c4,2026-09-03T12:00:00Z,d4
acme/shop,c5,2026-09-01T12:00:00Z,s1
acme/web,c6,2026-09-01T10:00:00Z,d5
"""),
        write(tmp_path / "incidents.csv", """
incident_id,opened_at,resolved_at,deployment_id
i1,2026-09-02T11:00:00Z,2026-09-02T15:00:00Z,d2
i2,2026-09-10T11:00:00Z,2026-09-10T12:00:00Z,
"""),
    ]
    with Warehouse(db) as wh:
        wh.load(read_import(files))
    return db


@pytest.fixture(params=["2026-09-21T08:00:00Z", "2027-03-01T12:00:00Z", "2031-12-31T23:59:00Z"])
def fixed_today(request):
    """The by-hand cases hold on any day after the data: run them on several fixed todays."""
    import time_machine

    with time_machine.travel(request.param, tick=False):
        yield request.param


def metrics(db, cfg=None, **kwargs):
    with Warehouse(db, read_only=True) as wh:
        return compute_metrics(wh, cfg, **kwargs)


def test_org_weekly_metrics_by_hand(fixture_db, fixed_today):
    rows = metrics(fixture_db, by="org", period="week", until=UNTIL)
    assert [r["period"] for r in rows] == ["2026-W36", "2026-W37", "2026-W38"]
    w36, w37, w38 = rows
    assert w36["deployments"] == 4  # d1 d2 d4 d5; d3's run failed; s1 is staging
    # The data begins on Tuesday: 6 covered days, the rate is per covered day.
    assert (w36["period_days"], w36["complete"]) == (pytest.approx(6), False)
    assert w36["deployments_per_week"] == pytest.approx(4 / 6 * 7)
    assert w36["production_deployments"] == 5  # + the failed run d3
    assert w36["failed_deployments"] == 3  # d2 (incident), d3 (run failed, hotfixed), d5 (rolled back)
    assert w36["change_fail_rate"] == pytest.approx(3 / 5)
    assert w36["changes"] == 5  # c1..c4, c6; c5 went to staging only
    assert w36["lead_time_median_hours"] == pytest.approx(4.0)  # of 2, 3, 4, 24, 133
    assert w36["lead_time_p90_hours"] == pytest.approx(24 + 0.6 * (133 - 24))
    assert w36["recovery_time_median_hours"] == pytest.approx(6.0)  # of 5, 6, 203
    assert w36["rework_deployments"] == 1 and w36["rework_rate"] == pytest.approx(1 / 5)
    assert w36["dora_level"] == "low"  # 60% fail rate

    # The empty week is a row of zeros with no rates, not a gap.
    assert (w37["period_days"], w37["complete"]) == (pytest.approx(7), True)
    assert (w37["deployments"], w37["deployments_per_week"], w37["production_deployments"]) == (0, 0, 0)
    assert w37["change_fail_rate"] is None and w37["lead_time_median_hours"] is None
    assert w37["dora_level"] is None

    assert (w38["deployments"], w38["failed_deployments"], w38["rework_rate"]) == (1, 0, 1.0)
    assert w38["change_fail_rate"] == 0.0
    assert w38["dora_level"] == "high"  # weekly, no failure, no change measured
    # The data ends with 15 Sep: Monday and Tuesday of week 38 are covered, 1 deployment.
    assert (w38["period_days"], w38["complete"]) == (pytest.approx(2), False)
    assert w38["deployments_per_week"] == pytest.approx(3.5)


def test_team_weekly_metrics_by_hand(fixture_db, fixed_today):
    rows = {(r["key"], r["period"]): r for r in metrics(fixture_db, by="team", period="week", until=UNTIL)}
    assert sorted(rows) == [(t, w) for t in ("payments", "web") for w in ("2026-W36", "2026-W37", "2026-W38")]
    pay = rows[("payments", "2026-W36")]
    assert (pay["deployments"], pay["production_deployments"], pay["failed_deployments"]) == (3, 4, 2)
    assert pay["lead_time_median_hours"] == pytest.approx(3.5)  # of 2, 3, 4, 24
    assert pay["lead_time_p90_hours"] == pytest.approx(4 + 0.7 * 20)
    assert pay["recovery_time_median_hours"] == pytest.approx(5.5)  # of 5, 6
    assert pay["rework_rate"] == pytest.approx(0.25)
    web = rows[("web", "2026-W36")]
    assert (web["deployments"], web["failed_deployments"], web["change_fail_rate"]) == (1, 1, 1.0)
    assert web["lead_time_median_hours"] == pytest.approx(133.0)
    assert web["recovery_time_median_hours"] == pytest.approx(203.0)
    assert rows[("payments", "2026-W38")]["deployments"] == 0
    # Each team's data begins with its own first deployment: web's on Sunday 6 Sep.
    assert pay["period_days"] == pytest.approx(6) and web["period_days"] == pytest.approx(1)
    assert web["deployments_per_week"] == pytest.approx(7.0)


def test_failed_runs_can_be_left_out_by_config(fixture_db):
    cfg = MetricsConfig(failed_runs_count=False)
    w36 = metrics(fixture_db, cfg, by="org", period="week", until=UNTIL)[0]
    assert w36["production_deployments"] == 4  # d3 no longer counts
    # d2: incident; d5: rolled back. The hotfix d4 fixed the run d3, not d2, even with d3 uncounted.
    assert w36["failed_deployments"] == 2
    assert w36["recovery_time_median_hours"] == pytest.approx((5 + 203) / 2)


def test_a_hotfix_after_an_uncounted_failed_run_does_not_blame_the_success_before(fixture_db):
    cfg = MetricsConfig(failed_runs_count=False)
    with Warehouse(fixture_db, read_only=True) as wh:
        from warehouse.metrics import prepare

        prepare(wh, cfg)
        d2 = wh.frame("SELECT * FROM prod_deployments WHERE deployment_id = 'd2'").row(0, named=True)
    assert d2["fixed_forward_or_rolled_back"] is False and d2["caused_incident"] is True


def test_month_and_quarter_periods_count_covered_days(fixture_db, fixed_today):
    month = metrics(fixture_db, by="org", period="month", until=UNTIL)
    assert [m["period"] for m in month] == ["2026-09"]
    assert month[0]["period_days"] == pytest.approx(15)  # 1..15 September
    assert month[0]["deployments"] == 5 and month[0]["complete"] is False
    assert month[0]["deployments_per_week"] == pytest.approx(5 / 15 * 7)
    quarter = metrics(fixture_db, by="repo", period="quarter", until=UNTIL)
    assert [(q["key"], q["period"]) for q in quarter] == [("acme/shop", "2026-Q3"), ("acme/web", "2026-Q3")]
    assert quarter[0]["period_days"] == pytest.approx(15)  # 1..15 September
    assert quarter[1]["period_days"] == pytest.approx(10)  # 6..15 September


def test_the_first_quarter_is_not_diluted_by_the_months_before_the_data(fixture_db, fixed_today):
    (q3,) = metrics(fixture_db, by="org", period="quarter", until=UNTIL)
    # 5 deployments over the 15 covered days, not over the 82 days since 1 July.
    assert (q3["period"], q3["deployments"], q3["complete"]) == ("2026-Q3", 5, False)
    assert q3["period_days"] == pytest.approx(15)
    assert q3["deployments_per_week"] == pytest.approx(5 / 15 * 7)


def test_a_range_edge_covers_only_the_days_inside_the_range(fixture_db, fixed_today):
    # --until Tuesday 1 Sep: week 36 holds one covered day (d1), so 7 a week, marked partial.
    (w36,) = metrics(fixture_db, by="org", period="week", until=date(2026, 9, 1))
    assert (w36["deployments"], w36["period_days"], w36["complete"]) == (1, pytest.approx(1), False)
    assert w36["deployments_per_week"] == pytest.approx(7.0)
    # --since Wednesday 2 Sep to Sunday 6 Sep: five days, d2 d4 d5.
    (w36,) = metrics(fixture_db, by="org", period="week", since=date(2026, 9, 2), until=date(2026, 9, 6))
    assert (w36["deployments"], w36["period_days"], w36["complete"]) == (3, pytest.approx(5), False)


def test_since_before_the_data_begins_reports_no_empty_periods(fixture_db, fixed_today):
    months = metrics(fixture_db, by="org", period="month", since=date(2023, 1, 1), until=UNTIL)
    assert [m["period"] for m in months] == ["2026-09"]
    quarters = metrics(fixture_db, by="team", period="quarter", since=date(2023, 1, 1), until=UNTIL)
    assert [(q["key"], q["period"], q["period_days"]) for q in quarters] == [
        ("payments", "2026-Q3", pytest.approx(15)), ("web", "2026-Q3", pytest.approx(10))]


def test_a_later_sync_extends_the_data_to_when_it_ran(fixture_db, fixed_today):
    # A sync on 21 Sep found nothing newer: the quiet days after d6 are data, week 38 is whole.
    with Warehouse(fixture_db) as wh:
        wh.con.execute("INSERT INTO sync_state VALUES ('github', 'acme', 'deployments', NULL, NULL, "
                       "TIMESTAMPTZ '2026-09-21 06:00:00+00')")
    w38 = metrics(fixture_db, by="org", period="week", until=UNTIL)[-1]
    assert (w38["period"], w38["period_days"], w38["complete"]) == ("2026-W38", pytest.approx(7), True)
    assert w38["deployments_per_week"] == pytest.approx(1.0)


@pytest.mark.parametrize("now", ["2026-09-15T12:00:00Z", "2026-09-15T22:30:00Z"])
def test_the_running_period_is_covered_up_to_now(fixture_db, now):
    import time_machine

    with time_machine.travel(now, tick=False):
        rows = metrics(fixture_db, by="org", period="week")
    w38 = rows[-1]
    hours = int(now[11:13]) + int(now[14:16]) / 60
    assert (w38["period"], w38["complete"]) == ("2026-W38", False)
    assert w38["period_days"] == pytest.approx(1 + hours / 24)  # Monday, and today until now


def test_since_narrows_the_range(fixture_db):
    rows = metrics(fixture_db, by="org", period="week", since=date(2026, 9, 7), until=UNTIL)
    assert [r["period"] for r in rows] == ["2026-W37", "2026-W38"]
    assert sum(r["deployments"] for r in rows) == 1


def test_production_rule_comes_from_config(fixture_db):
    cfg = MetricsConfig(production_environment="^staging$")
    rows = metrics(fixture_db, cfg, by="org", period="month", until=UNTIL)
    assert rows[0]["deployments"] == 1 and rows[0]["changes"] == 1  # s1 ships c5


def test_cli_json_carries_the_contract_keys(fixture_db):
    result = run_cli("metrics", "--by", "team", "--period", "week", "--until", "2026-09-20",
                     "--format", "json", db=fixture_db)
    assert result.code == 0, result.stderr
    import json

    rows = json.loads(result.stdout)
    required = {"scope", "key", "period", "period_start", "deployments", "deployments_per_week",
                "lead_time_median_hours", "lead_time_p90_hours", "changes", "change_fail_rate",
                "failed_deployments", "recovery_time_median_hours", "rework_rate", "dora_level"}
    assert all(required <= set(r) for r in rows)
    first = rows[0]
    assert (first["scope"], first["key"], first["period"], first["period_start"]) == (
        "team", "payments", "2026-W36", "2026-08-31")


def test_cli_csv_and_bad_options(fixture_db):
    result = run_cli("metrics", "--period", "week", "--until", "2026-09-20", "--format", "csv", db=fixture_db)
    assert result.code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("scope,key,period,period_start")
    assert lines[1].startswith("org,org,2026-W36,2026-08-31")
    bad = run_cli("metrics", "--since", "last week", db=fixture_db)
    assert bad.code == 2 and bad.stderr.strip() == \
        "dora-impact: --since 'last week': expected a date YYYY-MM-DD"


def test_empty_database_gives_no_rows(db):
    Warehouse(db).close()
    assert metrics(db, by="team", period="week") == []


def test_a_source_can_flag_production_whatever_the_environment_is_called(tmp_path, db):
    path = write(tmp_path / "deployments.csv", """
deployment_id,repo,environment,status,finished_at,is_production
e1,acme/shop,eu-live,success,2026-09-01T10:00:00Z,true
e2,acme/shop,eu-live,success,2026-09-02T10:00:00Z,
e3,acme/shop,Production,success,2026-09-03T10:00:00Z,false
""")
    with Warehouse(db) as wh:
        wh.load(read_import([path]))
    month = metrics(db, by="org", period="month", until=UNTIL)[0]
    # e1 by its flag; e2 neither flagged nor named production; e3 by its name (a false flag
    # is "not said", so the name rule still applies).
    assert month["deployments"] == 2


def test_cli_marks_partial_periods_in_the_table_and_says_complete_in_csv(fixture_db):
    table = run_cli("metrics", "--period", "week", "--until", "2026-09-20", db=fixture_db)
    assert table.code == 0, table.stderr
    periods = [line.split("│")[2].strip() for line in table.stdout.splitlines() if "│ org" in line]
    assert periods == ["2026-W36*", "2026-W37", "2026-W38*"]
    assert "* partial period: the data covers only part of it; rates are per covered day" in table.stdout
    csv = run_cli("metrics", "--period", "week", "--until", "2026-09-20", "--format", "csv", db=fixture_db)
    header, *lines = csv.stdout.strip().splitlines()
    columns = header.split(",")
    assert columns[:7] == ["scope", "key", "period", "period_start", "period_end", "period_days", "complete"]
    assert [line.split(",")[6] for line in lines] == ["false", "true", "false"]
