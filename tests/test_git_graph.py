"""The commit graph on real git repositories: partial clones, what each deployment shipped,
squash and rebase merges, the first deployment's window, rollbacks, late deployments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.config import DeploymentRules
from collectors.git import Deployed, Git, PullRequestIndex, clone_or_fetch, fetch_commits, ship
from tests.github_fake import GitRepo

WINDOW = datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def dep(did: str, sha: str, finished: str, env: str = "production") -> Deployed:
    return Deployed(did, env, sha, at(finished))


def shipped(
    repo: Git, deployments: list[Deployed], prs: PullRequestIndex | None = None, state: dict | None = None
):
    changes, flags, states, missing = [], [], [], []
    for batch in ship(
        "o/r", repo, deployments, prs or PullRequestIndex(), WINDOW, DeploymentRules(), state or {}
    ):
        changes += batch.changes
        flags += batch.evidence
        states.append(batch.state)
        missing += batch.missing
    return (
        {c["sha"]: c["deployment_id"] for c in changes},
        {
            d: {(f["kind"], f["points_at"]) for f in flags if f["deployment_id"] == d}
            for d in {f["deployment_id"] for f in flags}
        },
        states,
        missing,
    )


@pytest.fixture
def src(tmp_path) -> GitRepo:
    return GitRepo(tmp_path / "src")


def test_partial_clone_has_commits_but_no_trees_and_fetch_updates_it(src, tmp_path):
    one = src.commit("one", "2026-01-02T09:00:00")
    cache = tmp_path / "cache" / "o" / "r.git"
    # A clone killed half-way leaves only a .partial-* folder, never a broken cache.
    (cache.parent / "r.git.partial-999").mkdir(parents=True)
    repo = clone_or_fetch(str(src.path), cache)
    assert repo.run("config", "remote.origin.partialclonefilter").strip() == "tree:0"
    missing = repo.run("rev-list", "--objects", "--missing=print", "HEAD")
    assert any(line.startswith("?") for line in missing.splitlines())  # trees were not downloaded
    assert repo.has_commit(one)
    two = src.commit("two", "2026-01-03T09:00:00")
    src.tag("v2", two)
    repo = clone_or_fetch(str(src.path), cache)
    assert repo.has_commit(two) and repo.resolve("v2") == two
    assert [c.sha for c in repo.log(two, [one])] == [two]


def test_commit_of_a_deleted_branch_is_fetched_by_sha(src, tmp_path):
    src.commit("base", "2026-01-02T09:00:00")
    src.checkout("topic", new=True)
    lost = src.commit("deployed from a branch", "2026-01-03T09:00:00")
    src.checkout("main")
    src.delete_branch("topic")
    repo = clone_or_fetch(str(src.path), tmp_path / "c.git")
    assert fetch_commits(repo, [lost, "0" * 40]) == ["0" * 40]
    assert repo.has_commit(lost)


def test_merge_squash_and_rebase_merges(src, tmp_path):
    src.commit("root", "2025-12-01T00:00:00")
    src.checkout("f", new=True)
    a1 = src.commit("a1", "2026-01-02T10:00:00")
    src.checkout("main")
    m1 = src.merge("f", "Merge pull request #1 from o/f", "2026-01-02T12:00:00")
    src.checkout("s", new=True)
    b1 = src.commit("b1", "2026-01-03T10:00:00")
    src.commit("b2", "2026-01-03T11:00:00")
    src.checkout("main")
    s2 = src.squash("s", "B (#2)", "2026-01-04T10:00:00")
    src.checkout("r", new=True, start=s2)
    c1 = src.commit("c1", "2026-01-05T09:00:00")
    c2 = src.commit("c2", "2026-01-05T10:00:00")
    src.checkout("main")
    d1 = src.commit("direct", "2026-01-05T12:00:00")
    c1r = src.cherry_pick(c1, "2026-01-06T09:00:00")
    c2r = src.cherry_pick(c2, "2026-01-06T09:00:00")
    repo = Git(src.path)
    prs = PullRequestIndex(by_merge={m1: 1, s2: 2, c2r: 3})
    for number, sha, time in [
        (1, a1, "2026-01-02T10:00:00"),
        (2, b1, "2026-01-03T10:00:00"),
        (2, "b2" * 20, "2026-01-03T11:00:00"),
        (3, c1, "2026-01-05T09:00:00"),
        (3, c2, "2026-01-05T10:00:00"),
    ]:
        prs.add_commit(
            {
                "repo": "o/r",
                "sha": sha,
                "committed_at": at(time),
                "authored_at": at(time),
                "author": "x",
                "pr_number": number,
            }
        )
    got, _, _, _ = shipped(
        repo,
        [
            dep("D1", m1, "2026-01-02T13:00:00"),
            dep("D2", s2, "2026-01-04T11:00:00"),
            dep("D3", c2r, "2026-01-06T10:00:00"),
        ],
        prs,
    )
    assert got == {
        a1: "D1",  # the merge commit itself is not a change; root is older than the window
        b1: "D2",
        "b2" * 20: "D2",  # squash: the pull request's commits stand in for s2
        c1: "D3",
        c2: "D3",
        d1: "D3",  # rebase: originals stand in for both copies
    }
    assert s2 not in got and c1r not in got and c2r not in got and m1 not in got


def test_first_deployment_is_bounded_by_the_window(src):
    src.commit("old", "2025-11-01T00:00:00")
    new = src.commit("new", "2026-01-02T00:00:00")
    newer = src.commit("newer", "2026-01-03T00:00:00")
    got, _, _, _ = shipped(
        Git(src.path), [dep("P1", new, "2026-01-02T01:00:00"), dep("P2", newer, "2026-01-03T01:00:00")]
    )
    assert got == {new: "P1", newer: "P2"}  # `old` predates the window


def test_with_two_production_regions_a_commit_belongs_to_the_first_that_shipped_it(src):
    new = src.commit("new", "2026-01-02T00:00:00")
    newer = src.commit("newer", "2026-01-03T00:00:00")
    deployments = [
        dep("EU1", new, "2026-01-02T01:00:00", env="prod-eu"),
        dep("EU2", newer, "2026-01-03T01:00:00", env="prod-eu"),
        dep("US1", newer, "2026-01-03T00:30:00", env="prod-us"),
    ]
    got, _, _, _ = shipped(Git(src.path), deployments)
    assert got == {new: "EU1", newer: "US1"}


def test_rollback_ships_nothing_and_reverts_are_evidence_but_words_are_not(src):
    one = src.commit("one", "2026-01-02T00:00:00")
    two = src.commit("two", "2026-01-03T00:00:00")
    rv = src.revert(two, "2026-01-04T00:00:00")
    fix = src.commit("Hotfix login; call db.rollback() on error", "2026-01-05T00:00:00")
    got, evidence, _, _ = shipped(
        Git(src.path),
        [
            dep("A", two, "2026-01-03T01:00:00"),
            dep("B", one, "2026-01-03T02:00:00"),
            dep("C", rv, "2026-01-04T01:00:00"),
            dep("D", fix, "2026-01-05T01:00:00"),
        ],
    )
    assert [sha for sha, d in got.items() if d == "B"] == []
    assert evidence == {
        "B": {("redeploy", "A")},  # B deployed an ancestor of what A deployed
        "C": {("revert_of", two)},  # git's trailer names the reverted commit
    }  # D: words in a commit subject are not evidence
    assert got[rv] == "C" and got[fix] == "D" and got[one] == "A"


def test_only_new_deployments_are_walked_and_a_late_one_recomputes(src):
    c1 = src.commit("c1", "2026-01-02T00:00:00")
    c2 = src.commit("c2", "2026-01-03T00:00:00")
    c3 = src.commit("c3", "2026-01-04T00:00:00")
    repo = Git(src.path)
    d1, d3 = dep("D1", c1, "2026-01-02T01:00:00"), dep("D3", c3, "2026-01-04T01:00:00")
    got, _, states, _ = shipped(repo, [d1, d3])
    assert got == {c1: "D1", c2: "D3", c3: "D3"}
    # Nothing new: nothing walked.
    again, _, _, _ = shipped(repo, [d1, d3], state=states[-1])
    assert again == {}
    # A deployment that finished between the two arrives late: the environment is recomputed.
    late, _, states2, _ = shipped(repo, [d1, d3, dep("D2", c2, "2026-01-03T01:00:00")], state=states[-1])
    assert late == {c1: "D1", c2: "D2", c3: "D3"}
    assert states2[-1]["production|"]["n"] == 3


def test_deployment_of_an_unknown_commit_is_reported(src):
    c1 = src.commit("c1", "2026-01-02T00:00:00")
    got, _, _, missing = shipped(
        Git(src.path), [dep("D1", c1, "2026-01-02T01:00:00"), dep("D2", "f" * 40, "2026-01-03T01:00:00")]
    )
    assert got == {c1: "D1"} and missing == ["D2"]
