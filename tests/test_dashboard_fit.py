"""Every page fits the screen: at 1440x900 and 1280x800, no key table (st.table, st.dataframe)
needs a horizontal scroll or reaches past the window, and no KPI card's value is cut with an
ellipsis ("87,…"). The drill-down's rows (a container keyed detail-*) are the one exception:
every column of a deployment is there, and that grid scrolls. Served for real on the demo
org, read in Debian's chromium."""

from __future__ import annotations

from datetime import date

import pytest

from collectors.synthetic import DEFAULT_SEED, load_demo
from tests.browser import CHROMIUM, browser_page, dashboard
from warehouse import Warehouse

# Every page opened in Debian's chromium.
pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

END = date(2026, 3, 2)
PAGES = {  # url path: a text that is there once the page is drawn
    "": "Team by team",
    "teams": "changes shipped",
    "quarters": "At a glance",
    "initiatives": "Week by week, relative to adoption",
    "adoption": "preview-environments",
    "health": "Coverage gaps",
}
SCREENS = ((1440, 900), (1280, 800))

# The tables and cards whose content is cut: a box that scrolls sideways (or reaches past the
# window), a value shown with an ellipsis.
OVERFLOW = """() => {
  const cut = [];
  const name = el => (el.innerText || '').trim().split('\\n')[0].slice(0, 60);
  for (const el of document.querySelectorAll('[data-testid="stTable"], [data-testid="stDataFrame"]')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;  // in a closed expander
    if (el.closest('[class*="st-key-detail-"]')) continue;  // the rows behind a number: wide by nature
    if (box.right > window.innerWidth + 1) cut.push(`past the window: ${el.dataset.testid} ${name(el)}`);
    for (const inner of [el, ...el.querySelectorAll('*')]) {
      const style = getComputedStyle(inner).overflowX;
      if ((style === 'auto' || style === 'scroll') && inner.scrollWidth > inner.clientWidth + 1) {
        cut.push(`scrolls sideways: ${el.dataset.testid} ${name(el)} (${inner.scrollWidth} > ${inner.clientWidth})`);
        break;
      }
    }
  }
  for (const el of document.querySelectorAll('[data-testid="stMetricValue"]')) {
    for (const inner of [el, ...el.querySelectorAll('*')]) {
      if (inner.scrollWidth > inner.clientWidth + 1) { cut.push(`card value cut: ${name(el)}`); break; }
    }
  }
  return cut;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("fit") / "dora.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=DEFAULT_SEED, end=END)
    with dashboard(db) as url, browser_page() as page:
        yield url, page


@pytest.mark.parametrize("path", list(PAGES))
def test_no_key_table_is_cut(served, path):
    url, page = served
    problems = []
    for width, height in SCREENS:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{url}/{path}")
        page.get_by_text(PAGES[path]).first.wait_for(timeout=240_000)
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=240_000)
        page.wait_for_timeout(1000)  # the grids lay out their columns after the data arrives
        problems += [f"{width}x{height}: {p}" for p in page.evaluate(OVERFLOW)]
        checked = page.locator('[data-testid="stTable"], [data-testid="stDataFrame"], [data-testid="stMetricValue"]')
        assert checked.count() > 0  # the check looked at something on every page
    assert problems == []
