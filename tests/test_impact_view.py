"""How the Initiatives page states an estimate (dashboards/impact_view.py), by hand."""

from __future__ import annotations

import pytest

from dashboards.impact_view import change, counterfactual, number, table


def test_a_did_change_is_measured_against_the_counterfactual_not_the_adopters_before():
    # Adopters 1.83 h -> 1.77 h, but the estimate says +7.5% against what they would show.
    row = {"metric": "recovery_time", "method": "did", "before": 1.83, "after": 1.77,
           "relative_change": 0.075, "ci_low": 0.01, "ci_high": 0.15, "group": "adopters", "verdict": "worse"}
    assert counterfactual(row) == pytest.approx(1.77 / 1.075)
    assert table([row]).row(0, named=True)["Without the initiative"] == "1.6 h"
    assert change(row) == "+7.5%"


def test_a_near_zero_count_changes_absolutely():
    row = {"metric": "outside_reviews", "method": "did", "after": 1.04, "relative_change": 1.04 / 0.08 - 1}
    assert change(row) == "+0.96 (0.08 → 1.04 reviews from outside the author's team per PR)"


def test_the_table_names_the_role_the_test_and_the_detectable_effect():
    row = {"metric": "lead_time", "method": "did", "after": 24.5, "relative_change": 0.084, "ci_low": 0.0,
           "ci_high": 0.176, "group": "treated teams", "verdict": "no detectable change", "p_value": 0.0497,
           "trend_adjusted_change": 0.07, "trend_adjusted_ci_low": -0.02, "trend_adjusted_ci_high": 0.17,
           "p_test": 0.0497, "p_adjusted": 0.0994, "family_size": 2, "role": "secondary", "mde": 0.1234,
           "reason": "p = 0.0497 alone, 0.0994 after Holm's adjustment over the 2 DORA metrics"}
    shown = table([row]).row(0, named=True)
    assert (shown["Endpoint"], shown["Group"], shown["Method"]) == (
        "secondary", "adopting teams", "difference-in-differences")
    assert (shown["p"], shown["p adjusted"]) == ("0.050", "0.099 (Holm, 2 metrics)")
    assert shown["Trend taken out (the test)"] == "+7.0% (-2.0% to +17.0%)"
    assert (shown["Detectable (mde)"], shown["Verdict"]) == (
        "±12%", "no change larger than ±12% could have been seen")
    assert shown["Why"].startswith("p = 0.0497 alone")
    # Inside a declared margin: at most that.
    equivalent = table([{**row, "equivalent": True, "equivalence_margin": 0.2}]).row(0, named=True)
    assert equivalent["Verdict"] == "at most ±20% (equivalent)"
    # A descriptive or exploratory row carries no verdict word.
    assert table([{**row, "verdict": None, "role": "descriptive"}]).row(0, named=True)["Verdict"] == "–"
    assert table([{**row, "verdict": None, "exploratory": True}]).row(0, named=True)["Verdict"] == (
        "– (exploratory)")


def test_rates_are_percentages_everywhere():
    assert number("change_fail_rate", 0.1452) == "14.5%"
    row = {"metric": "change_fail_rate", "method": "before_after", "before": 0.1, "after": 0.1452,
           "relative_change": 0.452, "ci_low": None, "ci_high": None, "group": "org", "verdict": None}
    shown = table([row]).row(0, named=True)
    assert (shown["Metric"], shown["Adopters, after"], shown["Change"]) == ("change fail rate", "14.5%", "+45.2%")
