"""The failure rule and the commit graph on the shapes real repositories have: real git
repositories built here, `sync --git` / `import`, and numbers computed by hand.

The rule is warehouse/sql/01_prod_deployments.sql over deployment_evidence (docs/metrics.md):
specific evidence only, a window, per (repo, environment, service) sequence.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from collectors.config import DeploymentRules
from collectors.git import FIX_SUBJECT, Deployed, Git, PullRequestIndex, ship
from collectors.localgit import sync_local
from dora_impact.config import Config
from tests.conftest import run_cli, write
from tests.github_fake import GitRepo
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.metrics import prepare

TAG = "git:local/shop:tag:"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def g(tmp_path) -> GitRepo:
    return GitRepo(tmp_path / "shop")


def sync(db: Path, g: GitRepo, since: str = "2026-01-01", config: Config | None = None) -> None:
    with Warehouse(db) as wh:
        sync_local(wh, config or Config(), g.path, since=date.fromisoformat(since))


def judged(db: Path, metrics: MetricsConfig | None = None) -> dict[str, tuple]:
    """tag -> (failed, is_hotfix, is_rollback, recovery_hours) as the rule judges it."""
    with Warehouse(db, read_only=True) as wh:
        prepare(wh, metrics)
        rows = wh.con.execute(
            "SELECT deployment_id, failed, is_hotfix, is_rollback, recovery_hours FROM prod_deployments"
        ).fetchall()
    return {d.split(":tag:")[-1]: (f, h, r, rec) for d, f, h, r, rec in rows}


def failed(db: Path, metrics: MetricsConfig | None = None) -> dict[str, float | None]:
    return {tag: row[3] for tag, row in judged(db, metrics).items() if row[0]}


def shipped(db: Path) -> dict[str, str | None]:
    """sha -> tag that shipped it (None: no deployment)."""
    with Warehouse(db, read_only=True) as wh:
        rows = wh.con.execute("SELECT sha, deployment_id FROM changes").fetchall()
    return {sha: d.split(":tag:")[-1] if d else None for sha, d in rows}


# -- 1. a word is not a failed deployment --------------------------------------------------------


def test_rollback_and_hotfix_words_in_shipped_subjects_are_not_evidence(g, tmp_path):
    a = g.commit("Initial", "2026-01-01T08:00:00")
    g.tag("v3.9.0", a, at="2026-01-01T09:00:00", annotated=True)
    g.commit("Add db.begin(), db.commit() and db.rollback() methods", "2026-01-10T08:00:00")
    g.commit("hotfix typo in the docs", "2026-01-11T08:00:00")
    b = g.commit('Revert "experimental" wording in README', "2026-01-12T08:00:00")  # no trailer
    g.tag("v4.0.0", b, at="2026-01-12T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert judged(db) == {
        "v3.9.0": (False, False, False, None),
        "v4.0.0": (False, False, False, None),
    }


def test_a_revert_blames_the_deployment_that_shipped_the_reverted_commit(g, tmp_path):
    x = g.commit("Cache a default SSLContext", "2026-01-01T08:00:00")
    g.tag("v1.0.0", x, at="2026-01-01T10:00:00", annotated=True)
    y = g.commit("Docs", "2026-01-02T08:00:00")
    g.tag("v1.1.0", y, at="2026-01-02T10:00:00", annotated=True)
    rv = g.revert(x, "2026-01-03T08:00:00")
    g.tag("v1.2.0", rv, at="2026-01-03T10:00:00", annotated=True)
    # A commit reverted before any deployment shipped it blames nobody.
    z = g.commit("Try a faster parser", "2026-01-04T08:00:00")
    rz = g.revert(z, "2026-01-04T09:00:00")
    g.tag("v1.3.0", rz, at="2026-01-04T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    got = judged(db)
    # v1.0.0, not v1.1.0 (the one just before the revert), failed; recovered by v1.2.0, 48 h.
    assert got["v1.0.0"] == (True, False, False, 48.0)
    assert got["v1.1.0"] == (False, False, False, None)
    assert got["v1.2.0"] == (False, False, True, None)
    assert got["v1.3.0"] == (False, False, False, None)


def test_a_fix_blames_only_within_the_window(g, tmp_path):
    x = g.commit("Feature", "2026-01-01T08:00:00")
    g.tag("v1.0.0", x, at="2026-01-01T10:00:00", annotated=True)
    rv = g.revert(x, "2027-01-02T08:00:00")  # a year later: a change of mind, not an intervention
    g.tag("v2.0.0", rv, at="2027-01-02T10:00:00", annotated=True)
    f = g.commit("Fix", "2027-01-17T08:00:00")
    g.tag("v2.0.1-hotfix", f, at="2027-01-17T10:00:00", annotated=True)  # 15 days after v2.0.0
    db = tmp_path / "db.duckdb"
    sync(db, g)
    got = judged(db)
    assert failed(db) == {}  # default window: 336 h (14 days)
    assert got["v2.0.0"] == (False, False, False, None)  # the revert blames nobody in the window
    assert got["v2.0.1-hotfix"] == (False, True, False, None)  # still a hotfix (rework)
    assert failed(db, MetricsConfig(failure_window_hours=400)) == {"v2.0.0": 360.0}


def test_monorepo_components_and_backports_are_not_rollbacks(g, tmp_path):
    a = g.commit("web: page", "2026-01-02T08:00:00")
    b = g.commit("api: endpoint", "2026-01-02T09:00:00")
    g.tag("api/v1.0.0", b, at="2026-01-02T10:00:00", annotated=True)
    g.tag("web/v1.0.0", a, at="2026-01-02T11:00:00", annotated=True)  # an older commit, after
    m = g.commit("Release 2", "2026-01-05T08:00:00")
    g.tag("v2.0.0", m, at="2026-01-05T10:00:00", annotated=True)
    n = g.commit("Fix in 2", "2026-01-06T08:00:00")
    g.tag("v2.0.1", n, at="2026-01-06T10:00:00", annotated=True)
    g.checkout("1.x", new=True, start=a)
    bp = g.commit("Backport the fix", "2026-01-07T08:00:00")
    g.tag("v1.1.1", bp, at="2026-01-07T10:00:00", annotated=True)
    rules = {"deployments": {"tags": [{"pattern": "^(api/|web/)?v\\d+"}]}, "repos": []}
    db = tmp_path / "db.duckdb"
    sync(db, g, config=Config.model_validate({"github": rules}))
    assert failed(db) == {}
    assert all(not r[2] for r in judged(db).values())  # no rollback anywhere
    assert shipped(db)[bp] == "v1.1.1"


def test_releases_in_the_same_second_are_ordered_as_versions(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    b = g.commit("B", "2026-01-02T09:00:00")
    g.tag("v1.9.0", a, at="2026-01-03T10:00:00", annotated=True)
    g.tag("v1.10.0", b, at="2026-01-03T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert failed(db) == {} and all(not r[2] for r in judged(db).values())
    assert shipped(db) == {a: "v1.9.0", b: "v1.10.0"}


def test_deploying_an_ancestor_rolls_back_within_the_sequence(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    g.tag("v1.0.0", a, at="2026-01-02T10:00:00", annotated=True)
    a2 = g.commit("A2", "2026-01-02T12:00:00")
    b = g.commit("B", "2026-01-03T08:00:00")
    g.tag("v1.1.0", b, at="2026-01-03T10:00:00", annotated=True)
    g.tag("v1.1.1", a2, at="2026-01-03T13:00:00", annotated=True)  # back to before B
    g.tag("v1.0.0-again", a, at="2026-01-03T14:00:00", annotated=True)  # a's one deployment already
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert failed(db) == {"v1.1.0": 3.0}
    assert judged(db)["v1.1.1"] == (False, False, True, None)
    assert "v1.0.0-again" not in judged(db)  # one commit, one deployment per environment


# -- 2. the commit graph --------------------------------------------------------------------------


def test_tags_older_than_the_window_still_bound_what_later_tags_ship(g, tmp_path):
    base = g.commit("Initial", "2025-01-01T08:00:00")
    g.tag("v1.0.0", base, at="2025-01-01T09:00:00", annotated=True)
    for i in range(1, 5):
        c = g.commit(f"Fix {i}", f"2025-0{i + 1}-01T08:00:00")
        g.tag(f"v1.0.{i}", c, at=f"2025-0{i + 1}-01T09:00:00", annotated=True)
    repair = g.commit("Repair", "2026-01-05T08:00:00")
    g.tag("v1.1.0", repair, at="2026-01-05T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert {sha: t for sha, t in shipped(db).items() if t} == {repair: "v1.1.0"}
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        assert wh.con.execute("SELECT lead_time_hours FROM change_lead_times").fetchall() == [(2.0,)]


def test_incremental_and_fresh_syncs_attribute_the_same(g, tmp_path):
    root = g.commit("Initial", "2026-01-01T08:00:00")
    g.tag("v1.0.0", root, at="2026-01-01T09:00:00", annotated=True)
    g.checkout("1.0.x", new=True)
    m1 = g.commit("Maintenance fix", "2026-01-01T10:00:00")
    g.tag("v1.0.1", m1, at="2026-01-01T11:00:00", annotated=True)
    g.checkout("main")
    for i in range(55):  # more tags on main than the walk's exclusion list holds
        c = g.commit(f"Change {i}", f"2026-01-02T{i // 4:02d}:{(i % 4) * 15:02d}:00")
        g.tag(f"v1.{i + 1}.0", c, at=f"2026-01-02T{i // 4:02d}:{(i % 4) * 15 + 5:02d}:00", annotated=True)
    inc = tmp_path / "incremental.duckdb"
    sync(inc, g)
    g.checkout("1.0.x")
    m2 = g.commit("Second maintenance fix", "2026-01-03T08:00:00")
    g.tag("v1.0.2", m2, at="2026-01-03T10:00:00", annotated=True)
    sync(inc, g)
    fresh = tmp_path / "fresh.duckdb"
    sync(fresh, g)
    assert shipped(inc) == shipped(fresh)
    assert shipped(inc)[m1] == "v1.0.1" and shipped(inc)[m2] == "v1.0.2"
    assert judged(inc) == judged(fresh)


def test_a_moved_tag_clears_what_the_deployment_no_longer_ships(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    g.tag("v1.0.0", a, at="2026-01-02T10:00:00", annotated=True)
    b = g.commit("B", "2026-01-03T08:00:00")
    c = g.commit("C", "2026-01-03T09:00:00")
    g.tag("v1.1.0", c, at="2026-01-03T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert shipped(db) == {a: "v1.0.0", b: "v1.1.0", c: "v1.1.0"}
    g.git("tag", "-f", "-a", "v1.1.0", b, "-m", "v1.1.0", at="2026-01-03T10:00:00")
    sync(db, g)
    fresh = tmp_path / "fresh.duckdb"
    sync(fresh, g)
    assert shipped(db) == {a: "v1.0.0", b: "v1.1.0", c: None}
    assert {s: t for s, t in shipped(fresh).items() if t} == {a: "v1.0.0", b: "v1.1.0"}


def test_several_tags_on_one_commit_are_one_deployment(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    for name in ("v2", "v2.0", "v2.0.0"):
        g.tag(name, a, at="2026-01-02T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert list(judged(db)) == ["v2"]


def test_environments_that_differ_in_case_are_one_sequence(g):
    c1 = g.commit("c1", "2026-01-02T00:00:00")
    c2 = g.commit("c2", "2026-01-03T00:00:00")
    deployments = [
        Deployed("A", "Production", c1, at("2026-01-02T01:00:00")),
        Deployed("B", "production", c2, at("2026-01-03T01:00:00")),
    ]
    batches = list(
        ship("o/r", Git(g.path), deployments, PullRequestIndex(), at("2026-01-01"), DeploymentRules(), {})
    )
    got = {row["sha"]: row["deployment_id"] for b in batches for row in b.changes}
    assert got == {c1: "A", c2: "B"}
    assert list(batches[-1].state) == ["production|"]


def test_lead_time_starts_at_the_author_date(g, tmp_path):
    base = g.commit("Initial", "2026-01-01T00:00:00")
    g.tag("v1.0.0", base, at="2026-01-01T01:00:00", annotated=True)
    # Written on the 2nd, rebased (new committer date) on the 4th, released on the 4th at 12:00.
    c = g.commit("Feature", "2026-01-04T00:00:00", authored="2026-01-02T00:00:00")
    g.tag("v1.1.0", c, at="2026-01-04T12:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        assert wh.con.execute(
            "SELECT sha, lead_time_hours FROM change_lead_times ORDER BY sha = ?", [c]
        ).fetchall() == [(base, 1.0), (c, 60.0)]


# -- 3. sources that meet ----------------------------------------------------------------------------


def test_sync_git_keeps_imported_flags_and_services_sequence_imports(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    g.tag("v1.0.0", a, at="2026-01-02T10:00:00", annotated=True)
    folder = tmp_path / "export"
    write(
        folder / "deployments.csv",
        """
