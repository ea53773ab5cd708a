"""Readers and writers on one DuckDB file at once, for real: shared by
tests/test_concurrency.py (a short run) and bench/bench_contention.py (a long one).

Writers: `sync --full` against the fake GitHub (slowed: every request waits `delay`) and
`import` of canonical files, each in a loop of new processes. Readers: `metrics --format json`
in a loop, and headless chromium reloading every dashboard page (a dashboard that is started
while the writers run, so its first views have no earlier data to fall back on). Every
failed command, and every page that shows an exception, a lock message or a "busy" note, is
an error.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.browser import browser_page, dashboard
from tests.github_fake import TOKEN, FakeGitHub, build_scenario

PAGES = ("health", "teams", "delivery", "initiatives")
BAD_TEXT = ("Could not set lock", "Traceback", "Busy", "IO Error", "is writing to the database")


@dataclass
class Tally:
    runs: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, ok: bool, what: str, seconds: float) -> None:
        self.runs += 1
        self.seconds.append(seconds)
        if not ok:
            self.errors.append(what[-600:])

    def p(self, q: float) -> float:
        s = sorted(self.seconds)
        return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


@dataclass
class Outcome:
    syncs: Tally = field(default_factory=Tally)
    imports: Tally = field(default_factory=Tally)
    metrics: Tally = field(default_factory=Tally)
    pages: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    def errors(self) -> list[str]:
        return [*self.syncs.errors, *self.imports.errors, *self.metrics.errors, *self.pages.errors]


def import_files(folder: Path, n: int = 400) -> list[Path]:
    """n production deployments and their changes: a few hundred rows per import."""
    folder.mkdir(parents=True, exist_ok=True)
    deployments = ["deployment_id,repo,environment,status,finished_at"]
    changes = ["repo,sha,committed_at,deployment_id"]
    for i in range(n):
        day = f"2026-0{1 + i % 6}-{1 + i % 28:02d}"
        deployments.append(f"imp-{i},acme/imported,production,success,{day}T12:00:00Z")
        changes.append(f"acme/imported,imp{i:08x},{day}T08:00:00Z,imp-{i}")
    (folder / "deployments.csv").write_text("\n".join(deployments) + "\n")
    (folder / "changes.csv").write_text("\n".join(changes) + "\n")
    return [folder / "deployments.csv", folder / "changes.csv"]


def _cli(args: list[str], env: dict) -> tuple[bool, str, float]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "dora_impact", *args], capture_output=True, text=True, env=env, timeout=600
    )
    return done.returncode == 0, f"{args[2:4]} exit {done.returncode}: {done.stderr}", time.perf_counter() - t0


def run(tmp: Path, seconds: float, delay: float = 0.02, page_pause: float = 0.0) -> Outcome:
    """Run every writer and reader for `seconds` of wall clock; what each side saw."""
    out = Outcome()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per fake request otherwise
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        fake = FakeGitHub(delay=delay).attach(server)
        sc = build_scenario(tmp, fake)
        env = {**os.environ, "GITHUB_TOKEN": TOKEN, "COLUMNS": "200"}
        base = ["--config", str(sc.config_path)]
        ok, text, _ = _cli([*base, "sync"], env)  # the dashboard needs a database to open
        assert ok, text
        files = [str(p) for p in import_files(tmp / "import")]
        stop = threading.Event()
        started = time.monotonic()

        def loop(tally: Tally, args: list[str]) -> None:
            while not stop.is_set():
                ok, text, took = _cli([*base, *args], env)
                tally.add(ok, text, took)

        threads = [
            threading.Thread(target=loop, args=(out.syncs, ["sync", "--full"])),
            threading.Thread(target=loop, args=(out.imports, ["import", *files])),
            threading.Thread(target=loop, args=(out.metrics, ["metrics", "--by", "team", "--format", "json"])),
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # writers running before the dashboard starts
            with dashboard(sc.db, sc.config_path, timeout=120) as url, browser_page() as page:
                while time.monotonic() - started < seconds:
                    for name in PAGES:
                        t0 = time.perf_counter()
                        problem = _load(page, f"{url}/{name}")
                        out.pages.add(problem is None, f"page {name}: {problem}", time.perf_counter() - t0)
                        if page_pause:
                            time.sleep(page_pause)
        finally:
            stop.set()
            for t in threads:
                t.join()
        out.seconds = time.monotonic() - started
    finally:
        server.stop()
    return out


def _load(page, url: str) -> str | None:
    """None when the page rendered its content; else what went wrong."""
    page.goto(url)
    try:
        # Streamlit has rendered the page when its main block holds a heading or an alert.
        page.locator("[data-testid='stMain'] h1, [data-testid='stAlert']").first.wait_for(timeout=120_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000
        )
    except Exception as exc:  # noqa: BLE001 - a page that never renders is an error to count
        return f"did not render: {type(exc).__name__}"
    if page.locator("[data-testid='stException']").count():
        return "exception: " + page.locator("[data-testid='stException']").first.inner_text()[:300]
    text = page.locator("[data-testid='stMain']").inner_text()
    for bad in BAD_TEXT:
        if bad in text:
            return f"shows {bad!r}"
    return None
