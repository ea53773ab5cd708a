"""docs/alerts.md's demo walkthrough holds as written: each command of "Try it on the demo" is
run in order on one database under the clock the section names, its exit code is the one its
comment gives, and every line of the output block after it is in its output."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from dora_impact.cli import app

# The whole demo walkthrough over several simulated weeks.
pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"


def walkthrough() -> tuple[datetime, list[tuple[list[str], int, list[str]]]]:
    text = DOC.read_text()
    section = text.split("## Try it on the demo", 1)[1].split("\n## ", 1)[0]
    clock = datetime.fromisoformat(re.search(r"clock: `([^`]+)`", section).group(1))
    steps: list[tuple[list[str], int, list[str]]] = []
    for kind, body in re.findall(r"```(sh|text)\n(.*?)```", section, re.S):
        if kind == "sh":
            for line in body.strip().splitlines():
                command, _, comment = line.partition("#")
                code = int(re.search(r"exit (\d)", comment).group(1))
                steps.append((shlex.split(command)[1:], code, []))
        else:
            steps[-1][2].extend(body.strip().splitlines())
    return clock, steps


def test_the_demo_walkthrough_holds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clock, steps = walkthrough()
    assert len(steps) >= 5 and any(expected for _, _, expected in steps)
    with time_machine.travel(clock, tick=False):
        for args, code, expected in steps:
            result = CliRunner().invoke(app, args, env={}, catch_exceptions=False)
            assert result.exit_code == code, (args, result.output)
            for line in expected:
                assert line in result.output, (args, line, result.output)
