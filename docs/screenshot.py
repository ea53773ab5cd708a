"""Regenerate the dashboard and report screenshots in docs/ from the demo org.

.venv/bin/python -m dora_impact --db /tmp/demo.duckdb demo --no-serve
.venv/bin/python docs/screenshot.py /tmp/demo.duckdb
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import browser_page, dashboard  # noqa: E402

# URL path -> (text that says it has loaded, viewport height: Streamlit scrolls inside the
# page, so a full-page screenshot is only as tall as the viewport). The default page (Delivery)
# lives at the root: its url_path answers "Page not found".
PAGES = {
    "": ("Team by team", 1900),
    "teams": ("changes shipped", 1300),
    "initiatives?initiative=deploy-platform": ("Week by week, relative to adoption", 4300),
    "quarters": ("DORA levels per metric", 3000),
    "adoption": ("preview-environments", 3600),
    "health": ("Rate limits at the last sync", 1500),
}
NAMES = {"": "delivery", "initiatives?initiative=deploy-platform": "initiatives"}


def main(db: str) -> None:
    with dashboard(Path(db)) as url, browser_page(width=1440, height=1000) as page:
        for path, (ready, height) in PAGES.items():
            page.set_viewport_size({"width": 1440, "height": height})
            page.goto(f"{url}/{path}")
            page.get_by_text(ready).first.wait_for(timeout=180_000)
            if path not in ("teams", "health"):  # the pages with charts
                page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(4000)  # charts finish drawing after the text arrives
            out = ROOT / "docs" / f"dashboard-{NAMES.get(path, path)}.png"
            page.screenshot(path=str(out), full_page=True)
            print(out)


def report(db: str, quarter: str = "2026-Q3") -> None:
    """The `report` HTML for a past quarter, opened from a file as a reader would."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        subprocess.run([sys.executable, "-m", "dora_impact", "--db", db, "report", "--quarter", quarter,
                        "--out", str(html)], check=True)
        with browser_page(width=1200, height=1000) as page:
            page.goto(html.as_uri())
            page.locator(".js-plotly-plot").nth(2).wait_for()
            page.wait_for_timeout(1500)
            out = ROOT / "docs" / "report.png"
            page.screenshot(path=str(out), full_page=True)
            print(out)


if __name__ == "__main__":
    main(sys.argv[1])
    report(sys.argv[1])
