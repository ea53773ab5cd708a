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


TICK = os.sysconf("SC_CLK_TCK")


def descendants_cpu() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process's descendants, by kind: the
    dashboard server (python) and the browser (chromium). On a shared machine wall clock
    depends on the neighbours; this does not."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        stats[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    totals = {"server": 0.0, "browser": 0.0}
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        name, cpu = stats.get(pid, ("", 0.0))
        if name.startswith("python"):
            totals["server"] += cpu
        elif "chrom" in name:
            totals["browser"] += cpu
    return totals


def step(figures: dict, label: str, action) -> None:
    before, start = descendants_cpu(), time.perf_counter()
    action()
    wall, after = time.perf_counter() - start, descendants_cpu()
    figures[label] = (wall, after["server"] - before["server"], after["browser"] - before["browser"])


def measure(db: Path) -> dict[str, tuple[float, float, float]]:
    """(wall s, server CPU s, browser CPU s) of each step."""
    figures: dict[str, tuple[float, float, float]] = {}
    with dashboard(db, timeout=180) as url, browser_page(width=1440, height=1000) as page:
        step(figures, "first render", lambda: (page.goto(url), drawn(page)))
        # A reload is a new Streamlit session on the same server.
        step(figures, "later visit", lambda: (page.goto(url), drawn(page)))
        step(figures, "filter change (month -> week)", lambda: (
            page.get_by_text("week", exact=True).first.click(), drawn(page, must_contain="-W")))
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
            load = os.getloadavg()[0]
            for label, (wall, server, browser) in measure(db).items():
                print(f"{name}: {label}: {wall:.2f} s wall; CPU: server {server:.2f} s, "
                      f"browser {browser:.2f} s")
            print(f"{name}: load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
