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
        grid = page.get_by_test_id("stTable")
        grid.wait_for(timeout=120_000)
        # pay's deployment frequency: x 2 * 91/92 (+98%), levels low -> high (test_compare.py).
        expect(grid).to_contain_text("+98%")
        expect(grid).to_contain_text("low → high")
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