deployment_id,repo,environment,status,finished_at,service,is_hotfix,is_rollback
api-1,acme/mono,production,success,2026-01-05T10:00:00Z,api,false,false
web-1,acme/mono,production,success,2026-01-05T11:00:00Z,web,false,false
web-2,acme/mono,production,success,2026-01-05T12:30:00Z,web,true,false
shop-hf,local/shop,production,success,2026-01-02T12:00:00Z,,true,false
""",
    )
    db = tmp_path / "db.duckdb"
    done = run_cli("import", str(folder), db=db)
    assert done.code == 0, done.stderr
    done = run_cli("sync", "--git", str(g.path), "--since", "2026-01-01", db=db)
    assert done.code == 0, done.stderr
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        rows = wh.con.execute(
            "SELECT deployment_id, failed, is_hotfix, recovery_hours FROM prod_deployments ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("api-1", False, False, None),  # web's hotfix does not blame api
        ("git:local/shop:tag:v1.0.0", True, False, 2.0),  # the imported hotfix after it
        ("shop-hf", False, True, None),  # its flag survived `sync --git`
        ("web-1", True, False, 1.5),
        ("web-2", False, True, None),
    ]


def test_imported_incidents_without_a_deployment_are_attributed_by_the_window(tmp_path):
    folder = tmp_path / "export"
    write(
        folder / "deployments.csv",
        """
