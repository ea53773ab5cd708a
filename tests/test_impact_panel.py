"""The impact SQL on a real DuckDB file: stages, handoffs, the weekly team panel, adoption."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import polars as pl
import pytest

from warehouse import Warehouse
from warehouse.impact import adoption
from warehouse.impact.initiatives import AdoptionRule, CohortSpec, Initiative
from warehouse.impact.panel import create_views, load_panel
from warehouse.schema import CHANGES, DEPLOYMENTS, PULL_REQUESTS, REVIEWS, TEAMS


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def wh(db):
    with Warehouse(db) as wh:
        wh.load(
            {
                "teams": TEAMS.frame(
                    [{"team": "alpha", "repo": "acme/a"}, {"team": "beta", "repo": "acme/b"}]
                ),
                "deployments": DEPLOYMENTS.frame(
                    [
                        {
                            "deployment_id": "P1",
                            "repo": "acme/a",
                            "environment": "preview",
                            "status": "success",
                            "finished_at": ts("2024-01-02 13:00"),
                            "sha": "m1",
                        },
                        {
                            "deployment_id": "D1",
                            "repo": "acme/a",
                            "environment": "production",
                            "status": "success",
                            "finished_at": ts("2024-01-03 10:00"),
                            "sha": "m1",
                        },
                        {
                            "deployment_id": "D2",
                            "repo": "acme/a",
                            "environment": "production",
                            "status": "failure",
                            "finished_at": ts("2024-01-04 12:00"),
                        },
                        {
                            "deployment_id": "D3",
                            "repo": "acme/a",
                            "environment": "production",
                            "status": "success",
                            "finished_at": ts("2024-01-04 14:00"),
                            "is_hotfix": True,
                            "workflow": "Platform deploy",
                            "workflow_path": ".github/workflows/platform.yml",
                        },
                        {
                            "deployment_id": "D4",
                            "repo": "acme/b",
                            "environment": "production",
                            "status": "success",
                            "finished_at": ts("2024-01-10 09:00"),
                        },
                    ]
                ),
                "changes": CHANGES.frame(
                    [
                        {
                            "repo": "acme/a",
                            "sha": "c1",
                            "committed_at": ts("2024-01-02 10:00"),
                            "pr_number": 1,
                            "deployment_id": "D1",
                            "author": "alice",
                        },
                        {
                            "repo": "acme/a",
                            "sha": "c2",
                            "committed_at": ts("2024-01-03 12:00"),
                            "pr_number": 2,
                            "deployment_id": "D3",
                            "author": "bob",
                        },
                        {
                            "repo": "acme/b",
                            "sha": "c3",
                            "committed_at": ts("2024-01-09 09:00"),
                            "pr_number": 1,
                            "deployment_id": "D4",
                            "author": "carol",
                        },
                    ]
                ),
                "pull_requests": PULL_REQUESTS.frame(
                    [
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "created_at": ts("2024-01-02 12:00"),
                            "merged_at": ts("2024-01-03 08:00"),
                            "author": "alice",
                            "first_commit_at": ts("2024-01-02 10:00"),
                            "merge_sha": "m1",
                        },
                        {
                            "repo": "acme/a",
                            "number": 2,
                            "created_at": ts("2024-01-03 13:00"),
                            "merged_at": ts("2024-01-04 13:00"),
                            "author": "bob",
                        },
                        {
                            "repo": "acme/b",
                            "number": 1,
                            "created_at": ts("2024-01-09 10:00"),
                            "merged_at": ts("2024-01-10 08:00"),
                            "author": "carol",
                        },
                    ]
                ),
                "reviews": REVIEWS.frame(
                    [
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "review_id": "r1",
                            "reviewer": "alice",
                            "state": "COMMENTED",
                            "submitted_at": ts("2024-01-02 12:30"),
                        },  # the author's own comment is no review
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "review_id": "r2",
                            "reviewer": "bob",
                            "state": "APPROVED",
                            "submitted_at": ts("2024-01-02 14:00"),
                        },
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "review_id": "r3",
                            "reviewer": "carol",
                            "state": "COMMENTED",
                            "submitted_at": ts("2024-01-02 16:00"),
                        },
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "review_id": "r4",
                            "reviewer": "dave",
                            "state": "APPROVED",
                            "submitted_at": ts("2024-01-02 18:00"),
                        },
                        {
                            "repo": "acme/a",
                            "number": 1,
                            "review_id": "r5",
                            "reviewer": "dave",
                            "state": "PENDING",
                            "submitted_at": None,
                        },
                        {
                            "repo": "acme/b",
                            "number": 1,
                            "review_id": "r6",
                            "reviewer": "alice",
                            "state": "APPROVED",
                            "submitted_at": ts("2024-01-09 11:00"),
                        },
                    ]
                ),
            }
        )
        create_views(wh)
        yield wh


def test_pull_request_stages_and_handoffs(wh):
    flow = wh.frame("SELECT * FROM impact_pr_flow ORDER BY repo, number").to_dicts()
    a1, a2, b1 = flow
    # a#1: first commit 10:00, opened 12:00, first review by someone else (bob) 14:00, merged
    # 08:00 next day, shipped by D1 at 10:00.
    assert (a1["coding_hours"], a1["pickup_hours"], a1["review_hours"], a1["deploy_wait_hours"]) == (
        2,
        2,
        18,
        2,
    )
    # carol (beta) and dave (no known team) review from outside alpha; bob is alpha.
    assert a1["outside_reviews"] == 2
    assert a1["teams_touching"] == 3  # alpha, beta, dave
    # a#2: no recorded first commit (its change's 12:00 is used), no review, shipped by D3 at 14:00.
    assert (a2["coding_hours"], a2["pickup_hours"], a2["review_hours"], a2["deploy_wait_hours"]) == (
        1,
        None,
        None,
        1,
    )
    assert (a2["outside_reviews"], a2["teams_touching"]) == (0, 1)
    assert (b1["author_team"], b1["outside_reviews"], b1["teams_touching"]) == ("beta", 1, 2)


def test_team_week_panel_sums(wh):
    rows = {(r["team"], r["week"]): r for r in wh.frame("SELECT * FROM impact_team_weeks").to_dicts()}
    alpha = rows[("alpha", date(2024, 1, 1))]
    assert (alpha["deployments"], alpha["production_deployments"], alpha["failed"], alpha["rework"]) == (
        2,
        3,
        1,
        1,
    )
    assert alpha["recoveries"] == 1 and alpha["recovery_log"] == pytest.approx(math.log(2))  # D2 -> D3
    assert alpha["changes"] == 2 and alpha["lead_log"] == pytest.approx(math.log(24) + math.log(26))
    assert (alpha["prs"], alpha["coding_n"], alpha["pickup_n"], alpha["review_n"]) == (2, 2, 1, 1)
    assert alpha["review_log"] == pytest.approx(math.log(18))
    assert alpha["deploy_wait_log"] == pytest.approx(math.log(2))  # log 2 + log 1
    assert (alpha["outside_reviews"], alpha["teams_touching"]) == (2, 4)
    beta = rows[("beta", date(2024, 1, 8))]
    assert (beta["deployments"], beta["changes"], beta["prs"], beta["outside_reviews"]) == (1, 1, 1, 1)
    assert beta["review_log"] == pytest.approx(math.log(21))
    assert set(rows) == {("alpha", date(2024, 1, 1)), ("beta", date(2024, 1, 8))}


def test_dense_panel_marks_active_weeks(wh):
    panel = load_panel(wh)
    assert panel.teams == ["alpha", "beta"] and panel.weeks == [date(2024, 1, 1), date(2024, 1, 8)]
    # alpha delivered only in week 1, beta only in week 2: beta was not there in week 1, but
    # alpha still is in week 2 (a team that stops shipping has zero weeks, until the data ends).
    assert panel["active"].tolist() == [[1, 1], [0, 1]]
    assert panel["deployments"].tolist() == [[2, 0], [0, 1]]
    assert panel.complete_weeks == 1  # the newest deployment (Wednesday) leaves its week incomplete


def test_adoption_curve_follows_preview_deployments(wh):
    initiative = Initiative(
        "previews",
        "environments",
        (CohortSpec(("alpha",), date(2024, 1, 1)),),
        ramp_weeks=0,
        adoption=AdoptionRule(environment="^preview$"),
    )
    curve = adoption.measure(wh, initiative, ["alpha", "beta"])
    # D1 ships PR a#1 whose merge commit had a preview deployment; D3 ships a#2, which had none.
    assert curve.weeks == [
        {
            "week": date(2024, 1, 1),
            "deployments": 2,
            "new_path": 1,
            "share": 0.5,
            "repos": 1,
            "repos_new_path": 1,
            "repo_share": 1.0,
        }
    ]
    assert curve.team_share == {"alpha": 0.5}
    silent = Initiative("portal", "portal", (CohortSpec(("alpha",), date(2024, 1, 1)),))
    none = adoption.measure(wh, silent, ["alpha", "beta"])
    assert none.weeks == [] and none.message.startswith("no adoption signal: no adoption rule is configured")


def test_adoption_curve_follows_the_deploy_workflow(wh):
    initiative = Initiative(
        "pipeline",
        "deploy platform",
        (CohortSpec(("alpha",), date(2024, 1, 1)),),
        ramp_weeks=0,
        adoption=AdoptionRule(workflow=r"platform\.yml$"),
    )
    curve = adoption.measure(wh, initiative, ["alpha", "beta"])
    # alpha's successful production deployments in week 1: D1 (no workflow) and D3 (the
    # platform workflow, matched by its path): one of two.
    assert curve.signal == "workflow matching " + repr(r"platform\.yml$")
    assert (curve.weeks[0]["deployments"], curve.weeks[0]["new_path"], curve.weeks[0]["share"]) == (2, 1, 0.5)
    assert curve.team_share == {"alpha": 0.5}


def test_initiatives_merge_config_over_table(wh):
    from dora_impact.config import Config
    from warehouse.impact.initiatives import resolve

    wh.load(
        {
            "initiatives": pl.DataFrame(
                {
                    "name": ["previews", "portal"],
                    "started_on": [date(2024, 1, 1), date(2024, 2, 1)],
                    "teams": ["alpha; beta", None],
                    "ramp_weeks": [None, 2],
                }
            )
        }
    )
    config = Config.model_validate(
        {
            "initiatives": [
                {
                    "name": "previews",
                    "kind": "environments",
                    "adoption_environment": "^preview$",
                    "cohorts": [
                        {"teams": ["alpha"], "started_on": "2024-01-01"},
                        {"teams": ["beta"], "started_on": "2024-01-08"},
                    ],
                }
            ]
        }
    )
    found = {i.name: i for i in resolve(wh, config)}
    assert found["previews"].source == "config" and len(found["previews"].cohorts) == 2
    assert found["previews"].adoption.environment == "^preview$"
    portal = found["portal"]
    assert (portal.source, portal.ramp_weeks, portal.org_wide, portal.teams) == ("warehouse", 2, True, [])
