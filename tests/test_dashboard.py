"""The dashboard served for real and read in headless chromium: it shows the warehouse's
numbers for a small org computed by hand (the fixture of test_metrics.py, moved into last month)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from collectors.files import read_import
from tests.browser import CHROMIUM, browser_page, dashboard
from tests.conftest import write
from warehouse import Warehouse

if not CHROMIUM.exists():
    # CI installs chromium (.ci/run); there a missing browser is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


def last_month() -> date:
    first_of_this = datetime.now(UTC).date().replace(day=1)
    return (first_of_this - timedelta(days=1)).replace(day=1)


@pytest.fixture(scope="module")
def small_org(tmp_path_factory):
    """Last month: acme/shop d1 d2 (caused i1) d3 (failed run) d4 (hotfix); acme/web d5, d6
    (rollback of d5). 5 successful deployments, 6 production deployments, 3 failed."""
    folder = tmp_path_factory.mktemp("org")
    m = last_month().isoformat()[:8]  # "YYYY-MM-"
    files = [
        write(folder / "teams.csv", "team,repo\npayments,acme/shop\nweb,acme/web\n"),
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
def page_at(small_org):
    with dashboard(small_org) as url, browser_page() as page:

        def go(path: str):
            page.goto(f"{url}/{path}")
            return page

        yield go


def test_delivery_page_shows_last_month_by_hand(page_at):
    page = page_at("delivery")
    label = last_month().strftime("%Y-%m")
    page.get_by_text(f"All teams · {label}").wait_for()
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
    # The period list starts with the newest period; the drill-down lists the rows behind it.
    page.get_by_text("production deployments of payments in").wait_for()


def test_health_page_counts_rows_and_gaps(page_at):
    page = page_at("health")
    page.get_by_text("deployments outside production (ignored)").wait_for()
    card = page.get_by_test_id("stMetric")
    expect(card.filter(has_text="deployments")).to_contain_text("7")
    expect(card.filter(has_text="changes")).to_contain_text("4")
    expect(card.filter(has_text="incidents")).to_contain_text("1")


def test_initiatives_page_without_initiatives_says_how_to_add_them(page_at):
    page = page_at("initiatives")
    page.get_by_text("No initiatives").wait_for()
