"""Every dashboard page served for real and read in Debian's chromium, on the demo org ending
on a pinned date: its headings and key numbers equal what `dora-impact metrics` and `impact`
say for the same filters, no error box, no console error; a screenshot of each page is left in
the test's folder. A small org written by hand checks the links and the Data health counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from collectors.files import read_import
from collectors.synthetic import DEFAULT_SEED
from tests.browser import CHROMIUM, browser_page, dashboard, settled
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.impact.summary import verdict_words

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

END = date(2026, 3, 2)  # a Monday: the demo's history ends here, whatever day the tests run
# Streamlit's page under a path first asks for its health and host config under that path,
# then at the root: the 404 of the first try is how it finds its base URL, not an error.
BASE_PATH_PROBE = re.compile(r"/[\w-]+/_stcore/(health|host-config)$")


class Browser:
    def __init__(self, page, url: str, shots: Path) -> None:
        self.page, self.url, self.shots = page, url, shots
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and BASE_PATH_PROBE.search(where):
            return
        self.errors.append(f"{message.text} ({where})")

    def open(self, path: str, ready: str, timeout: float = 240_000):
        self.errors.clear()
        self.page.goto(f"{self.url}/{path}")
        self.page.get_by_text(ready).first.wait_for(timeout=timeout)
        settled(self.page)
        return self.page

    def check(self, name: str) -> None:
        """No error box, no console error, and a screenshot."""
        expect(self.page.get_by_test_id("stException")).to_have_count(0)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def demo(demo_copy) -> Path:
    return demo_copy(seed=DEFAULT_SEED, end=END)


@pytest.fixture(scope="module")
def chromium():
    """One headless chromium for the module (Playwright's sync API allows one at a time)."""
    with browser_page(height=1400) as page:
        yield page


@pytest.fixture(scope="module")
def browser(demo, chromium, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    with dashboard(demo) as url:
        yield Browser(chromium, url, shots)


def cli_json(*args: str, db: Path) -> list[dict]:
    done = run_cli(*args, "--format", "json", db=db)
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


def texts(locator) -> list[str]:
    return [t.strip() for t in locator.evaluate_all("els => els.map(e => e.textContent)")]


def test_delivery_cards_and_team_panels_equal_metrics(browser, demo):
    rows = cli_json("metrics", "--by", "org", "--period", "month", db=demo)
    latest = [r for r in rows if r["complete"]][-1]
    page = browser.open("", "Team by team")
    page.get_by_text(f"All teams · {latest['period']}", exact=True).wait_for()
    cards = page.get_by_test_id("stMetric")
    expect(cards.filter(has_text="Deployments / week")).to_contain_text(f"{latest['deployments_per_week']:.1f}")
    expect(cards.filter(has_text="Change fail rate")).to_contain_text(f"{latest['change_fail_rate']:.1%}")
    expect(cards.filter(has_text="Rework rate")).to_contain_text(f"{latest['rework_rate']:.1%}")
    page.get_by_text(
        f"{latest['deployments']} deployments, {latest['failed_deployments']} failed of "
        f"{latest['production_deployments']} production deployments, {latest['changes']} changes shipped"
    ).wait_for()
    # One heatmap, a row per team (the teams `metrics --by team` lists), whatever their number:
    # one heatmap trace, and one trace of adoption marks on the adopting teams only.
    teams = sorted({r["key"] for r in cli_json("metrics", "--by", "team", "--period", "month", db=demo)})
    multiples = page.locator(".js-plotly-plot").nth(1)
    assert sorted(texts(multiples.locator("g.ytick text"))) == teams
    traces = multiples.evaluate("el => el.data.map(t => [t.type, t.y || []])")
    assert [t for t, _ in traces] == ["heatmap", "scatter"]
    from dashboards.data import initiative_cohorts

    adopters = {team for _name, team, _day in initiative_cohorts(str(demo), None)[0]}
    marked = set(traces[1][1])
    assert marked and marked <= adopters and set(teams) - adopters  # never-adopting teams carry no mark
    page.get_by_text(f"{len(teams)} teams, one colour scale").wait_for()
    # The median and p90 lines are named in the legend.
    legend = texts(page.locator(".js-plotly-plot").first.locator("g.legend text.legendtext"))
    assert legend == ["lead time median", "lead time p90"]
    browser.check("delivery")


def test_teams_page_counts_the_rows_under_each_heading(browser, demo):
    page = browser.open("teams", "changes shipped")
    heading = page.get_by_text(re.compile(r"^\d+ teams in "))
    period = heading.inner_text().split(" in ")[1].strip()
    month = [r for r in cli_json("metrics", "--by", "team", "--period", "month", db=demo) if r["period"] == period]
    assert heading.inner_text().startswith(f"{len(month)} teams in ")
    first = sorted(month, key=lambda r: r["key"])[0]
    # The drill-down opens on the first team: its heading counts the rows under it and the
    # successful ones among them, as `metrics` counts them.
    page.get_by_text(
        f"production deployments of {first['key']} in {period}: {first['deployments']} successful"
    ).wait_for()
    page.get_by_text(f"{first['changes']} changes shipped by {first['key']} in {period}").wait_for()
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_contain_text("Lead time median (h)")
    assert grid.bounding_box()["height"] >= 35 * (len(month) + 1)  # every team, no scroll
    browser.check("teams")


def _primary(rows: list[dict], name: str, metric: str) -> dict:
    (row,) = [r for r in rows if r["initiative"] == name and r["group"] == "treated teams"
              and r["metric"] == metric and r["primary"]]
    return row


def test_initiatives_page_states_the_estimates_of_impact(browser, demo):
    rows = cli_json("impact", db=demo)
    page = browser.open("initiatives", "Week by week, relative to adoption")
    name = "developer-portal"  # the first initiative to start is the one shown first
    page.get_by_text(f"{name} (portal): adopted by").wait_for()
    throughput = _primary(rows, name, "throughput")
    direction = "rose" if throughput["relative_change"] > 0 else "fell"
    page.get_by_text(
        f"Adopting teams' throughput {direction} {abs(throughput['relative_change']):.0%}"
    ).first.wait_for()
    table = page.get_by_test_id("stTable").first
    expect(table).to_contain_text("p adjusted")
    expect(table).to_contain_text("Endpoint")
    for metric in ("throughput", "instability"):
        row = _primary(rows, name, metric)
        expect(table).to_contain_text(verdict_words(row))  # a factor is descriptive: a dash
        expect(table).to_contain_text(f"{row['relative_change']:+.1%}")
    # Adopters against comparison teams, each group named with its number of teams: the
    # estimate's own comparison set (its first panel, deployment frequency).
    groups = page.locator(".js-plotly-plot").filter(has_text="comparison teams")
    expect(groups).to_have_count(1)
    legend = texts(groups.locator("g.legend text.legendtext"))
    compared = _primary(rows, name, "deployment_frequency")["comparison_teams"]
    assert legend == [f"adopting teams ({throughput['treated_teams']})", f"comparison teams ({compared})"]
    browser.check("initiatives")


def test_adoption_page_shows_every_initiative_as_impact_measures_it(browser, demo):
    page = browser.open("adoption", "preview-environments")
    latest = [
        re.search(r"in the week of (\S+), (\d+)% of the adopting teams'", run_cli("impact", name, db=demo).stdout).groups()
        for name in ("developer-portal", "deploy-platform", "preview-environments")
    ]
    # Both paved paths may show the same week and share: one section for each initiative.
    for week, share in set(latest):
        section = page.get_by_test_id("stMetric").filter(has_text=f"Week of {week}")
        expect(section.filter(has_text=f"{share}%")).to_have_count(latest.count((week, share)))
    # The portal stalls near 10%; the paved paths carry nearly all of their teams' deployments.
    portal = page.get_by_test_id("stMetric").filter(has_text="Teams with half or more").first
    expect(portal).to_contain_text("0 of 6")
    assert page.locator(".js-plotly-plot").count() == 3
    browser.check("adoption")


# -- a small org by hand: links and Data health -----------------------------------------------


@pytest.fixture(scope="module")
def small_org(tmp_path_factory) -> Path:
    """acme/shop: d1 ships c1 (PR #7, merged) and c2; d2 ships nothing; PR #8 merged before d2
    never ships; incident i2 names no deployment and none came in the 48 h before it. A sync
    of acme/shop stopped 30 days before, and the rate limit it saw."""
    folder = tmp_path_factory.mktemp("small")
    gh = "https://github.com/acme/shop"
    files = [
        write(folder / "teams.csv", "team,repo\npayments,acme/shop\n"),
        write(folder / "deployments.csv", f"""
deployment_id,repo,environment,status,finished_at,url
d1,acme/shop,production,success,2026-09-01T10:00:00Z,{gh}/actions/runs/11
d2,acme/shop,production,success,2026-09-03T10:00:00Z,
"""),
        write(folder / "changes.csv", f"""
repo,sha,committed_at,pr_number,deployment_id,url
acme/shop,{"a" * 40},2026-09-01T08:00:00Z,7,d1,{gh}/commit/{"a" * 40}
acme/shop,{"b" * 40},2026-09-01T09:00:00Z,,d1,
"""),
        write(folder / "pull_requests.csv", f"""
repo,number,created_at,merged_at,url
acme/shop,7,2026-08-31T08:00:00Z,2026-09-01T09:30:00Z,{gh}/pull/7
acme/shop,8,2026-09-01T12:00:00Z,2026-09-02T12:00:00Z,{gh}/pull/8
"""),
        write(folder / "incidents.csv", "incident_id,opened_at,repo\ni2,2026-09-20T11:00:00Z,acme/shop\n"),
    ]
    db = folder / "dora.duckdb"
    with Warehouse(db) as wh:
        wh.load(read_import(files))
        wh.con.execute(
            "INSERT INTO sync_state VALUES ('github', 'acme/shop', 'deployments', '{}', NULL, ?), "
            "('github', 'rate-limit', 'core', '{\"remaining\": 4321, \"reset_at\": \"2026-09-30T10:00:00+00:00\"}', "
            "NULL, ?)",
            [datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 30, 9, tzinfo=UTC)],
        )
    return db


@pytest.fixture(scope="module")
def small(small_org, chromium, tmp_path_factory):
    shots = tmp_path_factory.mktemp("small-screenshots")
    with dashboard(small_org) as url:
        yield Browser(chromium, url, shots)


def test_drill_down_links_to_github_where_the_url_is_known(small):
    page = small.open("teams", "changes shipped")
    page.get_by_text("2 production deployments of payments in 2026-09: 2 successful").wait_for()
    frames = page.get_by_test_id("stDataFrame")
    deployments = frames.filter(has_text="Deployment link").filter(has_not_text="Commit link")
    changes = frames.filter(has_text="Commit link")
    expect(deployments).to_have_count(1)
    expect(changes).to_have_count(1)
    expect(changes).to_contain_text("Pull request link")
    # Each link is the stored URL (shown as "view", the short sha, the number); rows without
    # one have no link.
    expect(deployments).to_contain_text("https://github.com/acme/shop/actions/runs/11")
    expect(changes).to_contain_text(f"https://github.com/acme/shop/commit/{'a' * 40}")
    expect(changes).to_contain_text("https://github.com/acme/shop/pull/7")
    assert "/commit/" + "b" * 40 not in changes.inner_text()
    small.check("teams-links")


def test_health_page_counts_each_gap_and_shows_the_last_syncs(small):
    page = small.open("health", "Rate limits at the last sync")
    for gap in ("Production deployments that shipped no change: 1",  # d2
                "Merged pull requests never shipped: 1",  # #8
                "Incidents attributed to no deployment: 1",  # i2
                "Repositories not synced for more than a week: 1"):  # acme/shop
        page.get_by_text(gap).wait_for()
    frames = page.get_by_test_id("stDataFrame")
    expect(frames.filter(has_text="d2")).to_have_count(1)
    expect(frames.filter(has_text="Requests remaining")).to_contain_text("4321")
    expect(frames.filter(has_text="Last synced (UTC)")).to_contain_text("acme/shop")
    small.check("health")
