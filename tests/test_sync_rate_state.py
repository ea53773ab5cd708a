"""A completed GitHub sync stores the rate limit it last saw per resource (the Data health
page shows it): against the fake GitHub, whose headers count every request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from collectors.github.sync import RATE_LIMIT_SCOPE, GitHubSync
from dora_impact.config import load_config
from tests.github_fake import TOKEN, FakeClock, FakeGitHub, build_scenario
from warehouse import Warehouse

NOW = datetime(2026, 1, 21, tzinfo=UTC).timestamp()


@pytest.fixture
def sc(tmp_path, httpserver, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return build_scenario(tmp_path, FakeGitHub(clock=FakeClock(NOW)).attach(httpserver))


def test_the_last_rate_limit_seen_is_stored_per_resource(sc):
    with Warehouse(sc.db) as wh:
        GitHubSync(wh, load_config(sc.config_path), sleep=sc.fake.clock.sleep, clock=sc.fake.clock.time).run()
        rows = wh.con.execute(
            "SELECT resource, cursor FROM sync_state WHERE source = 'github' AND scope = ? ORDER BY resource",
            [RATE_LIMIT_SCOPE],
        ).fetchall()
    fake = sc.fake
    assert [r for r, _ in rows] == sorted(r for r in fake.used if fake.used[r])
    for resource, cursor in rows:
        state = json.loads(cursor)
        # What the fake's last answer for that resource said (tests/github_fake.py headers).
        assert state["remaining"] == fake.limits[resource] - fake.used[resource]
        assert state["reset_at"] == datetime.fromtimestamp(int(fake.reset_at[resource]), UTC).isoformat()
