"""Where the data is, parsed once: a file made absolute, a DuckLake location kept exactly as
given (a `//` inside it survives), and the same value reaching the dashboard's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dora_impact.context import AppContext
from dora_impact.dashboard_command import dashboard_command_line
from warehouse.location import Location

LAKE = "ducklake:postgres:dbname=lake host=/run/postgresql//sock user=dora"


def test_a_lake_location_is_kept_as_given_and_a_file_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lake = Location.parse(LAKE)
    assert (lake.is_lake, lake.text, str(lake)) == (True, LAKE, LAKE)
    assert lake.exists()  # only its catalog can tell; the dashboard does not refuse it
    assert lake.beside(".webhooks.jsonl") == Path("dora-lake.webhooks.jsonl")
    with pytest.raises(ValueError):
        _ = lake.path
    file = Location.parse("data/d.duckdb")
    assert (file.is_lake, file.path, str(file)) == (False, tmp_path / "data" / "d.duckdb", "data/d.duckdb")
    assert not file.exists()
    assert file.beside(".webhooks.jsonl") == tmp_path / "data" / "d.duckdb.webhooks.jsonl"
    assert Location.parse(file) is file and Location.parse(str(tmp_path / "data/d.duckdb")) == file


def test_the_dashboard_server_gets_the_location_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DORA_IMPACT_DB", raising=False)
    monkeypatch.delenv("DORA_IMPACT_CONFIG", raising=False)
    for given, passed in ((LAKE, LAKE), ("d.duckdb", str(tmp_path / "d.duckdb"))):
        command = dashboard_command_line(AppContext.resolve(given, None), 8501, "localhost")
        assert command[command.index("--db") + 1] == passed
