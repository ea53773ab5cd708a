"""The dashboard served for real and read in headless chromium: it shows the warehouse's
numbers for a small org computed by hand (the fixture of test_metrics.py), and the demo org
(ending on a pinned date) drawn so that partial periods cannot be misread."""

from __future__ import annotations

import importlib.util
import os
import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from collectors.files import read_import
from tests.browser import CHROMIUM, browser_page, dashboard, settled
from tests.conftest import write
from warehouse import Warehouse

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    # CI installs chromium (.ci/run); there a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


MONTH = date(2026, 9, 1)  # the small org's month: the dashboard counts back from the data's end
DEMO_END = date(2026, 3, 16)  # a Monday: the demo's March is partial, 15 days


@pytest.fixture(scope="module")
def small_org(tmp_path_factory):
    """September 2026: acme/shop d1 d2 (caused i1) d3 (failed run) d4 (hotfix); acme/web d5,
    d6 (rollback of d5). 5 successful deployments, 6 production deployments, 3 failed.
    2 teams own 3 repositories (acme/ledger never deploys)."""
    folder = tmp_path_factory.mktemp("org")
    m = MONTH.isoformat()[:8]  # "YYYY-MM-"
    files = [
        write(folder / "teams.csv", "team,repo\npayments,acme/shop\nweb,acme/web\npayments,acme/ledger\n"),
        write(
            folder / "deployments.csv",
            f"""
deployment_id,repo,environment,status,finished_at,is_hotfix,is_rollback
d1,acme/shop,production,success,{m}01T10:00:00Z,,
d2,acme/shop,production,success,{m}02T10:00:00Z,,
d3,acme/shop,production,failure,{m}03T10:00:00Z,,
d4,acme/shop,production,success,{m}03T16:00:00Z,true,
s1,acme/shop,staging,success,{m}02T09:00:00Z,,
d5,acme/web,production,success,{m}06T23:00:00Z,,
d6,acme/web,production,success,{m}15T10:00:00Z,,true
""",
        ),
        write(
            folder / "changes.csv",
            f"""
repo,sha,committed_at,deployment_id
acme/shop,c1,{m}01T09:00:00Z,d1
acme/shop,c2,{m}01T07:00:00Z,d1
acme/shop,c3,{m}02T08:00:00Z,d2
acme/shop,c5,{m}01T12:00:00Z,s1
""",
        ),
        write(
            folder / "incidents.csv",
            f"""
incident_id,opened_at,resolved_at,deployment_id
i1,{m}02T11:00:00Z,{m}02T15:00:00Z,d2
""",
        ),
    ]
    db = folder / "dora.duckdb"
    with Warehouse(db) as wh:
        wh.load(read_import(files))
    return db


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module (Playwright's sync API allows one at a time)."""
    with browser_page() as page:
        yield page


@pytest.fixture(scope="module")
def page_at(small_org, browser):
    page = browser
    with dashboard(small_org) as url:

        def go(path: str):
            page.goto(f"{url}/{path}")
            return page

        yield go


def test_delivery_page_shows_the_month_by_hand(page_at):
    page = page_at("")
    # The data (1..15 September) covers part of the month: the cards say so.
    page.get_by_text("All teams · 2026-09 (partial)").wait_for()
    # 5 successes; 6 production deployments (with d3's failed run); d2, d3, d5 failed.
    page.get_by_text("5 deployments, 3 failed of 6 production deployments, 3 changes shipped").wait_for()
    card = page.get_by_test_id("stMetric")
    expect(card.filter(has_text="Change fail rate")).to_contain_text("50.0%")
    # Lead times 1 h, 3 h, 2 h: median 2.0 h. Rework: d4 and d6 of 6. Recovery 5, 6, 203 h.
    expect(card.filter(has_text="Lead time (median)")).to_contain_text("2.0 h")
    expect(card.filter(has_text="Rework rate")).to_contain_text("33.3%")
    expect(card.filter(has_text="Recovery time (median)")).to_contain_text("6.0 h")


def test_teams_page_drills_down_to_rows(page_at):
    page = page_at("teams")
    page.get_by_text("Drill down").wait_for()
    # The heading counts the rows listed under it (d1 d2 d3 d4) and, as the CLI does, the
    # successful ones among them.
    page.get_by_text(
        "4 production deployments of payments in 2026-09: 3 successful, 1 failed runs; 2 needed intervention"
    ).wait_for()


def test_health_page_counts_rows_and_gaps(page_at):
    page = page_at("health")
    page.get_by_text("deployments outside production (ignored)").wait_for()
    card = page.get_by_test_id("stMetric")
    expect(card.filter(has_text="deployments")).to_contain_text("7")
    expect(card.filter(has_text="changes")).to_contain_text("4")
    expect(card.filter(has_text="incidents")).to_contain_text("1")
    # Teams, not rows of the teams table (one per repository).
    expect(card.filter(has_text="teams")).to_contain_text("2")
    expect(card.filter(has_text="repositories")).to_contain_text("3")


def test_initiatives_page_without_initiatives_says_how_to_add_them(page_at):
    page = page_at("initiatives")
    page.get_by_text("No initiatives").wait_for()


# -- the demo org ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_at(demo_copy, browser):
    db = demo_copy(seed=7, end=DEMO_END)
    page = browser
    with dashboard(db) as url:

        def go(path: str):
            page.goto(f"{url}/{path}")
            return page

        yield go


def tick_labels(page, axis: str) -> list[str]:
    return svg_texts(page.locator(f"g.yaxislayer-above g.{axis}tick text"))


def svg_texts(locator) -> list[str]:
    return [t.strip() for t in locator.evaluate_all("els => els.map(e => e.textContent)")]


def test_delivery_charts_mark_the_partial_period_and_name_their_lines(demo_at):
    page = demo_at("")
    page.get_by_text("All teams · 2026-02").wait_for()  # the newest whole month in the cards
    page.locator(".js-plotly-plot").first.wait_for()
    settled(page)
    plot = page.locator(".js-plotly-plot").first
    # March 2026 holds 15 days of data: drawn as hollow markers labelled "partial".
    assert plot.locator("g.textpoint text", has_text="partial").count() >= 5
    legend = svg_texts(plot.locator("g.legend text.legendtext"))
    assert legend == ["lead time median", "lead time p90"]
    # Change fail rate (y4) and rework rate (y5): no tick label twice.
    for axis in ("y4", "y5"):
        labels = tick_labels(page, axis)
        assert len(labels) >= 3 and len(set(labels)) == len(labels), (axis, labels)


def test_teams_page_opens_on_the_newest_whole_period(demo_at):
    page = demo_at("teams")
    page.get_by_text("Drill down").wait_for()
    page.get_by_text("production deployments of ads in 2026-02:").wait_for()


def _screenshot_pages() -> dict:
    spec = importlib.util.spec_from_file_location("screenshot", Path(__file__).parents[1] / "docs" / "screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PAGES


def test_the_screenshot_script_visits_pages_that_exist(demo_at):
    for url_path, (ready, _) in _screenshot_pages().items():
        page = demo_at(url_path)
        page.get_by_text(ready).first.wait_for()
        settled(page)
        assert page.get_by_text("Page not found").count() == 0, url_path


@pytest.mark.parametrize("path", ["", "teams", "initiatives", "health"])
def test_every_page_says_when_each_source_last_loaded(demo_at, path):
    page = demo_at(path)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Data as of (last completed sync or import)", timeout=120_000)
    expect(sidebar).to_contain_text("demo: 20")  # the demo's load, stamped when it committed


def test_delivery_charts_mark_where_each_initiative_starts(demo_at):
    page = demo_at("")
    caption = page.get_by_text("Dotted lines: initiatives starting")
    expect(caption).to_contain_text("deploy-platform on", timeout=120_000)
    expect(caption).to_contain_text("preview-environments on")
    # One dotted line per initiative in each of the six subplots.
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.locator(".js-plotly-plot path[style*='dash']").count() >= 12


def test_teams_page_shows_every_team_with_readable_headings(demo_at):
    page = demo_at("teams")
    heading = page.get_by_text(re.compile(r"^\d+ teams in "))
    heading.wait_for(timeout=120_000)
    count = int(heading.inner_text().split()[0])
    assert count == 20  # the demo's teams (docs/demo-org.md)
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_contain_text("Lead time median (h)")
    # Every team's row is drawn: the grid is as tall as its rows, no scroll hides any.
    box = grid.bounding_box()
    assert box["height"] >= 35 * (count + 1)


def test_initiatives_page_shows_counterfactual_stages_and_event_study(demo_at):
    page = demo_at("initiatives")
    page.get_by_text("Week by week, relative to adoption").wait_for(timeout=240_000)
    page.get_by_text("Where lead time goes").wait_for()
    expect(page.get_by_text("Estimates", exact=True)).to_be_visible()
    # The event study draws one panel per DORA metric, titled by its human name.
    expect(page.locator(".js-plotly-plot").filter(has_text="weeks from adoption")).to_have_count(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