deployment_id,repo,environment,status,finished_at,service
d1,acme/shop,production,success,2026-01-05T10:00:00Z,
d2,acme/shop,production,success,2026-01-06T10:00:00Z,
p1,acme/pay,production,success,2026-01-06T09:00:00Z,payments
""",
    )
    write(
        folder / "incidents.csv",
        """
incident_id,opened_at,resolved_at,repo,service,deployment_id
i1,2026-01-06T12:00:00Z,2026-01-06T15:00:00Z,acme/shop,,
i2,2026-01-10T12:00:00Z,2026-01-10T13:00:00Z,acme/shop,,
i3,2026-01-06T10:00:00Z,2026-01-06T11:00:00Z,,payments,
i4,2026-01-05T11:00:00Z,2026-01-05T12:00:00Z,acme/shop,,d1
""",
    )
    db = tmp_path / "db.duckdb"
    done = run_cli("import", str(folder), db=db)
    assert done.code == 0, done.stderr
    assert "incidents attributed by named cause: 1, by time window: 2, unattributed: 1" in done.stderr
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        rows = wh.con.execute(
            "SELECT incident_id, deployment_id, attributed_by FROM incident_deployments ORDER BY 1"
        ).fetchall()
        assert wh.con.execute(
            "SELECT deployment_id, recovery_hours FROM prod_deployments WHERE failed ORDER BY 1"
        ).fetchall() == [("d1", 2.0), ("d2", 5.0), ("p1", 2.0)]
    # i2 opened 98 h after d2: beyond the 48 h window, unattributed.
    assert rows == [("i1", "d2", "window"), ("i2", None, None), ("i3", "p1", "window"), ("i4", "d1", "named")]
    from dashboards.data import health

    assert health(str(db), None)[0]["unattributed_incidents"] == 1  # what Data health shows


# -- 4. reverts in every form, fix-forwards by blame, imported histories, backports ----------------


def put(g: GitRepo, message: str, at: str, authored: str | None = None, **files: str) -> str:
    """A commit that writes these files (name -> text; `__` in a name is a `/`)."""
    for name, text in files.items():
        path = g.path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    g.git("add", "-A")
    g.git("commit", "-q", "-m", message, at=at, authored=authored)
    return g.git("rev-parse", "HEAD")


def evidence(db: Path, kind: str) -> list[tuple]:
    with Warehouse(db, read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT deployment_id, points_at, detail FROM deployment_evidence WHERE kind = ? ORDER BY ALL",
            [kind],
        ).fetchall()
    return [(d.split(":tag:")[-1], p, json.loads(x) if x else None) for d, p, x in rows]


def test_a_revert_by_subject_only_blames_the_commit_of_that_subject_and_patch_id(g, tmp_path):
    put(g, "Initial", "2026-01-01T08:00:00", app__cache="size = 1\n", app__other="level = 1\n")
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    t1 = put(g, "Tune cache", "2026-01-02T08:00:00", app__cache="size = 2\n")
    g.tag("v1.1.0", t1, at="2026-01-02T09:00:00", annotated=True)
    t2 = put(g, "Tune cache", "2026-01-03T08:00:00", app__other="level = 2\n")
    g.tag("v1.2.0", t2, at="2026-01-03T09:00:00", annotated=True)
    # No "This reverts commit" line; two ancestors have the subject, the first one's patch is
    # the inverse of this one's: v1.1.0 shipped it, not v1.2.0 (the newest).
    rv = put(g, 'Revert "Tune cache"', "2026-01-04T08:00:00", app__cache="size = 1\n")
    g.tag("v1.3.0", rv, at="2026-01-04T09:00:00", annotated=True)
    # A subject no ancestor has blames nobody.
    nx = put(g, 'Revert "Never made"', "2026-01-05T08:00:00", app__other="level = 3\n")
    g.tag("v1.4.0", nx, at="2026-01-05T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "revert_of") == [("v1.3.0", t1, None)]
    assert failed(db) == {"v1.1.0": 48.0}  # recovered by v1.3.0
    assert judged(db)["v1.3.0"] == (False, False, True, None)


def test_a_partial_revert_naming_the_commit_blames_its_release(g, tmp_path):
    x = put(g, "Initial", "2026-01-01T08:00:00", app="a\nb\n")
    g.tag("v1.0.0", x, at="2026-01-01T09:00:00", annotated=True)
    y = put(g, "Speed up the loader", "2026-01-02T08:00:00", app="a2\nb2\n")
    g.tag("v1.1.0", y, at="2026-01-02T09:00:00", annotated=True)
    p = put(g, f"Loader: keep the old order\n\nPartial revert of commit {y[:7]}.", "2026-01-03T08:00:00",
            app="a\nb2\n")
    g.tag("v1.2.0", p, at="2026-01-03T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "revert_of") == [("v1.2.0", y[:7], None)]
    assert failed(db) == {"v1.1.0": 25.0}


def test_a_github_revert_pull_request_blames_the_release_of_the_reverted_one(g, tmp_path):
    g.git("remote", "add", "origin", "https://github.com/acme/shop.git")
    x = g.commit("Initial", "2026-01-01T08:00:00")
    g.tag("v1.0.0", x, at="2026-01-01T09:00:00", annotated=True)
    g.checkout("lazy", new=True)
    g.commit("Lazy imports", "2026-01-02T08:00:00")
    g.checkout("main")
    m11 = g.merge("lazy", "Merge pull request #11 from acme/lazy", "2026-01-02T09:00:00")
    g.tag("v1.1.0", m11, at="2026-01-02T10:00:00", annotated=True)
    g.checkout("revert-11-lazy", new=True)
    g.commit("Eager imports again", "2026-01-03T08:00:00")  # GitHub's revert, without the trailer
    g.checkout("main")
    m12 = g.merge(
        "revert-11-lazy", 'Merge pull request #12 from acme/revert-11-lazy\n\nRevert "Lazy imports"\n\n'
        "Reverts acme/shop#11", "2026-01-03T09:00:00",
    )
    g.tag("v1.2.0", m12, at="2026-01-03T10:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "revert_of_pr") == [("v1.2.0", "11", None)]
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        assert dict(wh.con.execute("SELECT deployment_id, failed FROM prod_deployments").fetchall()) == {
            "git:acme/shop:tag:v1.0.0": False, "git:acme/shop:tag:v1.1.0": True,
            "git:acme/shop:tag:v1.2.0": False,
        }


CODE = "def parse(text):\n    return text.split(',')\n\n\ndef size(items):\n    return len(items)\n"


def test_a_fix_of_lines_a_release_shipped_is_a_fix_forward_of_that_release(g, tmp_path):
    put(g, "Initial", "2026-01-01T08:00:00", app__core="def parse(text):\n    return [text]\n\n\n"
                "def size(items):\n    return len(items)\n", README="shop\n")
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    intro = put(g, "Parse lists", "2026-01-05T08:00:00", app__core=CODE)
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    # Two days later: the patch release fixes line 2, which v1.1.0 shipped. Its test, changelog
    # and whitespace changes are not blamed.
    fixed = CODE.replace("text.split(',')", "text.split(',') if text else []")
    fix = put(g, "Fix crash on empty input", "2026-01-07T08:00:00", app__core=fixed.replace(
        "    return len(items)", "    return  len(items)"), tests__test_core="assert True\n",
        CHANGES="1.1.1: fix\n")
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    # v1.1.0 changed v1.0.0's line 2 too, four days after it, but says no fix: not blamed.
    assert evidence(db, "fix_forward") == [
        ("v1.1.1", intro, {"fixing": fix, "lines": "2", "path": "app/core",
                           "subject": "Fix crash on empty input"}),
    ]
    assert failed(db) == {"v1.1.0": 48.0}
    got = judged(db)
    assert got["v1.0.0"][0] is False and got["v1.1.1"] == (False, False, False, None)


def test_a_fix_forward_counts_only_when_a_fix_patches_the_release_within_the_window(g, tmp_path):
    base = put(g, "Initial", "2026-01-01T08:00:00", app__core=CODE, app__io="read = 1\nwrite = 1\n")
    g.tag("v1.0.0", base, at="2026-01-01T09:00:00", annotated=True)
    a = put(g, "Faster size", "2026-01-20T08:00:00", app__core=CODE.replace("len(items)", "sum(1 for _ in items)"))
    g.tag("v1.1.0", a, at="2026-01-20T09:00:00", annotated=True)
    # (1) v1.1.1 touches what v1.1.0 shipped, but does not say it fixes: everyday work.
    b = put(g, "Tidy size", "2026-01-21T08:00:00", app__core=CODE.replace("len(items)", "len(list(items))"))
    g.tag("v1.1.1", b, at="2026-01-21T09:00:00", annotated=True)
    # (2) a fix in a feature release (1.2.0 after 1.1.1) is not a patch of it.
    c = put(g, "Fix size of generators", "2026-01-22T08:00:00", app__core=CODE.replace("len(items)", "len([*items])"))
    g.tag("v1.2.0", c, at="2026-01-22T09:00:00", annotated=True)
    # (3) a fix of lines v1.0.0 shipped 20 days before: outside the 14-day window, not blamed.
    d = put(g, "Fix write flag", "2026-01-23T08:00:00", app__io="read = 1\nwrite = 2\n")
    g.tag("v1.2.1", d, at="2026-01-23T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    # v1.1.1 says no fix: not blamed. v1.2.1's fix blames v1.0.0's line 2, shipped outside the
    # window: no evidence.
    assert {(e[0], e[1], e[2]["lines"]) for e in evidence(db, "fix_forward")} == {("v1.2.0", b, "6")}
    assert failed(db) == {}
    # With 21 days the write flag fix is a patch of v1.2.0? No: its line came from v1.0.0,
    # which 1.2.1 is no patch of (1.0 -> 1.2).
    assert failed(db, MetricsConfig(failure_window_hours=21 * 24)) == {}


def test_a_hotfix_blames_the_release_that_shipped_the_broken_lines(g, tmp_path):
    put(g, "Initial", "2026-01-01T08:00:00", app__core="x = 1\n")
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    bad = put(g, "Compute y", "2026-01-02T08:00:00", app__core="x = 1\ny = x / 0\n")
    g.tag("v1.1.0", bad, at="2026-01-02T09:00:00", annotated=True)
    other = put(g, "Add z", "2026-01-03T08:00:00", app__extra="z = 1\n")
    g.tag("v1.2.0", other, at="2026-01-03T09:00:00", annotated=True)
    hot = put(g, "Guard y", "2026-01-04T08:00:00", app__core="x = 1\ny = x / 1\n")
    g.tag("v1.2.1-hotfix", hot, at="2026-01-04T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    got = judged(db)
    # The tag says hotfix; its change fixes the line v1.1.0 shipped: v1.1.0 failed (recovered
    # 48 h later), not v1.2.0 just before the hotfix.
    assert failed(db) == {"v1.1.0": 48.0}
    assert got["v1.2.0"] == (False, False, False, None)
    assert got["v1.2.1-hotfix"] == (False, True, False, None)


def test_an_unrelated_history_merged_in_is_one_change(g, tmp_path):
    base = g.commit("Initial", "2026-01-01T08:00:00")
    g.tag("v1.0.0", base, at="2026-01-01T09:00:00", annotated=True)
    lib = GitRepo(tmp_path / "lib")
    old = [put(lib, "Vendored 1", "2019-03-01T08:00:00", lib_a="1\n"),
           put(lib, "Vendored 2", "2020-03-01T08:00:00", lib_b="2\n")]
    g.git("fetch", "-q", str(lib.path), "main:lib")
    g.git("merge", "-q", "--allow-unrelated-histories", "-m", "Add 'vendor/lib/' from lib", "lib",
          at="2026-01-05T08:00:00")
    join = g.git("rev-parse", "HEAD")
    own = g.commit("Use the vendored lib", "2026-01-05T10:00:00")
    g.tag("v1.1.0", own, at="2026-01-05T12:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    got = shipped(db)
    assert got == {base: "v1.0.0", join: "v1.1.0", own: "v1.1.0"}
    assert not set(old) & set(got)
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        assert wh.con.execute(
            "SELECT lead_time_hours FROM change_lead_times WHERE deployment_id LIKE '%v1.1.0' ORDER BY 1"
        ).fetchall() == [(2.0,), (4.0,)]


def test_a_cherry_pick_is_timed_from_the_backport(g, tmp_path):
    base = g.commit("Initial", "2026-01-01T08:00:00")
    g.tag("v1.0.0", base, at="2026-01-01T09:00:00", annotated=True)
    g.checkout("maint-1.0", new=True)
    g.checkout("main")
    fix = g.commit("Fix overflow", "2026-01-10T08:00:00")
    g.tag("v1.1.0", fix, at="2026-03-01T08:00:00", annotated=True)
    g.checkout("maint-1.0")
    g.git("cherry-pick", "-x", fix, at="2026-02-01T08:00:00", authored="2026-01-10T08:00:00")
    pick = g.git("rev-parse", "HEAD")
    assert g.git("log", "-1", "--format=%aI", pick).startswith("2026-01-10")
    g.tag("v1.0.1", pick, at="2026-02-01T12:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        rows = dict(wh.con.execute("SELECT sha, lead_time_hours FROM change_lead_times").fetchall())
    # The backport: 4 h from its own commit, not 508 h from the original's author date.
    assert rows == {base: 1.0, pick: 4.0, fix: 1200.0}


LINES = "".join(f"{c} = {i}\n" for i, c in enumerate("abcdefgh", 1))  # a = 1 ... h = 8


def test_release_notes_that_name_a_broken_release_blame_it(g, tmp_path):
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES, **{"CHANGES.md": "## 1.0.0\n\n- First.\n"})
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    intro = put(g, "Compute e", "2026-01-05T08:00:00", app__core=LINES.replace("e = 5", "e = compute()"),
                **{"CHANGES.md": "## 1.1.0\n\n- Compute e.\n\n## 1.0.0\n\n- First.\n"})
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    # The patch's only change says no fix and touches no line of 1.1.0; its notes do: the first
    # entry names 1.1.0 with words of a defect, the second names 1.0.0 without any.
    notes = ("## 1.1.1\n\n- Fix the regression introduced in 1.1.0\n  where e crashed.\n"
             "- Works with plugin 1.0.0.\n\n## 1.1.0\n\n- Compute e.\n\n## 1.0.0\n\n- First.\n")
    tidy = put(g, "Tidy", "2026-01-07T08:00:00", app__extra="x = 1\n", **{"CHANGES.md": notes})
    g.tag("v1.1.1", tidy, at="2026-01-07T09:00:00", annotated=True)
    # 20 days later a note names 1.1.1 as broken: outside the 14-day window, no evidence.
    late = put(g, "Tidy more", "2026-01-27T08:00:00", app__extra="x = 2\n",
               **{"CHANGES.md": "## 1.1.2\n\n- Fix a regression in 1.1.1.\n\n" + notes})
    g.tag("v1.1.2", late, at="2026-01-27T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "release_note") == [
        ("v1.1.1", TAG + "v1.1.0", {"note": "- Fix the regression introduced in 1.1.0 where e crashed."}),
    ]
    assert evidence(db, "fix_forward") == []
    assert failed(db) == {"v1.1.0": 48.0}  # recovered by v1.1.1
    assert judged(db)["v1.1.1"] == (False, False, False, None)


def test_an_add_only_fix_is_blamed_on_the_lines_around_it(g, tmp_path):
    base = put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES)
    g.tag("v1.0.0", base, at="2026-01-01T09:00:00", annotated=True)
    intro = put(g, "Compute e", "2026-01-05T08:00:00", app__core=LINES.replace("e = 5", "e = compute()"))
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    # Only adds a line after line 5: lines 3-8 around it are blamed, 5 (v1.1.0's) and 3-4, 6-8
    # (v1.0.0's, which 1.1.1 is no patch of).
    fix = put(g, "Fix e when compute fails", "2026-01-07T08:00:00",
              app__core=LINES.replace("e = 5", "e = compute()\nguard(e)"))
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    rows = {(e[0], e[1], e[2]["lines"], e[2].get("around")) for e in evidence(db, "fix_forward")}
    assert rows == {("v1.1.1", intro, "5", True), ("v1.1.1", base, "3-4,6-8", True)}
    assert failed(db) == {"v1.1.0": 48.0}


def test_a_fix_keyword_that_closes_an_issue_says_the_change_fixes(g, tmp_path):
    base = put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES)
    g.tag("v1.0.0", base, at="2026-01-01T09:00:00", annotated=True)
    a = put(g, "Compute e", "2026-01-05T08:00:00", app__core=LINES.replace("e = 5", "e = compute()"))
    g.tag("v1.1.0", a, at="2026-01-05T09:00:00", annotated=True)
    fix = put(g, "Pin the parser\n\nFix #12", "2026-01-07T08:00:00",
              app__core=LINES.replace("e = 5", "e = compute(strict=True)"))
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    b = put(g, "Compute h", "2026-01-10T08:00:00",
            app__core=LINES.replace("e = 5", "e = compute(strict=True)").replace("h = 8", "h = compute()"))
    g.tag("v1.2.0", b, at="2026-01-10T09:00:00", annotated=True)
    # "Closes" closes feature requests too: not a fix keyword, so not blamed.
    other = put(g, "Tune h\n\nCloses #13", "2026-01-11T08:00:00",
                app__core=LINES.replace("e = 5", "e = compute(strict=True)").replace("h = 8", "h = tune()"))
    g.tag("v1.2.1", other, at="2026-01-11T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "fix_forward") == [
        ("v1.1.1", a, {"closes": "Fix #12", "fixing": fix, "lines": "5", "path": "app/core",
                       "subject": "Pin the parser"}),
    ]
    assert failed(db) == {"v1.1.0": 48.0}


def test_a_fix_of_the_release_workflow_is_blamed_like_code_and_a_test_workflow_is_not(g, tmp_path):
    flows = {".github__workflows__publish.yml": "on: release\nrun: build\n",
             ".github__workflows__tests.yml": "on: push\nrun: pytest\n"}
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES, **flows)
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    intro = put(g, "Build wheels and test on 3.14", "2026-01-05T08:00:00",
                **{".github__workflows__publish.yml": "on: release\nrun: build --wheels\n",
                   ".github__workflows__tests.yml": "on: push\nrun: pytest -p 3.14\n"})
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    t = put(g, "Fix the test matrix", "2026-01-06T08:00:00",
            **{".github__workflows__tests.yml": "on: push\nrun: pytest -p 3.13\n"})
    g.tag("v1.1.1", t, at="2026-01-06T09:00:00", annotated=True)
    w = put(g, "Fix the wheel build", "2026-01-07T08:00:00",
            **{".github__workflows__publish.yml": "on: release\nrun: build --wheels --all\n"})
    g.tag("v1.1.2", w, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert {(e[0], e[1], e[2]["path"]) for e in evidence(db, "fix_forward")} == {
        ("v1.1.2", intro, ".github/workflows/publish.yml")}
    assert failed(db) == {"v1.1.0": 48.0}  # recovered by v1.1.2, not by v1.1.1


def test_the_collectors_fix_subject_is_the_rules():
    sql = (Path(__file__).parents[1] / "warehouse/sql/01_prod_deployments.sql").read_text()
    assert f"'(?i){FIX_SUBJECT.pattern}'" in sql


def test_the_default_tag_rule_takes_release_versions_and_exit_2_when_none_matches(g, tmp_path):
    a = g.commit("A", "2026-01-02T08:00:00")
    g.tag("2.3.0", a, at="2026-01-02T09:00:00", annotated=True)
    b = g.commit("B", "2026-01-03T08:00:00")
    g.tag("2.4.0rc1", b, at="2026-01-03T09:00:00", annotated=True)  # a pre-release
    g.tag("v2.4.0-beta.1", b, at="2026-01-03T09:00:00", annotated=True)
    c = g.commit("C", "2026-01-04T08:00:00")
    g.tag("23.1", c, at="2026-01-04T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert set(judged(db)) == {"2.3.0", "23.1"}
    other = GitRepo(tmp_path / "other")
    x = other.commit("X", "2026-01-02T08:00:00")
    for name in ("release-1", "release-2", "nightly", "build-7"):
        other.tag(name, x)
    empty = tmp_path / "empty.duckdb"
    done = run_cli("sync", "--git", str(other.path), db=empty)
    assert done.code == 2
    assert done.stderr.strip().splitlines() == [
        f"dora-impact: {other.path}: none of its 4 tags (release-2, release-1, nightly, ...) matches the "
        "default tag rule (release versions: 2.3.1, v2.3.1); set pattern in "
        "[[github.deployments.tags]]"
    ]
    if empty.exists():
        with Warehouse(empty, read_only=True) as wh:
            assert wh.con.execute("SELECT count(*) FROM deployments").fetchone() == (0,)


# A package (its dependencies declared by pyproject.toml), an application (a pyproject.toml that
# only configures tools), and a package whose metadata reads its requirements file.
PACKAGE = '[project]\nname = "shop"\ndependencies = ["anyio>=4"]\n'
APPLICATION = "[tool.ruff]\nline-length = 100\n"
READS_IT = ('[project]\nname = "shop"\ndynamic = ["dependencies"]\n\n[tool.setuptools.dynamic]\n'
            'dependencies = {file = ["requirements.txt"]}\n')


@pytest.mark.parametrize(("pyproject", "expected"), [
    (PACKAGE, {}),
    (APPLICATION, {"v1.1.0": 24.0, "v1.1.1": 24.0}),
    (READS_IT, {"v1.1.0": 24.0, "v1.1.1": 24.0}),
])
def test_a_development_requirements_file_is_not_what_a_package_ships(g, tmp_path, pyproject, expected):
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES,
        **{"pyproject.toml": pyproject, "requirements.txt": "mkdocs-material==9.1\npytest==8.0\n"})
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    bump = put(g, "Bump mkdocs-material", "2026-01-05T08:00:00",
               **{"requirements.txt": "mkdocs-material==9.4\npytest==8.0\n"})
    g.tag("v1.1.0", bump, at="2026-01-05T09:00:00", annotated=True)
    # A subject-only revert of it, then a fix of the line the revert wrote.
    revert = put(g, 'Revert "Bump mkdocs-material"', "2026-01-06T08:00:00",
                 **{"requirements.txt": "mkdocs-material==9.1\npytest==8.0\n"})
    g.tag("v1.1.1", revert, at="2026-01-06T09:00:00", annotated=True)
    fix = put(g, "Fix the navigation for mkdocs-material", "2026-01-07T08:00:00",
              **{"requirements.txt": "mkdocs-material==9.2\npytest==8.0\n"})
    g.tag("v1.1.2", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    # A package that declares its dependencies in pyproject.toml does not install
    # requirements.txt: neither the revert nor the fix is evidence. Where requirements.txt is
    # what is deployed (an application, or metadata that reads it), the revert blames v1.1.0
    # (recovered 24 h later by v1.1.1) and the fix blames v1.1.1 (24 h, by v1.1.2).
    assert failed(db) == expected
    if expected:
        assert evidence(db, "revert_of") == [("v1.1.1", bump, None)]
        assert evidence(db, "fix_forward") == [  # a revert's subject says it fixes, too
            ("v1.1.1", bump, {"fixing": revert, "lines": "1", "path": "requirements.txt",
                              "subject": 'Revert "Bump mkdocs-material"'}),
            ("v1.1.2", revert, {"fixing": fix, "lines": "1", "path": "requirements.txt",
                                "subject": "Fix the navigation for mkdocs-material"}),
        ]
    else:
        assert evidence(db, "revert_of") == evidence(db, "fix_forward") == []


def test_a_fix_entry_of_a_patch_releases_notes_says_its_change_fixes(g, tmp_path):
    base = ("Version 1.0.0\n-------------\n\nReleased 2026-01-01\n\n-   First.\n")
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES, app__version="1.0.0\n", **{"CHANGES.rst": base})
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    rewritten = (LINES.replace("c = 3", "c = parse()").replace("e = 5", "e = strip()")
                 .replace("f = 6", "f = read()").replace("g = 7", "g = chunk()"))
    intro = put(g, "Rewrite the parser", "2026-01-05T08:00:00", app__core=rewritten)
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    # 1.1.1: no subject says "fix"; the first change adds its own entry, which does.
    put(g, "start version 1.1.1", "2026-01-06T08:00:00", app__version="1.1.1\n")
    notes = "Version 1.1.1\n-------------\n\n-   Fix ``strip`` not collapsing spaces. :issue:`417`\n\n" + base
    code = rewritten.replace("e = strip()", "e = strip(collapse=True)")
    c1 = put(g, "collapse spaces after stripping tags", "2026-01-06T09:00:00", app__core=code,
             **{"CHANGES.rst": notes})
    code = code.replace("f = read()", "f = read(fast=True)")
    put(g, "Tidy read", "2026-01-06T10:00:00", app__core=code)  # no entry: not blamed
    g.tag("v1.1.1", "HEAD", at="2026-01-07T09:00:00", annotated=True)
    # 1.1.2: the release commit writes the notes (a "Fixed" section naming #12, an entry with
    # another change's subject, a "Changed" section) and bumps the version line 1.1.1 wrote: it
    # is the release's bookkeeping, not a fix.
    code = code.replace("g = chunk()", "g = chunk(size)")
    c4 = put(g, "Consider the chunk size (#12)", "2026-01-08T08:00:00", app__core=code)
    code = code.replace("c = parse()", "c = parse(quiet=True)")
    c8 = put(g, "Quiet the parse warning", "2026-01-08T09:00:00", app__core=code)
    code = code.replace("h = 8", "h = 9")
    put(g, "Shorter warnings", "2026-01-08T10:00:00", app__core=code)
    notes = ("Version 1.1.2\n-------------\n\nFixed\n~~~~~\n\n-   Consider the chunk size. #12\n"
             "-   Quiet the parse warning on empty input.\n\nChanged\n~~~~~~~\n\n-   Shorter warnings.\n\n" + notes)
    put(g, "Version 1.1.2 (#13)", "2026-01-08T11:00:00", app__version="1.1.2\n", **{"CHANGES.rst": notes})
    g.tag("v1.1.2", "HEAD", at="2026-01-09T09:00:00", annotated=True)
    # 1.2.0, a feature release: a fix entry there is everyday work, its notes are not read.
    put(g, "Faster strip", "2026-01-10T08:00:00", app__core=code.replace("strip(collapse=True)", "strip(1)"),
        **{"CHANGES.rst": "Version 1.2.0\n-------------\n\n-   Fix slow strip.\n\n" + notes})
    g.tag("v1.2.0", "HEAD", at="2026-01-11T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    rows = {(e[0], e[2]["fixing"], e[1], e[2]["lines"], e[2].get("note")) for e in evidence(db, "fix_forward")}
    assert rows == {
        ("v1.1.1", c1, intro, "5", "-   Fix ``strip`` not collapsing spaces. :issue:`417`"),
        ("v1.1.2", c4, intro, "7", "-   Consider the chunk size. #12"),
        ("v1.1.2", c8, intro, "3", "-   Quiet the parse warning on empty input."),
    }
    assert failed(db) == {"v1.1.0": 48.0}  # recovered by v1.1.1; v1.1.1 not failed


@pytest.mark.parametrize(("tags", "expected"), [
    # Calendar versions (the year of release, no patch part): 26.4.0 is the patch of 26.3.0.
    (("26.1.0", "26.2.0", "26.3.0", "26.4.0"), {"26.3.0": 24.0}),
    # The same numbers where the first part is no year: 6.4.0 is a feature release.
    (("6.1.0", "6.2.0", "6.3.0", "6.4.0"), {}),
    # A repository that writes patch versions (26.4.1): its minor releases are feature releases.
    (("26.1.0", "26.2.0", "26.3.0", "26.4.0", "26.4.1"), {}),
])
def test_under_calendar_versions_the_next_release_is_the_patch_of_the_one_before(g, tmp_path, tags, expected):
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES)
    g.tag(tags[0], "HEAD", at="2026-01-01T09:00:00", annotated=True)
    a = put(g, "Compute c", "2026-01-05T08:00:00", app__core=LINES.replace("c = 3", "c = compute()"))
    g.tag(tags[1], a, at="2026-01-05T09:00:00", annotated=True)
    b = put(g, "Compute e", "2026-01-06T08:00:00",
            app__core=LINES.replace("c = 3", "c = compute()").replace("e = 5", "e = compute()"))
    g.tag(tags[2], b, at="2026-01-06T09:00:00", annotated=True)
    # Two fixes in the next release: one of the line the release just before shipped, one of a
    # line from the release before that (not the next release after it: not its patch).
    put(g, "Fix e", "2026-01-07T07:00:00",
        app__core=LINES.replace("c = 3", "c = compute()").replace("e = 5", "e = compute(1)"))
    put(g, "Fix c", "2026-01-07T08:00:00",
        app__core=LINES.replace("c = 3", "c = compute(1)").replace("e = 5", "e = compute(1)"))
    g.tag(tags[3], "HEAD", at="2026-01-07T09:00:00", annotated=True)
    if len(tags) > 4:
        put(g, "Faster", "2026-01-08T08:00:00", app__other="x = 1\n")
        g.tag(tags[4], "HEAD", at="2026-01-08T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    # The evidence is the same in all three (blame knows no version scheme); the rule decides.
    assert {(e[0], e[1], e[2]["subject"]) for e in evidence(db, "fix_forward")} == {
        (tags[3], a, "Fix c"), (tags[3], b, "Fix e")}
    assert failed(db) == expected


def test_a_fixes_trailer_names_the_commit_that_introduced_what_it_fixes(g, tmp_path):
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES, app__gateway="info = None\n")
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    intro = put(g, "Use the main thread only", "2026-01-05T08:00:00",
                app__core=LINES.replace("c = 3", "c = main_thread()"))
    g.tag("v1.1.0", intro, at="2026-01-05T09:00:00", annotated=True)
    # No fix word, no number, and its lines are v1.0.0's; the trailer names the cause. A
    # trailer naming no commit of the clone is left out.
    message = ("Cache the gateway info during setup\n\nCalling it later ran off the main thread.\n\n"
               f'Fixes: {intro[:12]} ("Use the main thread only")\nFixes: 0123456789ab ("elsewhere")')
    fix = put(g, message, "2026-01-07T08:00:00", app__gateway="info = cached()\n")
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    assert evidence(db, "fix_forward") == [
        ("v1.1.1", intro, {"fixing": fix, "subject": "Cache the gateway info during setup",
                           "fixes_commit": f'Fixes: {intro[:12]} ("Use the main thread only")'}),
    ]
    assert failed(db) == {"v1.1.0": 48.0}


@pytest.mark.parametrize(("pyproject", "expected"), [(PACKAGE, {}), (APPLICATION, {"v1.1.0": 48.0})])
def test_a_developers_script_is_not_what_a_package_ships(g, tmp_path, pyproject, expected):
    script = "#!/bin/sh\ncoverage report --fail-under=96.95\n"
    put(g, "Initial", "2026-01-01T08:00:00", app__core=LINES,
        **{"pyproject.toml": pyproject, "scripts__coverage": script, "tox.ini": "[tox]\nenv_list = py\n"})
    g.tag("v1.0.0", "HEAD", at="2026-01-01T09:00:00", annotated=True)
    bump = put(g, "Bump coverage", "2026-01-05T08:00:00",
               **{"scripts__coverage": script.replace("96.95", "96.96"), "tox.ini": "[tox]\nenv_list = py3\n"})
    g.tag("v1.1.0", bump, at="2026-01-05T09:00:00", annotated=True)
    put(g, "Fix coverage threshold", "2026-01-07T08:00:00",
        **{"scripts__coverage": script.replace("96.95", "96.9"), "tox.ini": "[tox]\nenv_list = py3,py4\n"})
    g.tag("v1.1.1", "HEAD", at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g)
    # tox.ini never ships; scripts/coverage ships only where no package metadata says otherwise.
    assert {e[2]["path"] for e in evidence(db, "fix_forward")} == ({"scripts/coverage"} if expected else set())
    assert failed(db) == expected


def _reformatting_bump(g) -> str:
    """v1.0.0 (1 Dec 2025) with a header pattern and a limit, then v1.1.0 (5 Jan 2026): a
    formatter bump that re-quotes the pattern and lower-cases its escapes (`-w` sees a change)
    and, in the same commit, really changes the limit. Returns the bump's sha."""
    code = "HEADER = re.compile(b'[\\x00-\\x1F\\x7F]')\nLIMIT = 10\n"
    base = put(g, "Initial", "2025-12-01T08:00:00", app__http=code)
    g.tag("v1.0.0", base, at="2025-12-01T09:00:00", annotated=True)
    bump = put(g, "Bump ruff (#2303)", "2026-01-05T08:00:00",
               app__http='HEADER = re.compile(b"[\\x00-\\x1f\\x7f]")\nLIMIT = 20\n')
    g.tag("v1.1.0", bump, at="2026-01-05T09:00:00", annotated=True)
    return bump


