"""The Quarters page served for real and read in headless chromium: the numbers of `compare`
(its own file: the dashboard tests' module-wide browser cannot be shared with a second one)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, browser_page, dashboard

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def quarters_org(tmp_path_factory):
    """The org of test_compare.py (2026-Q2 and 2026-Q3, hand-computed there). Both quarters
    are over on any day this runs, so nothing here depends on the day."""
    from tests.test_compare import build

    folder = tmp_path_factory.mktemp("quarters")
    return build(folder, folder / "dora.duckdb")


def test_quarters_page_shows_compare_and_downloads_its_csv(quarters_org, tmp_path):
    from tests.conftest import run_cli

    expected = run_cli("compare", "2026-Q3", "2026-Q2", "--format", "csv", db=quarters_org).stdout
    with dashboard(quarters_org) as url, browser_page() as page:
        page.goto(f"{url}/quarters?a=2026-Q3&b=2026-Q2")
        org, teams = page.get_by_test_id("stTable").first, page.get_by_test_id("stTable").nth(1)
        teams.wait_for(timeout=120_000)
        # One line per question, from the org's factors.
        expect(page.get_by_text("Faster? Can't tell (too little data for an interval)")).to_be_visible()
        expect(page.get_by_text("More stable? No detectable change: instability −36%")).to_be_visible()
        # The org: 13 deployments in 91 days against 27 in 92 (+105%), in human units; levels per
        # metric differ: 2.1 a week is high, 5 h lead time elite, 4/27 = 14.8% failing high
        # (3/13 = 23% in Q2: low).
        expect(org).to_contain_text("Deployment frequency")
        expect(org).to_contain_text("2.1 a week")
        expect(org).to_contain_text("+105%")
        expect(org.get_by_role("row", name="Lead time")).to_contain_text("elite")
        expect(org.get_by_role("row", name="Change fail rate")).to_contain_text("low → high")
        expect(org).not_to_contain_text("_")  # no snake_case
        # pay's deployment frequency: x 2 * 91/92 (+98%), cluster low -> high (test_compare.py).
        expect(teams).to_contain_text("+98%")
        expect(teams).to_contain_text("low → high")
        page.locator(".js-plotly-plot").first.wait_for()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        saved = tmp_path / "compare.csv"
        download.value.save_as(saved)
        assert saved.read_text() == expected
        page.get_by_role("button", name="Prepare the HTML report").click()
        with page.expect_download() as report:
            page.get_by_role("button", name="Download the HTML report").click()
        html = tmp_path / "report.html"
        report.value.save_as(html)
        from dora_impact_app.report import rows_from_html

        rows = rows_from_html(html.read_text())
        pay = next(r for r in rows if r["key"] == "pay" and r["metric"] == "deployment_frequency")
        assert pay["value_a"] == pytest.approx(26 / (92 / 7))
