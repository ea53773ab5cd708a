"""The event study, the pre-trend check, the sensitivity statement and the autocorrelation-robust
intervals: hand-computed cases, then rates over simulated orgs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.test_impact_estimators import hand_panel, initiative, primary, rows_of
from warehouse.impact import ImpactResult, before_after, event_study, its
from warehouse.impact.analysis import ORG, TREATED, analyse
from warehouse.impact.design import build
from warehouse.impact.event_study import breakdown_trend, compute
from warehouse.impact.measures import BY_NAME
from warehouse.impact.simulate import LARGE_EFFECT, Scenario, simulate

CALLED = ("improved", "worsened")


def test_event_study_bins_are_differences_in_differences_from_the_baseline():
    # One change per team-week; teams 0-2 adopt in week 6 (no ramp). A bin's effect is the
    # adopting teams' mean change from their baseline to the bin, minus the others'.
    rng = np.random.default_rng(3)
    logs = rng.normal(2, 0.3, (7, 10))
    panel = hand_panel({"lead_log": logs.tolist(), "changes": np.ones((7, 10)).tolist()}, [f"t{i}" for i in range(7)])
    design = build(panel, initiative(["t0", "t1", "t2"], 6), [], window_weeks=6)
    study = compute(panel, BY_NAME["lead_time"], design, ramp=0, width=2, post=True)
    assert study.starts.tolist() == [-6, -4, -2, 0, 2]
    assert study.stops.tolist() == [-4, -2, 0, 2, 4]
    change = logs - logs[:, :6].mean(axis=1, keepdims=True)
    for k, start in enumerate(study.starts):
        weeks = np.arange(6 + start, 6 + start + 2)
        by_team = change[:, weeks].mean(axis=1)
        assert study.draws[0, k] == pytest.approx(by_team[:3].mean() - by_team[3:].mean())
    # The pre-adoption bins are measured from their own average: they sum to zero here.
    assert study.draws[0, :3].sum() == pytest.approx(0, abs=1e-12)
    assert study.distance == pytest.approx(7.5 - 2.5)  # mean week after minus mean week before
    # A drift of 0.05 a week added to the adopters moves each bin by 0.05 x its distance from
    # the baseline's middle week, so the pre-period slope rises by exactly 0.05.
    drifted = logs + np.where(np.arange(7)[:, None] < 3, 0.05 * np.arange(10)[None, :], 0)
    panel = hand_panel({"lead_log": drifted.tolist(), "changes": np.ones((7, 10)).tolist()}, [f"t{i}" for i in range(7)])
    moved = compute(panel, BY_NAME["lead_time"], design, ramp=0, width=2, post=True)
    assert moved.slope()[0] == pytest.approx(study.slope()[0] + 0.05)


def test_breakdown_trend_by_hand():
    # A call with interval [+10%, +30%] on the log scale, 20 weeks from baseline to after: a
    # differential trend of 0.1 / 20 = 0.005 a week would move the interval to touch zero.
    assert breakdown_trend(0.1, 0.3, 20.0) == pytest.approx(0.005)
    assert breakdown_trend(-0.3, -0.1, 20.0) == pytest.approx(-0.005)
    assert breakdown_trend(-0.1, 0.3, 20.0) is None  # no call, nothing to overturn


def test_org_row_pre_trend_flag_agrees_with_its_verdict():
    # Adopting teams speeding up before adoption: both rows fail the same check, and both rest
    # on the same trend-adjusted test, which takes the drift out: no call on either.
    rng = np.random.default_rng(2)
    weeks = np.arange(40)
    rates = np.exp(np.log(8) + np.where(np.arange(12)[:, None] < 4, 0.03 * weeks[None, :], 0))
    panel = hand_panel({"deployments": rng.poisson(rates).tolist()}, [f"t{i:02d}" for i in range(12)])
    ini = initiative([f"t{i:02d}" for i in range(4)], 20, primary="deployment_frequency")
    rows = rows_of(panel, ini, window=20)
    for group in (TREATED, ORG):
        row = primary(rows, "deployment_frequency", group)
        assert row["pre_trend_ok"] is False and row["verdict"] == "no detectable change", row
        assert row["role"] == "primary" and row["ci_low"] > 0  # the plain estimate alone would call it
        assert row["pre_trend_per_week"] == pytest.approx(math.expm1(0.03), abs=0.012)
    treated, org = primary(rows, "deployment_frequency"), primary(rows, "deployment_frequency", ORG)
    assert treated["pre_trend_p"] == org["pre_trend_p"]


def test_block_bootstrap_and_hac_bandwidth_by_hand():
    weeks = np.arange(100, 110)
    idx = before_after.block_indices(weeks, 50, np.random.default_rng(0))
    assert idx.shape == (50, 10) and before_after.block_length(10) == 3  # ceil(10^(1/3))
    # Blocks of 3 consecutive weeks (the last cut to 1), each starting where a block fits.
    for row in idx:
        for b in range(0, 9, 3):
            assert np.diff(row[b : b + 3]).tolist() == [1, 1] and row[b] <= 107
    # Kiefer-Vogelsang's polynomial: 1.96 + 2.9694 b + 0.4160 b^2 - 0.5324 b^3.
    assert its.fixed_b_critical(0) == 1.96 and its.fixed_b_critical(0.2) == pytest.approx(2.5667, abs=1e-3)
    assert its.fixed_b_critical(its.BANDWIDTH_SHARE) == pytest.approx(4.813, abs=1e-3)


# -- rates over simulated orgs -------------------------------------------------------------------

NULL_ORGS = 40


@pytest.fixture(scope="module")
def null_orgs() -> list[list[dict]]:
    out = []
    for seed in range(500, 500 + NULL_ORGS):
        panel, ini = simulate(Scenario(weeks=58, cohorts=((10, 28),)), np.random.default_rng(seed))
        out.append(analyse(panel, ini, [ini], window_weeks=26, resamples=99, seed=seed).rows())
    return out


@pytest.mark.slow
def test_global_null_rarely_gives_an_initiative_any_call(null_orgs):
    # The calibration (docs/impact-method.md) measures the share of null initiatives with any
    # call among the adopting teams' 13 primary rows at 10.5% (200 orgs); 40 orgs then give
    # 4.2 on average, and 10 or more would happen with probability < 1% (binomial).
    any_call = sum(
        any(r["verdict"] in CALLED for r in rows if r["group"] == TREATED and r["primary"]) for rows in null_orgs
    )
    assert any_call <= 9
    # Without the adjustment most of them would carry one (the 46%).
    raw = sum(
        any(r["p_value"] is not None and r["p_value"] < 0.05 for r in rows if r["group"] == TREATED and r["primary"])
        for rows in null_orgs
    )
    assert raw >= 8


@pytest.mark.slow
def test_pre_trend_check_rarely_withholds_a_null_verdict(null_orgs):
    # Under parallel trends the check fails only when the pre-test rejects *and* its trend
    # would change the conclusion. 40 orgs x 7 DORA rows = 280 rows; the calibration's null
    # rows are inconclusive for any reason in 2-6%, the old placebo alone downgraded 4-5%;
    # more than 17 (6%) would be outside both.
    rows = [
        r
        for org in null_orgs
        for r in org
        if r["group"] == TREATED and r["primary"] and r["family"] in ("throughput", "instability", "factor")
    ]
    failed = sum(r["reason"] is not None and r["reason"].startswith("pre-trend check failed") for r in rows)
    assert len(rows) == 7 * NULL_ORGS and failed <= 17


def test_event_study_frame_for_the_chart():
    panel, ini = simulate(Scenario(weeks=58, cohorts=((10, 28),), effects=LARGE_EFFECT), np.random.default_rng(1))
    impact = analyse(panel, ini, [ini], window_weeks=26, resamples=99, seed=1)
    frame = event_study([ImpactResult(impact, None, [])], ("deployment_frequency", "throughput"))
    assert frame.columns == ["initiative", "metric", "relative_week", "period", "estimate", "ci_low", "ci_high"]
    freq = frame.filter(frame["metric"] == "deployment_frequency")
    assert freq["relative_week"].to_list() == list(range(-26, 30))
    assert freq.group_by("period").len().sort("period").rows() == [("after", 26), ("before", 26), ("ramp", 4)]
    assert set(frame["metric"]) == {"deployment_frequency", "throughput"}
    after = freq.filter(freq["period"] == "after")["estimate"].to_numpy()
    main = primary(impact.rows(), "deployment_frequency")["relative_change"]
    # The weeks after, each its own small DiD, average to about the main estimate (x0.7).
    assert abs(np.exp(np.log1p(after).mean()) - 1 - main) < 0.05
    assert (freq["ci_low"] <= freq["estimate"]).all() and (freq["estimate"] <= freq["ci_high"]).all()


def _by_hand_slope(y: np.ndarray, adopters: list[int], controls: list[int], start: int, weeks: int) -> float:
    """The pre-adoption trend per week by hand: each of 6 bins of the `weeks` before adoption is
    the adopters' mean change from their whole baseline to the bin minus the comparison teams',
    and the slope is the least-squares line through the bins' centres (one change per
    team-week)."""
    pre = np.arange(start - weeks, start)
    change = y - y[:, pre].mean(axis=1, keepdims=True)
    centres, effects = [], []
    for part in np.array_split(np.arange(-weeks, 0), 6):
        by_team = change[:, start + part].mean(axis=1)
        effects.append(by_team[adopters].mean() - by_team[controls].mean())
        centres.append((part[0] + part[-1]) / 2)
    c = np.array(centres) - np.mean(centres)
    return float(c @ np.array(effects) / (c @ c))


def test_the_pre_trend_is_estimated_on_a_year_of_history_where_the_data_has_it():
    # 10 teams over 90 weeks, teams 0-3 adopt in week 60, 26-week comparison window. The trend
    # check uses the 52 weeks before adoption (a slope's error falls as weeks^1.5), while the
    # estimate and its distance stay those of the 26-week baseline.
    rng = np.random.default_rng(11)
    teams = [f"t{i}" for i in range(10)]
    y = rng.normal(2, 0.3, (10, 90)) + np.where(np.arange(10)[:, None] < 4, 0.004 * np.arange(90), 0)
    panel = hand_panel({"lead_log": y.tolist(), "changes": np.ones((10, 90)).tolist()}, teams)
    ini = initiative(teams[:4], 60)
    adopters, controls = [0, 1, 2, 3], [4, 5, 6, 7, 8, 9]
    row = primary(rows_of(panel, ini), "lead_time")
    assert row["pre_trend_weeks"] == 52
    assert row["pre_trend_per_week"] == pytest.approx(math.expm1(_by_hand_slope(y, adopters, controls, 60, 52)))
    assert row["trend_distance_weeks"] == pytest.approx((60 + 85) / 2 - (34 + 59) / 2)  # weeks 60-85 vs 34-59
    # The org's row shows the same trend-adjusted estimate on the org's scale: for a duration the
    # org's effect is the adopters' times their share of the events, the same share for both.
    rows = rows_of(panel, ini)
    org = primary(rows, "lead_time", ORG)
    share = math.log1p(org["relative_change"]) / math.log1p(row["relative_change"])
    assert math.log1p(org["trend_adjusted_change"]) == pytest.approx(
        share * math.log1p(row["trend_adjusted_change"]), rel=1e-4
    )

    # A comparison team that moved onto another initiative in week 20 is a clean comparison over
    # the 26-week baseline (weeks 34-59) but not over the year: the year's trend is measured
    # against the five that stayed clean.
    row = primary(rows_of(panel, ini, others=[ini, initiative(["t9"], 20, name="other")]), "lead_time")
    assert row["pre_trend_weeks"] == 52
    assert row["pre_trend_per_week"] == pytest.approx(math.expm1(_by_hand_slope(y, adopters, controls[:-1], 60, 52)))
    # With three of them moved, fewer than 4 stay clean over the year: the trend falls back to
    # the 26 weeks of the comparison's own baseline, with all six.
    other = initiative(["t7", "t8", "t9"], 20, name="other")
    row = primary(rows_of(panel, ini, others=[ini, other]), "lead_time")
    assert row["pre_trend_weeks"] == 26
    assert row["pre_trend_per_week"] == pytest.approx(math.expm1(_by_hand_slope(y, adopters, controls, 60, 26)))
