"""Dashboard benchmark: the Delivery page in headless Chromium, on the demo and at scale.

For each database it serves `dora-impact dashboard`, then measures in Debian's chromium
(Playwright), from navigation to the page being fully drawn (every chart drawn, the KPI cards
shown, Streamlit no longer running the script):

- first render: the first visit after the server started (nothing cached);
- later visit: the page loaded again (a new session on the same server);
- filter change: switching the period from month to week (a query not cached yet).

Targets (issue 12): first render <= 2 s and filter change <= 1 s at 1,000,000 deployments.
Run: `.venv/bin/python bench/bench_dashboard.py [--scale-folder bench/data/parquet]`; the scale
org is bench/bench_scale.py's (generated and imported here when the folder holds no database).
Figures go to docs/performance.md by hand, with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import browser_page, dashboard  # noqa: E402

RUNNING = '[data-testid="stStatusWidget"]'


def drawn(page, must_contain: str | None = None, timeout: float = 120) -> None:
    """Wait until the Delivery page is drawn: charts and cards there, the script finished."""
    deadline = time.monotonic() + timeout
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=timeout * 1000)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=timeout * 1000)
    while time.monotonic() < deadline:
        running = page.locator(RUNNING).count() > 0
        heading = page.locator("h3").first.inner_text() if page.locator("h3").count() else ""
        if not running and (must_contain is None or must_contain in heading):
            return
        page.wait_for_timeout(20)
    raise TimeoutError("the page did not finish drawing")


def measure(db: Path) -> dict[str, float]:
    figures = {}
    with dashboard(db, timeout=180) as url, browser_page(width=1440, height=1000) as page:
        start = time.perf_counter()
        page.goto(url)
        drawn(page)
        figures["first render"] = time.perf_counter() - start

        second = page  # a reload is a new Streamlit session on the same server
        start = time.perf_counter()
        second.goto(url)
        drawn(second)
        figures["later visit"] = time.perf_counter() - start

        start = time.perf_counter()
        second.get_by_text("week", exact=True).first.click()
        drawn(second, must_contain="-W")
        figures["filter change (month -> week)"] = time.perf_counter() - start
    return figures


def demo_db(folder: Path) -> Path:
    db = folder / "demo.duckdb"
    subprocess.run([sys.executable, "-m", "dora_impact", "--db", str(db), "demo", "--no-serve"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db


def scale_db(folder: Path) -> Path:
    db = folder / "bench.duckdb"
    if db.exists():
        return db
    from bench.bench_scale import generate

    paths = generate(folder, "parquet")
    subprocess.run([sys.executable, "-m", "dora_impact", "--db", str(db), "import",
                    *map(str, paths.values())], check=True, stdout=subprocess.DEVNULL)
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale-folder", default="bench/data/parquet")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = {"demo": demo_db(Path(tmp))}
        if not args.skip_scale:
            targets["1M deployments"] = scale_db(Path(args.scale_folder))
        for name, db in targets.items():
            for step, seconds in measure(db).items():
                print(f"{name}: {step}: {seconds:.2f} s")
    print(f"cores: {os.cpu_count()}; load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
