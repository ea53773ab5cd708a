"""The Initiatives page's "adopters against comparison teams" chart compares with the teams
the estimate compares with, week by week (a small panel worked by hand)."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from dashboards.impact_view import group_series
from warehouse.impact import design as design_mod
from warehouse.impact import did
from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.measures import BY_NAME
from warehouse.impact.panel import Panel

MONDAY = date(2026, 1, 5)
WEEKS = 20
TEAMS = ["a", "b", "c", "d"]
# Deployments a week, one active team-week each: constant, so each value is a plain sum.
DEPLOYS = {"a": 1.0, "b": 2.0, "c": 4.0, "d": 10.0}


def week(i: int) -> date:
    return MONDAY + timedelta(weeks=i)


@pytest.fixture
def impact():
    # a adopts in week 5, b in week 12, c never; d settles on another platform in week 6.
    # With a 1-week ramp and 4-week windows: a's cohort compares weeks 1-4 with 6-9, b's 8-11
    # with 13-16.
    values = {
        "deployments": np.array([[DEPLOYS[t]] * WEEKS for t in TEAMS]),
        "active": np.ones((len(TEAMS), WEEKS)),
    }
    panel = Panel(TEAMS, [week(i) for i in range(WEEKS)], values, complete_weeks=WEEKS)
    portal = Initiative(
        "portal", "portal", (CohortSpec(("a",), week(5)), CohortSpec(("b",), week(12))), ramp_weeks=1
    )
    other = Initiative("other", "deploy", (CohortSpec(("d",), week(6)),), ramp_weeks=1)
    design = design_mod.build(panel, portal, [portal, other], window_weeks=4)
    return SimpleNamespace(panel=panel, design=design)


def test_the_comparison_is_the_estimates_week_by_week(impact):
    frame = group_series(impact, metrics=("deployment_frequency",))
    comparison = frame.filter(frame["group"] == "comparison teams")
    shown = {row["week"]: row["value"] for row in comparison.iter_rows(named=True) if row["value"] is not None}
    # a's cohort: b (adopts later) and c; d is switching platforms (weeks 6-9 differ from its
    # baseline). b's cohort: c and d (settled on the other platform all through), not a.
    # Weeks 1-4: b, c; 6-7: b, c; 8-9: b, c, d; 10-11: c, d; 13-16: c, d; none in 0, 5, 12, 17+.
    # A 4-week value needs all four weeks compared:
    assert shown == {
        week(4): (2 + 4) * 4 / 8,  # 3.0
        week(9): (6 + 6 + 16 + 16) / (2 + 2 + 3 + 3),  # 4.4
        week(10): (6 + 16 + 16 + 14) / (2 + 3 + 3 + 2),  # 5.2
        week(11): (16 + 16 + 14 + 14) / (3 + 3 + 2 + 2),  # 6.0
        week(16): 14 * 4 / 8,  # 7.0
    }
    week_teams = dict(zip(comparison["week"], comparison["week_teams"], strict=True))
    assert [week_teams[week(i)] for i in range(WEEKS)] == [0, 2, 2, 2, 2, 0, 2, 2, 3, 3, 2, 2, 0, 2, 2, 2, 2, 0, 0, 0]
    # Three teams, as the estimate counts them; the never-adopters alone would be c and d.
    treated, _org = did.estimate(impact.panel, BY_NAME["deployment_frequency"], impact.design)
    assert set(comparison["teams"]) == {treated.extra["comparison_teams"]} == {3}


def test_the_adopters_line_is_every_adopting_team(impact):
    frame = group_series(impact, metrics=("deployment_frequency",))
    adopters = frame.filter(frame["group"] == "adopting teams")
    assert set(adopters["teams"]) == {2}
    # a and b: (1 + 2) deployments over 2 team-weeks, from the fourth week on.
    assert adopters["value"].to_list() == [None] * 3 + [1.5] * (WEEKS - 3)
