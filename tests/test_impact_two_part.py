"""Durations with many zeros, taken apart (warehouse/impact/two_part.py): the share under a
minute and the durations of a minute or more, computed by hand on a small panel, the verdict
rule for floor-sensitive rows, and the parts' coverage over simulated orgs."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from tests.test_impact_corrections import MONDAY, hand_panel
from warehouse.impact import did, two_part
from warehouse.impact.analysis import ORG, TREATED, analyse
from warehouse.impact.design import build
from warehouse.impact.estimate import Estimate
from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.measures import BY_NAME
from warehouse.impact.simulate import Scenario, simulate
from warehouse.impact.verdict import floor_conflict

TEAMS = ["t0", "t1", "c0", "c1"]
PICKUP = BY_NAME["pickup_time"]
INI = Initiative("x", "other", (CohortSpec(("t0", "t1"), MONDAY + timedelta(weeks=2)),), ramp_weeks=0)
L0, L1 = math.log(2), math.log(4)  # the adopting teams' positive waits before (log hours)


def four_teams(floor_hours: float, instant_scale: float = 1.0) -> tuple:
    """Ten pickups a team-week over 4 weeks; t0 and t1 adopt in week 2 (window 2, no ramp).

    Instant pickups per week before -> after: t0 5 -> 3, t1 3 -> 1 (pooled 40% -> 20%);
    c0 4, c1 2 throughout. Positive waits (log hours): t0 ln 2 -> ln 2 + 0.1, t1 ln 4 ->
    ln 4 + 0.2; c0 ln 3, c1 ln 1.5 throughout. The floored log sum puts ln(floor) per instant."""
    after = np.arange(4) >= 2
    instant = np.array(
        [np.where(after, 3, 5), np.where(after, 1, 3), np.full(4, 4), np.full(4, 2)], dtype=float
    ) * instant_scale
    positive_log = np.array(
        [
            np.where(after, L0 + 0.1, L0),
            np.where(after, L1 + 0.2, L1),
            np.full(4, math.log(3)),
            np.full(4, math.log(1.5)),
        ]
    )
    n = np.full((4, 4), 10.0)
    values = {
        "pickup_n": n,
        "pickup_instant": instant,
        "pickup_log": instant * math.log(floor_hours) + (n - instant) * positive_log,
    }
    panel = hand_panel(values, TEAMS)
    return panel, build(panel, INI, [INI], window_weeks=2)


# By hand: the share falls from 0.4 to 0.2 against flat comparison shares: x0.5. The positive
# waits' change, weighted by the adopting teams' positive pickups after (7 and 9 a week):
# (7 x 0.1 + 9 x 0.2) / 16. The org: 8 of its 20 instant pickups after are the adopters', so its
# share changes by 20 / (20 + 8) - 1; 32 of its 60 positive pickups after are theirs: x 32/60.
SHARE_THETA = math.log(0.5)
POSITIVE_THETA = (7 * 0.1 + 9 * 0.2) / 16


def floored_theta(floor_hours: float) -> float:
    """Each adopting team's mean floored log moves by 0.2 (L - ln floor) + its positive change
    x positive share after (t0: 0.07, t1: 0.18); averaged over their equal pickups."""
    ln_f = math.log(floor_hours)
    return (0.2 * (L0 - ln_f) + 0.07 + 0.2 * (L1 - ln_f) + 0.18) / 2


@pytest.mark.parametrize("floor_hours", [1 / 3600, 1 / 60, 5 / 60])
def test_the_two_parts_do_not_move_with_the_floor_while_the_floored_mean_does(floor_hours):
    panel, design = four_teams(floor_hours)
    floored, _ = did.estimate(panel, PICKUP, design)
    assert floored.theta == pytest.approx(floored_theta(floor_hours))
    split = two_part.derive(panel, floor_hours)
    share, positive = two_part.parts(PICKUP)
    (share_t, share_org), (pos_t, pos_org) = (did.estimate(split, m, design) for m in (share, positive))
    assert share_t.theta == pytest.approx(SHARE_THETA)
    assert share_org.theta == pytest.approx(math.log(20 / 28))
    assert pos_t.theta == pytest.approx(POSITIVE_THETA)
    assert pos_org.theta == pytest.approx(32 / 60 * POSITIVE_THETA)
    assert split["pickup_positive_n"][0].tolist() == [5, 5, 7, 7]


def test_the_floored_change_is_set_by_the_floor():
    # +618% with a 1-second floor, +216% with 1 minute, +129% with 5 minutes: the same data.
    changes = [math.expm1(floored_theta(f)) for f in (1 / 3600, 1 / 60, 5 / 60)]
    assert [round(c, 2) for c in changes] == [6.18, 2.16, 1.29]


def test_the_analysis_reports_both_parts_on_the_duration_row():
    panel, _ = four_teams(1 / 60)
    impact = analyse(panel, INI, [INI], window_weeks=2, resamples=99, seed=1, metrics=("pickup_time",))
    rows = {r["group"]: r for r in impact.rows() if r["method"] == "did"}
    treated, org = rows[TREATED], rows[ORG]
    assert treated["relative_change"] == pytest.approx(math.expm1(floored_theta(1 / 60)), rel=1e-5)
    assert treated["instant_share_change"] == pytest.approx(-0.5, rel=1e-5)
    assert treated["positive_change"] == pytest.approx(math.expm1(POSITIVE_THETA), rel=1e-5)
    assert org["instant_share_change"] == pytest.approx(20 / 28 - 1, rel=1e-5)
    assert org["positive_change"] == pytest.approx(math.expm1(32 / 60 * POSITIVE_THETA), rel=1e-5)
    for row in (treated, org):
        assert row["instant_share_ci_low"] < row["instant_share_change"] < row["instant_share_ci_high"]
        assert row["positive_ci_low"] < row["positive_change"] < row["positive_ci_high"]
        assert 0 < row["instant_share_p"] <= 1 and 0 < row["positive_p"] <= 1
    # On the duration's own rows: no row is added.
    assert {r["metric"] for r in impact.rows()} == {"pickup_time"}
    assert [(r["group"], r["method"]) for r in impact.rows()].count((TREATED, "did")) == 1
    note = next(n for n in impact.notes if n.startswith("pickup_time: 40% of the adopting teams'"))
    assert "durations under a minute 40% → 20% of all (−50% against the comparison teams" in note
    assert f"durations of a minute or more +{math.expm1(POSITIVE_THETA) * 100:.0f}%" in note


def test_too_few_instant_events_leave_the_parts_null():
    # 9 instant pickups among the adopting teams before and after together: below MIN_EVENTS.
    panel, _ = four_teams(1 / 60, instant_scale=9 / 24)
    impact = analyse(panel, INI, [INI], window_weeks=2, resamples=99, seed=1, metrics=("pickup_time",))
    row = next(r for r in impact.rows() if r["method"] == "did" and r["group"] == TREATED)
    assert all(row[key] is None for key in two_part.KEYS)
    assert row["relative_change"] is not None


def sensitive(theta: float, **parts: float | None) -> Estimate:
    est = Estimate("did", "pickup_time", theta=theta)
    est.extra.update(floor_sensitive=True, instant_share_before=0.4, instant_share_after=0.25)
    est.extra.update({k: None for k in two_part.KEYS}, **parts)
    return est


def test_a_floor_sensitive_call_is_withheld_only_when_a_part_is_significant_against_it():
    longer = 0.3  # the floored pickup wait rose
    # Fewer instant pickups, positive waits flat: both agree with "longer".
    assert floor_conflict(sensitive(longer, instant_share_change=-0.38, instant_share_p=0.001)) is None
    # More instant pickups (shorter waits), significantly: contradicts.
    reason = floor_conflict(
        sensitive(longer, instant_share_change=0.5, instant_share_p=0.01, positive_change=0.04, positive_p=0.6)
    )
    assert reason == (
        "the floored geometric mean rose, but its two parts disagree: the share of durations under a "
        "minute +50% (p = 0.01), durations of a minute or more +4% (p = 0.6); with 40% of durations "
        "under a minute, the floored mean's direction depends on the 1-minute floor"
    )
    # Shorter positive waits, significantly: contradicts; not significantly: does not.
    assert floor_conflict(sensitive(longer, positive_change=-0.2, positive_p=0.02)) is not None
    assert floor_conflict(sensitive(longer, positive_change=-0.2, positive_p=0.2)) is None
    # A fall of the floored mean against significantly longer positive waits.
    assert "fell" in floor_conflict(sensitive(-0.3, positive_change=0.2, positive_p=0.01))
    # Not floor-sensitive, or no parts: the rule does not apply.
    plain = sensitive(longer, positive_change=-0.2, positive_p=0.01)
    plain.extra["floor_sensitive"] = False
    assert floor_conflict(plain) is None
    assert floor_conflict(sensitive(longer)) is None


def test_the_simulator_sets_instant_columns_only_where_asked():
    scenario = Scenario(teams=12, cohorts=((4, 20),), weeks=40, instant={"pickup": 0.4})
    panel, _ = simulate(scenario, np.random.default_rng(5))
    assert "pickup_instant" in panel.values and "review_instant" not in panel.values
    share = panel["pickup_instant"].sum() / panel["pickup_n"].sum()
    assert 0.37 < share < 0.43  # 40% around team shares with mean 40%, over ~7,000 pickups
    plain, ini = simulate(Scenario(teams=12, cohorts=((4, 20),), weeks=40), np.random.default_rng(5))
    assert not any(k.endswith("_instant") for k in plain.values)  # missing: no instant events
    impact = analyse(plain, ini, [ini], window_weeks=12, resamples=99, seed=5, metrics=("pickup_time",))
    row = next(r for r in impact.rows() if r["method"] == "did" and r["group"] == TREATED)
    assert row["instant_share_change"] is None and not row.get("floor_sensitive")


ZERO_NULL = Scenario(teams=30, cohorts=((10, 28),), weeks=58, ramp=4, instant={"pickup": 0.4})


@pytest.mark.slow
def test_the_two_parts_cover_a_null_truth_over_simulated_orgs():
    # 30 null orgs with 40% instant pickups. The calibration (docs/impact-method.md, 100 orgs)
    # puts the parts' null coverage at 94-97% (with 58 or 84 weeks of history); at 95%, 30 orgs
    # give 25 or fewer covered with probability 1.6% (binomial), so 26 of 30 is the bound. The
    # floored row was called in 0 of 100 null orgs there.
    covered = {"instant_share": 0, "positive": 0}
    called = 0
    for seed in range(30):
        panel, ini = simulate(ZERO_NULL, np.random.default_rng(100 + seed))
        impact = analyse(
            panel, ini, [ini], window_weeks=26, resamples=199, seed=seed, metrics=("pickup_time",),
            primary_metric="pickup_time",  # a stage carries a verdict only as the plan's primary
        )
        rows = impact.rows()
        row = next(r for r in rows if r["method"] == "did" and r["group"] == TREATED)
        assert row["floor_sensitive"] is True
        for part in covered:
            covered[part] += row[f"{part}_ci_low"] <= 0 <= row[f"{part}_ci_high"]
        called += row["verdict"] in ("improved", "worsened")
    assert min(covered.values()) >= 26, covered
    assert called <= 3


@pytest.mark.slow
def test_a_floored_improvement_against_longer_positive_waits_is_withheld_in_the_analysis():
    # More instant pickups (x1.5) and longer other waits (x1.2): the floored mean falls 62%.
    # The calibration withholds 57-66% of these calls for the parts' disagreement (100 orgs,
    # 58 or 84 weeks of history).
    scenario = Scenario(
        teams=30,
        cohorts=((10, 28),),
        weeks=58,
        ramp=4,
        instant={"pickup": 0.4},
        effects={"pickup_instant": 1.5, "pickup_time": 1.2},
    )
    withheld = 0
    for seed in range(20):
        panel, ini = simulate(scenario, np.random.default_rng(200 + seed))
        impact = analyse(
            panel, ini, [ini], window_weeks=26, resamples=199, seed=seed, metrics=("pickup_time",),
            primary_metric="pickup_time",  # a stage carries a verdict only as the plan's primary
        )
        for row in (r for r in impact.rows() if r["method"] == "did"):
            against = row["positive_p"] < 0.05 and row["positive_change"] > 0
            assert row["relative_change"] < 0  # the floored mean reads as an improvement
            if against:
                assert row["verdict"] != "improved"
            if row["verdict"] == "inconclusive" and row["reason"].startswith("the floored geometric mean fell"):
                assert against
                withheld += row["group"] == TREATED
    assert withheld >= 6  # 11-13 of 20 expected; P(fewer than 6) < 1% at 57%
