"""Command-line conventions: usage errors, --version, bare help, unusable database paths,
unreachable API hosts, failed commands that leave nothing behind, `sync --git` over the whole
history, and `dashboard` stopping its Streamlit server when told to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from dora_impact import __version__
from tests.browser import free_port
from tests.conftest import run_cli, write
from tests.github_fake import TOKEN, GitRepo
from warehouse import Warehouse

NO_TOKEN = {"GITHUB_TOKEN": "", "GH_TOKEN": ""}


@pytest.mark.parametrize(
    "args, message",
    [
        (["metrics", "--bogus"], "No such option: --bogus"),
        (["nocmd"], "No such command 'nocmd'"),
        (["metrics", "--format"], "Option '--format' requires an argument"),
        (["impact", "--format", "csv"], "Invalid value for '--format'"),
        (["impact", "--window-weeks", "2"], "Invalid value for '--window-weeks'"),
        (["dashboard", "--port", "99999"], "Invalid value for '--port'"),
    ],
)
def test_usage_errors_exit_2_with_clicks_message(args, message, db):
    result = run_cli(*args, db=db)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and message in lines[-1]
    assert "Traceback" not in result.stderr
    assert not any(name in result.stderr for name in ("NoSuchOption:", "UsageError:", "BadParameter:"))
    if args != ["metrics", "--format"]:  # click gives a missing value no usage line
        assert lines[0].startswith("Usage: dora-impact")
    assert not db.exists()


def test_version():
    result = run_cli("--version")
    assert (result.code, result.stdout.strip()) == (0, f"dora-impact {__version__}")


def test_bare_command_prints_help_and_exits_0():
    result = run_cli()
    assert result.code == 0, result.stderr
    assert "Usage: dora-impact" in result.stdout and "metrics" in result.stdout
    assert "Error" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["not-duckdb", "directory", "missing-folder"])
def test_a_path_that_cannot_be_a_database_is_one_line_and_exit_2(kind, tmp_path):
    target = {
        "not-duckdb": write(tmp_path / "notes.duckdb", "just some text\n"),
        "directory": tmp_path,
        "missing-folder": tmp_path / "nope" / "dora.duckdb",
    }[kind]
    expected = {
        "not-duckdb": "not a DuckDB database file",
        "directory": "is a directory, not a database file",
        "missing-folder": f"folder {tmp_path / 'nope'} does not exist",
    }[kind]
    repo = GitRepo(tmp_path / "src")
    repo.tag("v1", repo.commit("Initial", "2026-01-01T08:00:00"))
    for args in (["metrics"], ["sync", "--git", str(repo.path)], ["demo", "--no-serve"], ["dashboard"]):
        result = run_cli(*args, db=target)
        assert result.code == 2, (args, result.stderr)
        assert result.stderr.strip() == f"dora-impact: {target}: {expected}"
    if kind == "not-duckdb":
        assert target.read_text() == "just some text\n"
    assert not (tmp_path / "nope").exists()


def github_config(tmp_path: Path, api_url: str) -> Path:
    return write(
        tmp_path / "dora.toml",
        f'[github]\napi_url = "{api_url}"\nrepos = ["acme/api"]\nmax_retries = 1\n'
        f'cache_dir = "{tmp_path / "cache"}"\n',
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("dora.duckdb"))


@pytest.mark.parametrize(
    "api_url, cause",
    [
        # A leading dash is refused by the resolver itself: no DNS query leaves the machine.
        ("https://-no-such-host.invalid", "cannot reach -no-such-host.invalid: the name does not resolve"),
        ("http://127.0.0.1:{port}", "cannot reach 127.0.0.1: connection refused (2 attempts)"),
    ],
)
def test_an_unreachable_api_host_is_one_line_exit_4_and_leaves_nothing(api_url, cause, tmp_path, db):
    config = github_config(tmp_path, api_url.format(port=free_port()))
    result = run_cli("--config", str(config), "sync", db=db, env={"GITHUB_TOKEN": TOKEN})
    assert result.code == 4, result.stderr
    # The line counts the attempts when there was more than one: a name that does not resolve
    # is tried once, a refused connection twice, never for half a minute.
    assert result.stderr.strip().splitlines()[-1] == f"dora-impact: {cause}; nothing was synced"
    assert TOKEN not in result.stdout + result.stderr
    assert leftovers(tmp_path) == []


def test_an_unreachable_host_leaves_an_existing_database_without_a_cursor(tmp_path, db):
    with Warehouse(db):
        pass
    config = github_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert run_cli("--config", str(config), "sync", db=db, env={"GITHUB_TOKEN": TOKEN}).code == 4
    assert run_cli("--config", str(config), "sync", "--full", db=db, env={"GITHUB_TOKEN": TOKEN}).code == 4
    with Warehouse(db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM sync_state") == 0


def test_failed_commands_leave_no_new_database(tmp_path, db):
    config = github_config(tmp_path, "https://api.github.com")
    no_token = run_cli("--config", str(config), "sync", db=db, env=NO_TOKEN)
    assert no_token.code == 2 and "no GitHub token" in no_token.stderr
    not_repo = run_cli("sync", "--git", str(tmp_path / "not-a-repo"), db=db)
    assert not_repo.code == 2 and "no such directory" in not_repo.stderr
    assert leftovers(tmp_path) == []


def test_sync_git_reads_the_whole_history_and_bounds_the_first_deployment(tmp_path, db):
    """Tags years old (older than any 90 days before today) are deployments; the first one
    ships only the commits of the 90 days before it, not the years of history behind it."""
    g = GitRepo(tmp_path / "shop")
    g.commit("Ancient", "2019-01-01T08:00:00")
    recent = g.commit("Recent", "2020-05-01T08:00:00")
    g.tag("v1.0.0", recent, at="2020-05-02T08:00:00", annotated=True)
    later = g.commit("Later", "2020-06-01T08:00:00")
    g.tag("v1.1.0", later, at="2020-06-02T08:00:00", annotated=True)
    result = run_cli("sync", "--git", str(g.path), db=db)
    assert result.code == 0, result.stderr
    with Warehouse(db, read_only=True) as wh:
        shipped = wh.con.execute(
            "SELECT c.sha, d.deployment_id FROM changes c JOIN deployments d USING (deployment_id) "
            "ORDER BY c.committed_at"
        ).fetchall()
    assert shipped == [
        (recent, "git:local/shop:tag:v1.0.0"),
        (later, "git:local/shop:tag:v1.1.0"),
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_dashboard_stops_its_streamlit_server_when_told_to_stop(signum, db):
    with Warehouse(db):
        pass
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dora_impact", "--db", str(db), "dashboard", "--port", str(port),
         "--address", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    health = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        deadline = time.monotonic() + 90
        while not _answers(health):
            assert time.monotonic() < deadline and process.poll() is None, "dashboard did not start"
            time.sleep(0.3)
        os.kill(process.pid, signum)  # the command only, as a service manager does
        assert process.wait(timeout=30) in (0, -signum)
        deadline = time.monotonic() + 15
        while _answers(health):
            assert time.monotonic() < deadline, "Streamlit still serves after the command stopped"
            time.sleep(0.3)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.ConnectionError:
        return False


@pytest.mark.parametrize("section, deprecated", [
    ("[rules]", False),
    # The key's place before [rules]: still read, with one deprecation line.
    ("[github]\nrepos = [\"local/shop\"]\n\n[github.deployments]", True),
])
def test_the_hotfix_rule_is_one_source_neutral_key(section, deprecated, tmp_path, db):
    """`[rules] hotfix_pattern` is read by every source: a local release tag matching it is a hotfix,
    which makes the deployment before it a failure (1 of 2) and is itself rework (1 of 2)."""
    g = GitRepo(tmp_path / "shop")
    g.commit("Initial", "2026-02-20T08:00:00")
    first = g.commit("Add cart", "2026-03-02T08:00:00")
    g.tag("v1.0.0", first, at="2026-03-02T09:00:00", annotated=True)
    fix = g.commit("Fix cart", "2026-03-03T08:00:00")
    g.tag("v1.0.1-final", fix, at="2026-03-03T09:00:00", annotated=True)
    config = write(tmp_path / "dora.toml", f"{section}\nhotfix_pattern = 'final'\n")
    done = run_cli("--config", str(config), "sync", "--git", str(g.path), db=db)
    assert done.code == 0, done.stderr
    line = "[github.deployments] hotfix_pattern is read as [rules] hotfix_pattern; move it there"
    assert (line in done.stderr) is deprecated
    metrics = run_cli("--config", str(config), "metrics", "--period", "month", "--since", "2026-03-01",
                      "--until", "2026-03-31", "--format", "json", db=db)
    (row,) = [r for r in json.loads(metrics.stdout) if r["period"] == "2026-03"]
    assert (row["deployments"], row["failed_deployments"], row["rework_rate"]) == (2, 1, 0.5)
