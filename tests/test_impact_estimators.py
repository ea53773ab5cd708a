"""The impact estimators on panels with a known truth: hand-made ones and simulated orgs."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from warehouse.impact import did
from warehouse.impact.analysis import ORG, ROW_KEYS, TREATED, analyse
from warehouse.impact.design import build
from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.measures import BY_NAME, PANEL_COLUMNS
from warehouse.impact.panel import Panel
from warehouse.impact.simulate import LARGE_EFFECT, Scenario, simulate

MONDAY = date(2024, 1, 1)
DORA_METRICS = ("deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate")


def hand_panel(values: dict[str, list[list[float]]], teams: list[str]) -> Panel:
    """A panel from explicit (teams x weeks) lists; other columns are zero, all teams active."""
    weeks = len(next(iter(values.values()))[0])
    arrays = {c: np.zeros((len(teams), weeks)) for c in PANEL_COLUMNS}
    arrays["active"][:] = 1
    for column, rows in values.items():
        arrays[column] = np.array(rows, dtype=float)
    return Panel(teams, [MONDAY + timedelta(weeks=k) for k in range(weeks)], arrays, weeks)


def initiative(
    teams: list[str], week: int, ramp: int = 0, name: str = "init", primary: str | None = None
) -> Initiative:
    return Initiative(
        name, "other", (CohortSpec(tuple(teams), MONDAY + timedelta(weeks=week)),), ramp_weeks=ramp,
        primary_metric=primary,
    )


def rows_of(
    panel: Panel, ini: Initiative, window: int = 26, others: list[Initiative] | None = None
) -> list[dict]:
    return analyse(panel, ini, others or [ini], window_weeks=window, resamples=199, seed=3).rows()


def primary(rows: list[dict], metric: str, group: str = TREATED) -> dict:
    found = [r for r in rows if r["primary"] and r["metric"] == metric and r["group"] == group]
    assert len(found) == 1
    return found[0]


def assert_called_when_adjusted(row: dict, direction: str) -> None:
    """A row carries a verdict word only as the registered primary metric or, once that is
    called, as one of the other DORA metrics; then it is called exactly when its test's p (the
    primary's own, Holm's for the others) is below 5%."""
    if row["role"] in ("descriptive", "exploratory"):
        assert row["verdict"] is None and row["reason"], row
        return
    if row["verdict"] is None:
        assert row["role"] == "secondary" and row["reason"].startswith("not tested"), row
        return
    if row["verdict"] == "inconclusive":
        assert row["reason"], row
        return
    if row["p_adjusted"] < 0.05:
        assert row["verdict"] == direction, row
    else:
        assert row["verdict"] == "no detectable change", row


# -- hand-computed cases -------------------------------------------------------------------------


def test_ratio_did_is_the_ratio_of_rate_ratios_computed_by_hand():
    # Teams a, b adopt in week 2 (no ramp); c, d never. Deployments per week, one active week each.
    deployments = [[4, 6, 3, 5], [10, 10, 8, 6], [5, 5, 4, 4], [8, 12, 9, 11]]
    panel = hand_panel({"deployments": deployments}, ["a", "b", "c", "d"])
    design = build(panel, initiative(["a", "b"], 2), [], window_weeks=2)
    treated, org = did.estimate(panel, BY_NAME["deployment_frequency"], design)
    # Each post week t: expected = treated active weeks (2) x treated baseline rate (30/4)
    #   x control rate in t / control baseline rate (30/4).
    # Week 2: 2 * 7.5 * (13/2) / 7.5 = 13; week 3: 2 * 7.5 * (15/2) / 7.5 = 15.
    # Actual: 11 + 11 = 22 against 28 expected.
    assert treated.theta == pytest.approx(math.log(22 / 28))
    # The org: 50 deployments in weeks 2-3 (22 treated + 28 control); 6 fewer than expected.
    assert org.theta == pytest.approx(math.log(50 / (50 + 6)))
    assert org.p_value == treated.p_value


def test_log_did_and_jackknife_match_a_welch_t_test_on_team_changes():
    # One change per team-week: a team's change is the mean log after minus the mean log before,
    # and the DiD with its CV3 jackknife and Satterthwaite df is exactly Welch's t-test.
    rng = np.random.default_rng(11)
    logs = rng.normal(3, 0.4, (7, 8))
    logs[:3, 4:] += 0.3  # three adopting teams, +35% from week 4
    panel = hand_panel(
        {"lead_log": logs.tolist(), "changes": np.ones((7, 8)).tolist()}, [f"t{i}" for i in range(7)]
    )
    design = build(panel, initiative(["t0", "t1", "t2"], 4), [], window_weeks=4)
    treated, _ = did.estimate(panel, BY_NAME["lead_time"], design)
    change = logs[:, 4:].mean(axis=1) - logs[:, :4].mean(axis=1)
    welch = stats.ttest_ind(change[:3], change[3:], equal_var=False)
    assert treated.theta == pytest.approx(change[:3].mean() - change[3:].mean())
    assert treated.se == pytest.approx(math.sqrt(change[:3].var(ddof=1) / 3 + change[3:].var(ddof=1) / 4))
    assert treated.p_value == pytest.approx(welch.pvalue)
    low, high = welch.confidence_interval()
    assert (treated.low, treated.high) == (pytest.approx(low), pytest.approx(high))


def test_later_cohort_is_a_comparison_only_until_it_adopts():
    panel = hand_panel({"deployments": np.ones((4, 12)).tolist()}, ["a", "b", "c", "d"])
    ini = Initiative(
        "x",
        "other",
        (CohortSpec(("a",), MONDAY + timedelta(weeks=4)), CohortSpec(("b",), MONDAY + timedelta(weeks=8))),
        ramp_weeks=1,
    )
    other = Initiative("y", "other", (CohortSpec(("d",), MONDAY + timedelta(weeks=6)),), ramp_weeks=1)
    design = build(panel, ini, [ini, other], window_weeks=4)
    first = design.cohorts[0]
    assert list(first.pre) == [0, 1, 2, 3] and list(first.post) == [5, 6, 7, 8]
    masks = design.exposure.controls(first, first.post)
    # b until it adopts in week 8; c always; d only in week 5: it starts initiative y in week 6
    # (ramping that week, settled after), so from then on it is not as it was in the baseline.
    assert masks.tolist() == [
        [False, True, True, True],
        [False, True, True, False],
        [False, True, True, False],
        [False, False, True, False],
    ]
    assert design.notes == []  # the adopting team a is untouched by y


# -- simulated orgs with a known truth ----------------------------------------------------------

LARGE = LARGE_EFFECT


@pytest.fixture(scope="module")
def large_effect_rows() -> list[dict]:
    panel, ini = simulate(Scenario(effects=LARGE, weeks=58, cohorts=((10, 28),)), np.random.default_rng(5))
    return rows_of(panel, ini)


@pytest.mark.parametrize("metric", DORA_METRICS[:4] + ("throughput",))
def test_large_effect_interval_covers_the_truth_and_excludes_zero(large_effect_rows, metric):
    row = primary(large_effect_rows, metric)
    truth = {"throughput": -0.3}.get(metric, LARGE.get(metric, 1) - 1)
    assert row["method"] == "did"
    assert row["ci_low"] <= truth <= row["ci_high"]
    assert row["ci_low"] > 0 or row["ci_high"] < 0
    assert_called_when_adjusted(row, "worsened")
    assert row["n_before"] >= 20 and row["n_after"] >= 20


def test_exactly_one_primary_per_initiative_group_and_metric_and_json_keys(large_effect_rows):
    seen: dict[tuple, int] = {}
    for row in large_effect_rows:
        assert set(ROW_KEYS) <= row.keys()
        assert row["verdict"] in ("improved", "worsened", "no detectable change", "inconclusive", None)
        assert row["mde"] is None or row["mde"] > 0
        assert row["exploratory"] is False
        key = (row["initiative"], row["group"], row["metric"])
        seen[key] = seen.get(key, 0) + row["primary"]
    assert set(seen.values()) == {1}
    assert {g for _, g, _ in seen} == {TREATED, ORG}
    assert {m for _, _, m in seen} >= {
        *DORA_METRICS,
        "throughput",
        "instability",
        "pickup_time",
        "outside_reviews",
        "teams_per_change",
    }
    # Before/after is always there, never primary when a comparison group exists.
    plain = [r for r in large_effect_rows if r["method"] == "before_after"]
    assert plain and not any(r["primary"] for r in plain)


def test_null_effect_is_not_called_significant():
    # A year of history before adoption, as the pre-adoption trend the verdict rests on wants.
    panel, ini = simulate(Scenario(weeks=84, cohorts=((10, 54),)), np.random.default_rng(22))
    rows = rows_of(panel, ini)
    for metric in (*DORA_METRICS, "throughput", "instability"):
        row = primary(rows, metric)
        assert row["method"] == "did"
        assert row["verdict"] in ("no detectable change", "inconclusive", None), row
        assert row["ci_low"] <= 0 <= row["ci_high"]


@pytest.mark.slow
def test_null_effects_are_rarely_called_across_orgs():
    # 12 null orgs x 7 primary estimates: about 4 false calls expected at 5%; more than 10
    # would happen with probability < 0.5% if the error rate were right.
    called = 0
    for seed in range(100, 112):
        panel, ini = simulate(Scenario(weeks=58, cohorts=((10, 28),)), np.random.default_rng(seed))
        rows = rows_of(panel, ini)
        called += sum(
            primary(rows, m)["verdict"] in ("improved", "worsened")
            for m in (*DORA_METRICS, "throughput", "instability")
        )
    assert called <= 10


def test_org_wide_slowdown_fools_before_after_but_not_the_primary_estimate():
    panel, ini = simulate(Scenario(weeks=58, cohorts=((10, 28),), slowdown=True), np.random.default_rng(3))
    rows = rows_of(panel, ini)
    for metric in ("deployment_frequency", "lead_time", "throughput"):
        main = primary(rows, metric)
        naive = next(
            r
            for r in rows
            if r["group"] == TREATED and r["metric"] == metric and r["method"] == "before_after"
        )
        assert main["method"] == "did"
        assert main["verdict"] in ("no detectable change", None), main
        # Before/after is fooled (its interval excludes no change), but it is a reference row:
        # no verdict word.
        assert naive["verdict"] is None and naive["role"] == "descriptive" and not naive["primary"]
        assert naive["ci_high"] < 0 if metric != "lead_time" else naive["ci_low"] > 0
        assert abs(naive["relative_change"]) > 0.1 > abs(main["relative_change"])


@pytest.mark.slow
def test_staggered_cohorts_recover_the_effect():
    # Two cohorts of 6 after a year of history, a -30% deployment frequency, over 10 seeds. A call
    # needs the trend-adjusted interval too, which withholds some (the calibration calls a -30%
    # deployment frequency in 42% of orgs with 10 adopting teams): at least 5 of 10 called,
    # none the wrong way, and at least 9 of 10 intervals cover the truth, for lead time too.
    called = covered = lead_covered = 0
    for seed in range(10):
        scenario = Scenario(effects=LARGE, teams=30, cohorts=((6, 52), (6, 62)), weeks=92)
        panel, ini = simulate(scenario, np.random.default_rng(seed))
        rows = rows_of(panel, ini)
        row = primary(rows, "deployment_frequency")
        assert row["method"] == "did" and row["treated_teams"] == 12
        assert row["verdict"] != "improved"
        called += row["verdict"] == "worsened"
        covered += row["ci_low"] <= -0.3 <= row["ci_high"]
        lead = primary(rows, "lead_time")
        lead_covered += lead["ci_low"] <= 1 / 0.7 - 1 <= lead["ci_high"]
    assert called >= 5 and covered >= 9 and lead_covered >= 9, (called, covered, lead_covered)


def test_without_comparison_teams_the_time_series_is_primary():
    effect = {"deployment_frequency": 0.4, "lead_time": 1.6}
    panel, ini = simulate(
        Scenario(teams=12, cohorts=((12, 28),), weeks=58, effects=effect), np.random.default_rng(4)
    )
    rows = rows_of(panel, ini)
    freq = primary(rows, "deployment_frequency")
    assert freq["method"] == "its"
    # The time series' whole-series HAC bandwidth (b = 1) is the price of honest coverage under
    # an autocorrelated org factor: here -49% with an interval of -79% to +26%, not called.
    assert freq["ci_low"] <= -0.6 <= freq["ci_high"] and freq["relative_change"] < -0.3
    assert freq["verdict"] in ("worsened", "no detectable change") and freq["hac_lags"] == 51
    assert {"level_change", "slope_change_per_week"} <= freq.keys()
    assert not any(r["method"] == "did" for r in rows)
    null_panel, null_ini = simulate(
        Scenario(teams=12, cohorts=((12, 28),), weeks=58), np.random.default_rng(4)
    )
    null = primary(rows_of(null_panel, null_ini), "deployment_frequency")
    assert null["method"] == "its" and null["verdict"] == "no detectable change"


def test_thin_data_is_inconclusive_whatever_the_numbers():
    # Two teams of each kind, one deployment a week: 10 deployments before and after.
    panel = hand_panel(
        {
            "deployments": [[1, 1, 1, 1, 1, 1, 0, 1, 0, 1]] * 2 + [[1] * 10] * 2,
            "production_deployments": [[1] * 10] * 4,
        },
        ["a", "b", "c", "d"],
    )
    rows = rows_of(panel, initiative(["a", "b"], 5, primary="deployment_frequency"), window=5)
    freq = primary(rows, "deployment_frequency")
    assert freq["relative_change"] == pytest.approx(-0.4)  # 6 deployments where 10 were expected
    assert freq["verdict"] == "inconclusive"
    assert "fewer than 20" in freq["reason"]


def test_a_pre_adoption_drift_is_taken_out_before_the_verdict():
    # Adopting teams were already speeding up by 3% a week before adoption and go on doing so:
    # the plain estimate is +50% or more, the trend-adjusted test (the verdict's) sees nothing.
    rng = np.random.default_rng(2)
    weeks = np.arange(40)
    rates = np.exp(np.log(8) + np.where(np.arange(12)[:, None] < 4, 0.03 * weeks[None, :], 0))
    panel = hand_panel({"deployments": rng.poisson(rates).tolist()}, [f"t{i:02d}" for i in range(12)])
    ini = initiative([f"t{i:02d}" for i in range(4)], 20, primary="deployment_frequency")
    rows = rows_of(panel, ini, window=20)
    freq = primary(rows, "deployment_frequency")
    assert freq["method"] == "did" and freq["relative_change"] > 0.3 and freq["ci_low"] > 0
    assert freq["pre_trend_p"] < 0.05 and freq["pre_trend_ok"] is False
    assert freq["pre_trend_per_week"] == pytest.approx(0.03, abs=0.01)
    assert freq["trend_adjusted_ci_low"] <= 0 <= freq["trend_adjusted_ci_high"]
    assert freq["role"] == "primary" and freq["test"] == "trend-adjusted"
    assert freq["verdict"] == "no detectable change"


def test_adoption_level_subgroups_separate_real_from_declared_adopters():
    # Ten teams declared adoption; only the first five moved to the new path.
    scenario = Scenario(effects=LARGE, weeks=58, cohorts=((10, 28),), effect_teams=5)
    panel, ini = simulate(scenario, np.random.default_rng(6))
    groups = {
        "adopters": [f"team-{i:02d}" for i in range(5)],
        "low adopters": [f"team-{i:02d}" for i in range(5, 10)],
    }
    rows = analyse(panel, ini, [ini], window_weeks=26, resamples=199, seed=3, subgroups=groups).rows()
    # Subgroups are descriptive: their difference-in-differences rows are never primary.
    def did_row(group: str) -> dict:
        found = [r for r in rows if r["metric"] == "deployment_frequency" and r["group"] == group
                 and r["method"] == "did"]
        assert len(found) == 1 and found[0]["primary"] is False
        return found[0]

    high, low = did_row("adopters"), did_row("low adopters")
    assert high["method"] == low["method"] == "did" and high["treated_teams"] == 5
    assert high["ci_low"] <= -0.3 <= high["ci_high"] and high["ci_high"] < 0
    assert_called_when_adjusted(high, "worsened")
    assert low["ci_low"] <= 0 <= low["ci_high"]
    everyone = primary(rows, "deployment_frequency")
    assert high["relative_change"] < everyone["relative_change"] < low["relative_change"]
