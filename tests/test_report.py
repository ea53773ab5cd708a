"""`report`: the numbers are compare's, and the HTML opens offline in a real browser."""

from __future__ import annotations

import json

import pytest
import time_machine
from typer.testing import CliRunner

from dora_impact.cli import app
from dora_impact.config import Config
from dora_impact.output import to_json
from dora_impact_app.report import build, headline, render_html, render_md, rows_from_html
from tests.browser import CHROMIUM, browser_page
from tests.test_compare import AFTER_Q3
from tests.test_compare import build as build_org
from warehouse import Warehouse
from warehouse.compare import compare


@pytest.fixture
def org_db(tmp_path, db):
    return build_org(tmp_path, db)


def report_of(db):
    with time_machine.travel(AFTER_Q3, tick=False), Warehouse(db, read_only=True) as wh:
        return build(wh, Config(), "2026-Q3", "2026-Q2")


def test_the_report_numbers_are_compare_json(org_db, tmp_path):
    out = tmp_path / "report.html"
    with time_machine.travel(AFTER_Q3, tick=False):
        result = CliRunner().invoke(app, ["--db", str(org_db), "report", "--quarter", "2026-Q3",
                                          "--out", str(out)], catch_exceptions=False)
        compared = CliRunner().invoke(app, ["--db", str(org_db), "compare", "2026-Q3", "2026-Q2",
                                            "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    embedded = rows_from_html(html)
    assert [{k: r[k] for k in json.loads(compared.stdout)[0]} for r in embedded] == json.loads(compared.stdout)
    # The headlines are sentences over those rows: the org's deployment frequency went from
    # 13 in 91 days to 27 in 92 days, +105%.
    org_df = next(r for r in embedded if r["key"] == "org" and r["metric"] == "deployment_frequency")
    assert org_df["change"] == pytest.approx(27 * 91 / (92 * 13) - 1)
    assert headline(org_df).startswith("Deployment frequency rose 105% (95% CI ")
    assert headline(org_df) in html
    assert html.count("* plotly.js v") == 1  # the library inlined once; figures only call it
    assert 'src="http' not in html  # (the browser test checks that nothing is requested)


def test_markdown_has_the_same_headlines(org_db):
    report = report_of(org_db)
    md = render_md(report)
    assert md.startswith("# Delivery: 2026-Q3 against 2026-Q2")
    for line in report.headlines:
        assert f"- {line}" in md
    assert "| pay | low | high | +98% | −50% | −33% | +99% |" in md  # levels and changes from the compare rows
    with time_machine.travel(AFTER_Q3, tick=False), Warehouse(org_db, read_only=True) as wh:
        rows = compare(wh, None, "2026-Q3", "2026-Q2")
    assert to_json(report.rows) == to_json(rows)


def test_org_size_and_caveats(org_db):
    report = report_of(org_db)
    assert report.size == {"authors": 0, "reviewers": 0, "people": 0, "teams": 2}  # no authors recorded
    assert report.caveats == []


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_html_opens_offline_in_chromium(org_db, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_html(report_of(org_db)))
    errors, requests = [], []
    with browser_page(width=1200, height=900) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.locator(".js-plotly-plot").nth(2).wait_for()
        assert page.locator(".js-plotly-plot").count() == 3
        assert page.locator("#org-table tbody tr").count() == 7
        assert page.locator("#team-table tbody tr").count() == 2
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []
    assert requests == [path.as_uri()]  # the file itself, nothing else


def test_surveys_are_shown_beside_measured_throughput(org_db, tmp_path):
    from collectors.files import read_import
    from tests.conftest import write

    path = write(tmp_path / "surveys.csv", """
team,period,date,question,score,respondents
pay,2026-Q2,,I ship without waiting,3.0,10
pay,,2026-08-20,I ship without waiting,2.7,10
web,2026-09,,I ship without waiting,4.0,5
""")
    with Warehouse(org_db) as wh:
        wh.load(read_import([path]))
        assert wh.scalar("SELECT period FROM surveys WHERE team = 'pay' AND date IS NOT NULL") == "2026-08-20"
    surveys = {s["key"]: s for s in report_of(org_db).surveys}
    pay = surveys["pay"]
    assert (pay["score_b"], pay["score_a"]) == (3.0, 2.7)
    assert pay["perceived_change"] == pytest.approx(-0.1)
    assert pay["throughput_change"] == pytest.approx((2 * 91 / 92 * 2 * 2) ** (1 / 3) - 1)
    assert pay["verdict"] == "felt worse, measured better"
    # The org pools by respondents: Q3 (2.7 x 10 + 4.0 x 5) / 15; Q2 3.0.
    assert surveys["org"]["score_a"] == pytest.approx((27 + 20) / 15)
    assert surveys["web"]["score_b"] is None and surveys["web"]["verdict"] == "–"
    assert "Perceived against measured" in render_md(report_of(org_db))


def test_a_survey_row_without_date_or_period_is_refused(tmp_path, db):
    from tests.conftest import run_cli, write

    path = write(tmp_path / "surveys.csv", "team,question,score\npay,q,3\n")
    result = run_cli("import", str(path), db=db)
    assert result.code == 2
    assert result.stderr.strip() == (f"dora-impact: {path}, row 1, column 'period': neither a date nor a "
                                     "period (2026-Q3, 2026-09) is given")


def test_complete_weeks_are_metrics_weeks_and_edge_weeks_are_marked(org_db, tmp_path):
    out = tmp_path / "report.html"
    with time_machine.travel(AFTER_Q3, tick=False):
        done = CliRunner().invoke(app, ["--db", str(org_db), "report", "--quarter", "2026-Q3", "--out", str(out)],
                                  catch_exceptions=False)
        weekly = CliRunner().invoke(app, ["--db", str(org_db), "metrics", "--period", "week", "--format", "json"],
                                    catch_exceptions=False)
    assert done.exit_code == 0, done.output
    trend = rows_from_html(out.read_text(), "trend-rows")
    by_week = {r["period"]: r for r in json.loads(weekly.stdout)}
    # Q2 starts on Wednesday 1 April and Q3 ends on Wednesday 30 September: the first week
    # (30 Mar - 5 Apr) is measured over 5 days and the last (28 Sep - 4 Oct) over 3. Both are
    # marked partial. The clipped week is not the week: web's deployment of 1 October is in
    # `metrics`' W40 and outside the report's.
    assert [(t["period"], t["period_days"]) for t in trend if not t["complete"]] == [
        ("2026-W14", 5.0), ("2026-W40", 3.0)]
    assert (by_week["2026-W40"]["deployments"], trend[-1]["deployments"]) == (1, 0)
    whole = [t for t in trend if t["complete"]]
    assert len(whole) == 25  # 6 April .. 27 September
    for t in whole:
        assert {k: by_week[t["period"]][k] for k in t} == t
    # Drawn apart: the line has no value on a partial week; a hollow "partial" marker has it.
    figures = render_html(report_of(org_db))
    # Deployments: both edge weeks; lead time and fail rate: W14 only (W40 shipped nothing).
    assert figures.count('"text":["partial","partial"]') == 1
    assert figures.count('"text":["partial"]') == 2


def test_the_report_file_follows_the_umask(org_db, tmp_path):
    import os

    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / f"report-{umask:o}.html"
        old = os.umask(umask)
        try:
            with time_machine.travel(AFTER_Q3, tick=False):
                done = CliRunner().invoke(app, ["--db", str(org_db), "report", "--quarter", "2026-Q3",
                                                "--out", str(out)], catch_exceptions=False)
        finally:
            os.umask(old)
        assert done.exit_code == 0, done.output
        assert out.stat().st_mode & 0o777 == mode


def test_a_report_of_the_first_quarter_with_data_shows_the_one_before_as_empty(tmp_path):
    """`compare` refuses a quarter without deployments; the report of an org's first quarter
    still renders, with the quarter before it empty."""
    db = tmp_path / "first.duckdb"
    rows = "deployment_id,repo,environment,status,finished_at\n" + "".join(
        f"d{i},acme/shop,production,success,2026-02-{i + 1:02d}T10:00:00Z\n" for i in range(6))
    (tmp_path / "deployments.csv").write_text(rows)
    from tests.conftest import run_cli

    assert run_cli("import", str(tmp_path / "deployments.csv"), db=db).code == 0
    refused = run_cli("compare", "2026-Q1", "2025-Q4", db=db)
    assert refused.code == 2 and "2025-Q4: no production deployments in it" in refused.stderr
    out = tmp_path / "report.md"
    done = run_cli("report", "--quarter", "2026-Q1", "--format", "md", "--out", str(out), db=db)
    assert done.code == 0, done.stderr
    assert "2026-Q1" in out.read_text() and "2025-Q4" in out.read_text()