def test_blame_goes_on_past_a_commit_that_only_reformatted_the_line(g, tmp_path):
    bump = _reformatting_bump(g)
    fix = put(g, "Fix: allow tabs in header values", "2026-01-07T08:00:00",
              app__http='HEADER = re.compile(b"[\\x00-\\x08\\x0a-\\x1f\\x7f]")\nLIMIT = 20\n')
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g, since="2025-11-01")
    # The pattern's behaviour came from v1.0.0, 37 days before: no evidence, not failed.
    assert evidence(db, "fix_forward") == []
    assert failed(db) == {}
    # A fix of the line the bump really changed is still blamed on it.
    limit = put(g, "Fix the limit", "2026-01-08T08:00:00",
                app__http='HEADER = re.compile(b"[\\x00-\\x08\\x0a-\\x1f\\x7f]")\nLIMIT = 15\n')
    g.tag("v1.1.2", limit, at="2026-01-08T09:00:00", annotated=True)
    sync(db, g, since="2025-11-01")
    assert evidence(db, "fix_forward") == [
        ("v1.1.2", bump, {"fixing": limit, "lines": "2", "path": "app/http", "subject": "Fix the limit"})]
    assert failed(db) == {"v1.1.0": 72.0}


def test_a_fix_of_a_reformatted_line_and_a_changed_one_keeps_the_changed_ones_blame(g, tmp_path):
    """One fix touches both lines of a bump that reformatted one and really changed the other:
    only the reformatted line is blamed past the bump; the changed one stays on it."""
    bump = _reformatting_bump(g)
    fix = put(g, "Fix the header and the limit", "2026-01-07T08:00:00",
              app__http='HEADER = re.compile(b"[\\x00-\\x08\\x0a-\\x1f\\x7f]")\nLIMIT = 15\n')
    g.tag("v1.1.1", fix, at="2026-01-07T09:00:00", annotated=True)
    db = tmp_path / "db.duckdb"
    sync(db, g, since="2025-11-01")
    # Line 1 goes on to v1.0.0 (37 days before: outside the window), line 2 stays on the bump.
    assert evidence(db, "fix_forward") == [
        ("v1.1.1", bump, {"fixing": fix, "lines": "2", "path": "app/http",
                          "subject": "Fix the header and the limit"})]
    assert failed(db) == {"v1.1.0": 48.0}


@pytest.mark.parametrize("text, path, named", [
    ('install_requires=open("requirements.txt").read().split()', "requirements.txt", True),
    ('dependencies = {file = ["./requirements.txt"]}', "requirements.txt", True),
    ('open("dev-requirements.txt")', "requirements.txt", False),
    ('open("docs/requirements.txt")', "requirements.txt", False),
    ('scripts=["scripts/foobar"]', "scripts/foo", False),
    ('scripts=["scripts/foo"]', "scripts/foo", True),
])
def test_package_metadata_names_a_file_by_its_whole_path(text, path, named):
    from collectors.szz import names_file

    assert names_file(text, path) is named
