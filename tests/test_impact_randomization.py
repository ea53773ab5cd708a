"""Randomization inference over which teams adopted: exact p-values on hand-made panels, the
re-drawn assignments, and the false-positive rate over simulated null orgs."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from tests.test_impact_estimators import MONDAY, hand_panel, initiative
from warehouse.impact import did, randomization
from warehouse.impact.analysis import TREATED, analyse
from warehouse.impact.design import build
from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.measures import BY_NAME
from warehouse.impact.simulate import Scenario, simulate

TEAMS = [f"t{i}" for i in range(8)]


def estimate(panel, ini, metric: str, draws: int = 999):
    design = build(panel, ini, [ini], window_weeks=4)
    drawn = randomization.assignments(panel, design, draws, seed=1)
    measure = BY_NAME[metric]
    return drawn, did.estimate(
        panel, measure, design, reference=randomization.reference(panel, measure, design, drawn)
    )[0]


def test_four_against_four_perfectly_separated_teams_give_p_two_in_seventy():
    # Every team deploys 10 a week for 4 weeks; after adoption the adopting teams deploy 16-19
    # a week, the others 10-13. Of the C(8, 4) = 70 ways to pick 4 adopting teams, only the
    # real one and its mirror image (the other four) are this far apart: p = 2/70 exactly.
    after = [16, 17, 18, 19, 10, 11, 12, 13]
    deployments = [[10] * 4 + [a] * 4 for a in after]
    panel = hand_panel({"deployments": deployments}, TEAMS)
    drawn, est = estimate(panel, initiative(TEAMS[:4], 4), "deployment_frequency")
    assert drawn.exact and len(drawn.labels) == 70
    assert est.theta == pytest.approx(math.log(17.5 / 11.5))
    assert est.extra["randomization_exact"] is True and est.extra["randomization_draws"] == 70
    assert est.extra["p_randomization"] == pytest.approx(2 / 70)
    # The jackknife-t p is far smaller (about 0.001); the verdict's p is the larger one, and
    # the interval is widened so that it gives that p.
    assert est.extra["p_jackknife"] < 0.005
    assert est.p_value == pytest.approx(2 / 70)
    df = est.df
    assert 2 * stats.t.sf(est.theta / est.se, df) == pytest.approx(2 / 70)
    assert est.low > 0  # 2/70 < 0.05: the widened interval still excludes zero


def test_the_exact_p_is_the_permutation_test_of_welchs_t_on_team_changes():
    # Durations, one change per team-week: the estimate is the difference of the teams' mean
    # within-team changes and its jackknife is Welch's (test_impact_estimators), so the
    # studentized randomization p is the exact permutation test of Welch's t, which scipy
    # computes independently over the same 70 splits.
    rng = np.random.default_rng(5)
    logs = rng.normal(3, 0.4, (8, 8))
    logs[:4, 4:] += 0.25
    panel = hand_panel({"lead_log": logs.tolist(), "changes": np.ones((8, 8)).tolist()}, TEAMS)
    _, est = estimate(panel, initiative(TEAMS[:4], 4), "lead_time")
    change = logs[:, 4:].mean(axis=1) - logs[:, :4].mean(axis=1)

    def welch(x, y, axis=-1):
        return np.abs(stats.ttest_ind(x, y, equal_var=False, axis=axis).statistic)

    exact = stats.permutation_test(
        (change[:4], change[4:]),
        welch,
        permutation_type="independent",
        alternative="greater",
        n_resamples=10**6,
    )
    assert est.extra["p_randomization"] == pytest.approx(exact.pvalue)
    assert est.p_value == pytest.approx(max(exact.pvalue, est.extra["p_jackknife"]))


def test_staggered_draws_deal_the_teams_to_the_cohort_dates_keeping_their_sizes():
    panel = hand_panel({"deployments": np.full((8, 16), 5.0).tolist()}, TEAMS)
    ini = Initiative(
        "x",
        "other",
        (
            CohortSpec(tuple(TEAMS[:2]), MONDAY + timedelta(weeks=6)),
            CohortSpec(tuple(TEAMS[2:5]), MONDAY + timedelta(weeks=10)),
        ),
        ramp_weeks=1,
    )
    design = build(panel, ini, [ini], window_weeks=4)
    # 8! / (2! 3! 3!) = 560 distinct deals: all of them when 999 draws are allowed.
    drawn = randomization.assignments(panel, design, 999, seed=1)
    assert drawn.exact and len(drawn.labels) == 560
    assert len({tuple(row) for row in drawn.labels}) == 560
    counts = np.stack([(drawn.labels == k).sum(axis=1) for k in (-1, 0, 1)], axis=1)
    assert (counts == [3, 2, 3]).all()
    sampled = randomization.assignments(panel, design, 100, seed=1)
    assert not sampled.exact and len(sampled.labels) == 100
    assert (np.stack([(sampled.labels == k).sum(axis=1) for k in (-1, 0, 1)], axis=1) == [3, 2, 3]).all()
    # The real assignment's estimate is the estimator's, under the draw machinery too.
    one = randomization.Assignments(randomization.observed_labels(design)[None], True)
    measure = BY_NAME["deployment_frequency"]
    ref = randomization.reference(panel, measure, design, one)
    real = did.replicates(panel, measure, design, design.cohorts)
    assert ref.thetas[0] == pytest.approx(real.treated)


@pytest.mark.slow
def test_null_orgs_rarely_get_a_randomization_p_below_five_percent():
    # 16 null orgs (10 of 30 teams adopt), 13 primary rows each. The calibration
    # (docs/impact-method.md) puts the per-row rate at about 5% and the share of initiatives
    # with any call at 5-6%. Bounds: at most 10% of the 208 rows (the binomial's 99.9% bound
    # for 5% is about 10%, rows of one org being correlated only weakly), and at most 3 of the
    # 16 orgs with a call (P(X >= 4) < 2% at 6%).
    low, orgs_with_call, rows = 0, 0, 0
    for seed in range(300, 316):
        panel, ini = simulate(Scenario(weeks=58, cohorts=((10, 28),)), np.random.default_rng(seed))
        found = [
            r
            for r in analyse(panel, ini, [ini], window_weeks=26, resamples=199, seed=seed).rows()
            if r["group"] == TREATED and r["primary"] and r["method"] == "did"
        ]
        rows += len(found)
        low += sum(r["p_randomization"] < 0.05 for r in found)
        orgs_with_call += any(r["verdict"] in ("improved", "worsened") for r in found)
    assert rows == 16 * 13
    assert low <= 0.10 * rows, low
    assert orgs_with_call <= 3, orgs_with_call
