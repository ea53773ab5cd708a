"""`dora-impact dashboard` on a DuckLake (a PostgreSQL catalog, Parquet files) serves every page
without an error box or console error, and each page shows what the same dashboard shows on a
DuckDB file holding the same import: the same numbers, read in Debian's chromium.

The org (all UTC, 10:00): acme/shop (team pay) deploys every Wednesday of Q2 and Q3 2026, each
deployment shipping one change committed 6 h before it; acme/web (team web) every other Thursday
of Q3; an incident caused by shop's first July deployment, resolved after 2 h; the initiative
`portal` adopted by pay on 1 Jul. One deployment on 1 Oct makes the data cover Q3 to its end.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest

from tests.browser import CHROMIUM, browser_page, dashboard, settled
from tests.conftest import run_cli, write
from tests.test_dashboard_pages import Browser
from tests.test_lake import lake, needs_lake, pg  # noqa: F401  (fixtures)
from warehouse.formatting import value_text

pytestmark = [pytest.mark.browser, pytest.mark.lake]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

PAGES = {  # url path: the page's title
    "": "Delivery performance",
    "teams": "Teams",
    "quarters": "Quarters",
    "initiatives": "Initiatives",
    "adoption": "Adoption",
    "health": "Data health",
}
# What differs between two imports of the same files: when each was loaded, and the database's
# name and location.
WHEN = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?( UTC)?|\b\d+ (seconds?|minutes?|hours?) ago\b")


def org_files(folder) -> list:
    deployments = ["deployment_id,repo,environment,status,finished_at"]
    changes = ["repo,sha,committed_at,deployment_id"]
    for week in range(13):
        for quarter, first in (("q2", date(2026, 4, 1)), ("q3", date(2026, 7, 1))):
            at = datetime.combine(first + timedelta(weeks=week), datetime.min.time()) + timedelta(hours=10)
            deployments.append(f"{quarter}-{week},acme/shop,production,success,{at.isoformat()}Z")
            changes.append(f"acme/shop,c-{quarter}-{week},{(at - timedelta(hours=6)).isoformat()}Z,{quarter}-{week}")
        if week % 2 == 0:
            deployments.append(f"web-{week},acme/web,production,success,"
                               f"{(date(2026, 7, 2) + timedelta(weeks=week)).isoformat()}T10:00:00Z")
    deployments.append("last,acme/web,production,success,2026-10-01T10:00:00Z")
    return [
        write(folder / "teams.csv", "team,repo\npay,acme/shop\nweb,acme/web\n"),
        write(folder / "deployments.csv", "\n".join(deployments) + "\n"),
        write(folder / "changes.csv", "\n".join(changes) + "\n"),
        write(folder / "incidents.csv", "incident_id,opened_at,resolved_at,deployment_id\n"
              "i1,2026-07-01T10:05:00Z,2026-07-01T12:00:00Z,q3-0\n"),
        write(folder / "initiatives.csv", "name,started_on,teams\nportal,2026-07-01,pay\n"),
    ]


def page_text(page) -> str:
    """What the page's main area says once it has stopped changing (settled, and two reads
    half a second apart agree: a table's rows can arrive after the script has ended), the load
    times taken out."""
    last = None
    for _ in range(120):
        settled(page)
        text = WHEN.sub("<when>", page.get_by_test_id("stMain").inner_text())
        if text == last:
            return text
        last = text
        page.wait_for_timeout(500)
    raise AssertionError("the page kept changing for a minute")


@needs_lake
def test_the_dashboard_on_a_lake_serves_every_page_with_the_files_numbers(lake, tmp_path):  # noqa: F811
    files = [str(f) for f in org_files(tmp_path)]
    db = tmp_path / "dora.duckdb"
    for location in (db, lake):
        done = run_cli("import", *files, db=location)
        assert done.code == 0, done.stderr
    seen: dict[str, dict[str, str]] = {}
    for name, location in (("file", db), ("lake", lake)):
        shots = tmp_path / f"shots-{name}"
        shots.mkdir()
        # A browser per server: a page left open would keep asking the stopped one for its health.
        with dashboard(location, timeout=180) as url, browser_page(height=1400) as chromium:
            browser = Browser(chromium, url, shots)
            for path, title in PAGES.items():
                page = browser.open(path, title)
                if path == "quarters":  # its table is drawn once the compare has run
                    page.get_by_text("At a glance").wait_for(timeout=240_000)
                    settled(page)
                browser.check(path or "delivery")
                seen.setdefault(path, {})[name] = page_text(page)
    for path in PAGES:
        assert seen[path]["lake"] == seen[path]["file"], path
    # And the numbers are the workflow's: Q3's deployment frequency against Q2's on the Quarters page.
    q3 = run_cli("compare", "2026-Q3", "2026-Q2", "--by", "org", "--format", "json", db=db)
    frequency = next(r for r in json.loads(q3.stdout) if r["metric"] == "deployment_frequency")
    quarters = seen["quarters"]["lake"]
    assert value_text("deployment_frequency", frequency["value_a"]) in quarters
    assert value_text("deployment_frequency", frequency["value_b"]) in quarters
