"""The docs say what the code does: the README's command table and the import examples."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from dora_impact.cli import app
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def cli_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_readme_lists_exactly_the_cli_commands():
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- commands:")[1].split("<!-- end commands -->")[0]
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", table, flags=re.M))
    assert documented == cli_commands()


def test_every_command_has_help():
    for name in cli_commands():
        result = run_cli(name, "--help")
        assert result.code == 0, (name, result.stderr)
        assert "Usage" in result.stdout


def test_import_format_examples_load(tmp_path):
    text = (ROOT / "docs" / "import-format.md").read_text()
    examples = re.findall(r"^`([a-z_]+\.(?:csv|jsonl))`:\n\n```\w+\n(.*?)```", text, flags=re.M | re.S)
    assert {name for name, _ in examples} >= {"deployments.csv", "changes.jsonl", "incidents.csv"}
    for name, body in examples:
        (tmp_path / name).write_text(body)
    result = run_cli("import", *(str(tmp_path / name) for name, _ in examples), db=tmp_path / "d.duckdb")
    assert result.code == 0, result.stderr
    assert "deployments.csv (deployments): 3 rows read, 3 new" in result.stderr


def test_readme_config_example_is_valid(tmp_path):
    from dora_impact.config import load_config

    text = (ROOT / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, flags=re.S).group(1)
    path = tmp_path / "dora.toml"
    path.write_text("\n".join(line[3:] if line.startswith("   ") else line for line in block.splitlines()))
    config = load_config(path)
    assert config.github and config.github.orgs == ["acme"]
    assert config.teams["payments"] == ["acme/checkout*", "acme/billing"]
    assert config.initiatives[0].name == "deploy-platform"
