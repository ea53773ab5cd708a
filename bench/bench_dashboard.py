"""Dashboard benchmark: every page in headless Chromium against a bare Streamlit page, in the
same browser and run.

For each database it serves `dora-impact dashboard` and bench/bare_page.py (a radio, four
metric cards, one plotly chart: what Streamlit and plotly cost by themselves), then measures
in Debian's chromium (Playwright), from navigation or click to the page being drawn (its
marker text shown, every chart drawn, Streamlit no longer running the script):

- first render: the first visit to the page after the server started;
- filter change: the page's own filter (period radio, quarter or initiative picker);
- reload: for pages without a filter (Adoption, Data health, and Initiatives on an org with
  none), a reload of the page, against the bare page's reload.

Each figure is given as a ratio to the bare page's same step, with server and browser CPU
beside the wall clock (on a shared machine, wall clock depends on the neighbours).
Target: every page within 1.5x of the bare page at the 200-team, 1,000,000-deployment org.
Run: `.venv/bin/python bench/bench_dashboard.py [--scale-folder bench/data/parquet] [--skip-scale]`;
the scale org is bench/bench_scale.py's (generated and imported when the folder holds no
database). Figures go to docs/performance.md by hand, with the machine they came from.
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


def drawn(page, marker: str, timeout: float = 300) -> None:
    """Wait until the page is drawn: its marker text there, every chart drawn, and the script
    finished (no status widget in two polls in a row)."""
    deadline = time.monotonic() + timeout
    page.get_by_text(marker).first.wait_for(timeout=timeout * 1000)
    quiet = 0
    while time.monotonic() < deadline:
        charts = page.locator(".js-plotly-plot").count()
        svgs = page.locator(".js-plotly-plot .main-svg").count()
        running = page.locator(RUNNING).count() > 0
        quiet = quiet + 1 if not running and svgs >= charts else 0
        if quiet >= 2:
            return
        page.wait_for_timeout(25)
    raise TimeoutError("the page did not finish drawing")


def pick(page, box: int, option: int):
    """Choose option `option` of the page's `box`-th select box."""
    def run() -> None:
        if page.get_by_test_id("stSelectbox").count() <= box:
            page.reload()  # nothing to pick (an org without initiatives): a reload instead
            return
        page.get_by_test_id("stSelectbox").nth(box).click()
        page.get_by_role("option").nth(option).click()
    run.box = box  # measure() names the step a reload when there is nothing to pick
    return run


# page: (url path, marker when drawn, filter change: (action, marker after it), or None)
PAGES = {
    "Delivery": ("", "Team by team", lambda p: (
        lambda: p.get_by_text("week", exact=True).first.click(), "-W")),
    "Teams": ("teams", "changes shipped", lambda p: (
        lambda: p.get_by_text("week", exact=True).first.click(), "-W")),
    "Quarters": ("quarters", "At a glance", lambda p: (pick(p, 1, 2), "At a glance")),
    # The marker is the title: an org without initiatives (bench_scale's) shows a warning only.
    "Initiatives": ("initiatives", "Did a platform initiative", lambda p: (
        pick(p, 0, 1), "Did a platform initiative")),
    "Adoption": ("adoption", "Adoption", None),
    "Data health": ("health", "Coverage gaps", None),
}


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


def bare_server(port: int):
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "bench" / "bare_page.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def measure(db: Path) -> dict[str, dict[str, tuple[float, float, float]]]:
    """{page: {step: (wall s, server CPU s, browser CPU s)}}, the bare page's under "bare"."""
    import requests

    from tests.browser import free_port

    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    port = free_port()
    bare = bare_server(port)
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        with dashboard(db, timeout=300) as url, browser_page(width=1440, height=900) as page:
            figures: dict[str, tuple[float, float, float]] = {}
            step(figures, "first render", lambda: (page.goto(f"http://127.0.0.1:{port}"),
                                                   drawn(page, "Drawn: month")))
            step(figures, "filter change", lambda: (page.get_by_text("week", exact=True).first.click(),
                                                    drawn(page, "Drawn: week")))
            # A page with no filter is measured by a reload: a new session, the app's script run
            # from the top, against the bare page's own reload (not its rerun).
            step(figures, "reload", lambda: (page.reload(), drawn(page, "Drawn: month")))  # its default
            out["bare"] = figures
            for name, (path, marker, change) in PAGES.items():
                figures = {}
                step(figures, "first render",
                     lambda path=path, marker=marker: (page.goto(f"{url}/{path}"), drawn(page, marker)))
                if change is None:
                    step(figures, "reload", lambda marker=marker: (page.reload(), drawn(page, marker)))
                else:
                    action, after = change(page)
                    nothing_to_pick = page.get_by_test_id("stSelectbox").count() <= getattr(action, "box", -1)
                    step(figures, "reload" if nothing_to_pick else "filter change",
                         lambda action=action, after=after: (action(), drawn(page, after)))
                out[name] = figures
    finally:
        os.killpg(bare.pid, 15)
        bare.wait(timeout=20)
    return out


def demo_db(folder: Path) -> Path:
    db = folder / "demo.duckdb"
    subprocess.run([sys.executable, "-m", "dora_impact", "--db", str(db), "demo", "--no-serve"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db


def scale_db_of(folder: Path, teams: int) -> Path:
    db = folder / "bench.duckdb"
    if db.exists():
        return db
    from bench import bench_scale

    paths = bench_scale.generate(folder, "parquet", teams_n=teams)
    subprocess.run([sys.executable, "-m", "dora_impact", "--db", str(db), "import",
                    *map(str, paths.values())], check=True, stdout=subprocess.DEVNULL)
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale-folder", default="bench/data/parquet")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--teams", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = {} if args.skip_demo else {"demo": demo_db(Path(tmp))}
        if not args.skip_scale:
            targets["scale"] = scale_db_of(Path(args.scale_folder), args.teams)
        for name, db in targets.items():
            load = os.getloadavg()[0]
            figures = measure(db)
            bare = figures["bare"]
            print(f"{name}: | page | step | wall s | x bare | server CPU s | browser CPU s |")
            for page, steps in figures.items():
                for label, (wall, server, browser) in steps.items():
                    ratio = wall / bare[label][0]
                    print(f"{name}: | {page} | {label} | {wall:.2f} | {ratio:.2f} | {server:.2f} "
                          f"| {browser:.2f} |")
            print(f"{name}: load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
