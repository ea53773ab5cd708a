"""A real dashboard in a real headless browser: helpers shared by the dashboard tests and the
screenshot script (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

CHROMIUM = Path("/usr/bin/chromium")
# Without these, chromium tries to reach Google's hosts at start; the sandbox needs user
# namespaces that a root CI container lacks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(db: Path, config: Path | None = None, timeout: float = 60, port: int | None = None) -> Iterator[str]:
    """Serve `dora-impact dashboard` on a free loopback port (or `port`); yield its URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "dora_impact", "--db", str(db)]
    if config:
        command += ["--config", str(config)]
    command += ["dashboard", "--port", str(port), "--address", "127.0.0.1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"dashboard did not start: {output[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


@contextmanager
def browser_page(width: int = 1500, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


# The app root says whether the script is still running (Streamlit sets this attribute for
# its own tests); plotly draws each figure's SVG after the script's output arrives.
SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    return [...document.querySelectorAll('.js-plotly-plot')].every(p => p.querySelector('.main-svg'));
}"""


def settled(page, timeout: float = 120_000) -> None:
    """Wait until the page's script run has ended and every plotly figure has drawn: a state,
    not a fixed pause."""
    page.wait_for_function(SETTLED, timeout=timeout)
