"""`dora-impact sync --git PATH`: a local repository, no API. Tags are deployments; merge
commits, "(#N)" squash commits, reverts and hotfixes are the signals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from collectors.localgit import sync_local
from dora_impact.config import Config
from tests.conftest import run_cli
from tests.github_fake import GitRepo
from warehouse import Warehouse
from warehouse.metrics import prepare


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def repo(tmp_path) -> tuple[GitRepo, dict[str, str]]:
    g = GitRepo(tmp_path / "shop")
    s = {"r0": g.commit("Initial", "2026-01-01T08:00:00")}
    g.tag("v1.0.0", s["r0"], at="2026-01-01T09:00:00", annotated=True)
    g.checkout("feature", new=True)
    s["f1"] = g.commit("Cart", "2026-01-02T10:00:00", author="ann")
    s["f2"] = g.commit("Cart tests", "2026-01-02T12:00:00", author="ann")
    g.checkout("main")
    s["m7"] = g.merge("feature", "Merge pull request #7 from acme/feature", "2026-01-03T09:00:00")
    s["sq"] = g.commit("Add search (#8)", "2026-01-03T15:00:00", author="ben")
    g.tag("v1.1.0", s["sq"], at="2026-01-04T10:00:00", annotated=True)
    g.checkout("hotfix/crash", new=True)
    s["hf"] = g.commit("Fix crash on empty cart", "2026-01-04T12:00:00", author="ann")
    g.checkout("main")
    s["m9"] = g.merge("hotfix/crash", "Merge pull request #9 from acme/hotfix/crash", "2026-01-04T13:00:00")
    g.tag("v1.1.1", s["m9"], at="2026-01-04T14:00:00", annotated=True)
    s["rv"] = g.revert(s["sq"], "2026-01-05T09:00:00")
    g.tag("v1.1.2", s["rv"], at="2026-01-05T10:00:00", annotated=True)
    g.tag("nightly", s["rv"])
    return g, s


def test_tags_are_deployments_and_history_gives_the_signals(repo, tmp_path):
    g, s = repo
    with Warehouse(tmp_path / "db.duckdb") as wh:
        result = sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
        prepare(wh)
        deployments = wh.con.execute(
            "SELECT deployment_id, environment, status, finished_at, sha, is_hotfix, "
            "is_rollback, failed FROM prod_deployments ORDER BY finished_at"
        ).fetchall()
        changes = wh.con.execute(
            "SELECT sha, pr_number, deployment_id FROM changes ORDER BY committed_at"
        ).fetchall()
        prs = wh.con.execute(
            "SELECT number, created_at, merged_at, first_commit_at, merge_sha "
            "FROM pull_requests ORDER BY number"
        ).fetchall()
        again = sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
    assert result.scopes == ["local/shop"]
    tag = "git:local/shop:tag:"
    assert deployments == [
        (tag + "v1.0.0", "production", "success", ts("2026-01-01T09:00"), s["r0"], False, False, False),
        # blamed by the hotfix after it, and by the revert of the commit it shipped
        (tag + "v1.1.0", "production", "success", ts("2026-01-04T10:00"), s["sq"], False, False, True),
        # the merged branch is hotfix/crash
        (tag + "v1.1.1", "production", "success", ts("2026-01-04T14:00"), s["m9"], True, False, False),
        # "This reverts commit <sq>"
        (tag + "v1.1.2", "production", "success", ts("2026-01-05T10:00"), s["rv"], False, True, False),
    ]  # `nightly` does not match ^v\d+
    assert changes == [
        (s["r0"], None, tag + "v1.0.0"),
        (s["f1"], 7, tag + "v1.1.0"),
        (s["f2"], 7, tag + "v1.1.0"),  # merge commit m7 is not a change
        (s["sq"], 8, tag + "v1.1.0"),
        (s["hf"], 9, tag + "v1.1.1"),
        (s["rv"], None, tag + "v1.1.2"),
    ]
    assert prs == [
        (7, ts("2026-01-02T10:00"), ts("2026-01-03T09:00"), ts("2026-01-02T10:00"), s["m7"]),
        (9, ts("2026-01-04T12:00"), ts("2026-01-04T13:00"), ts("2026-01-04T12:00"), s["m9"]),
    ]
    assert all(c.new == 0 and c.updated == 0 for c in again.counts.values())


def test_cli_sync_git(repo, tmp_path):
    g, _ = repo
    db = tmp_path / "cli.duckdb"
    done = run_cli("sync", "--git", str(g.path), "--since", "2026-01-01", db=db)
    assert done.code == 0, done.stderr
    assert "local/shop" in done.stdout and "deployments" in done.stdout
    with Warehouse(db, read_only=True) as wh:
        assert wh.con.execute("SELECT count(*) FROM deployments").fetchone() == (4,)
        assert wh.con.execute("SELECT count(*) FROM changes WHERE deployment_id IS NOT NULL").fetchone() == (
            6,
        )


def test_cli_sync_git_not_a_repository_is_exit_2(tmp_path):
    (tmp_path / "plain").mkdir()
    done = run_cli("sync", "--git", str(tmp_path / "plain"), db=tmp_path / "x.duckdb")
    assert done.code == 2
    assert done.stderr.strip() == f"dora-impact: {tmp_path / 'plain'}: not a git repository"
    done = run_cli("sync", "--since", "yesterday", "--git", str(tmp_path), db=tmp_path / "x.duckdb")
    assert done.code == 2 and "--since 'yesterday'" in done.stderr


@pytest.mark.parametrize("remote", [
    "https://github.com/acme/shop.git", "git@github.com:acme/shop.git", "ssh://git@github.com/acme/shop",
])
def test_a_github_remote_gives_each_commit_and_pull_request_its_url(repo, tmp_path, remote):
    g, s = repo
    g.git("remote", "add", "origin", remote)
    with Warehouse(tmp_path / "db.duckdb") as wh:
        result = sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
        changes = dict(wh.con.execute("SELECT sha, url FROM changes").fetchall())
        prs = wh.con.execute("SELECT number, url FROM pull_requests ORDER BY number").fetchall()
    assert result.scopes == ["acme/shop"]
    # Commits of pull requests and commits shipped outside any (r0, the revert) alike.
    assert changes == {sha: f"https://github.com/acme/shop/commit/{sha}"
                       for key, sha in s.items() if key not in ("m7", "m9")}
    assert prs == [(7, "https://github.com/acme/shop/pull/7"), (9, "https://github.com/acme/shop/pull/9")]


def test_a_remote_elsewhere_derives_no_url(repo, tmp_path):
    g, _ = repo
    g.git("remote", "add", "origin", "https://gitlab.example.com/acme/shop.git")
    with Warehouse(tmp_path / "db.duckdb") as wh:
        sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
        assert wh.con.execute("SELECT count(*) FROM changes WHERE url IS NOT NULL").fetchone() == (0,)
        assert wh.con.execute("SELECT count(*) FROM changes").fetchone()[0] == 6


def test_an_unchanged_resync_reads_no_history_and_blames_nothing(repo, tmp_path, monkeypatch):
    g, s = repo
    # A fix of the line v1.1.0's squash commit wrote, so the first sync blames.
    (g.path / "file4.txt").write_text("Add search, fixed\n")
    g.git("add", "-A")
    g.git("commit", "-q", "-m", "Fix search", at="2026-01-06T09:00:00")
    g.tag("v1.1.3", "HEAD", at="2026-01-06T10:00:00", annotated=True)
    trace = tmp_path / "trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    with Warehouse(tmp_path / "db.duckdb") as wh:
        sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
        first = trace.read_text()
        trace.write_text("")
        again = sync_local(wh, Config(), g.path, since=date(2026, 1, 1))
    second = trace.read_text()
    assert "built-in: git blame" in first and "built-in: git log" in first
    assert "built-in: git log" not in second and "built-in: git blame" not in second
    assert "built-in: git diff" not in second
    assert all(c.new == 0 and c.updated == 0 for c in again.counts.values())
