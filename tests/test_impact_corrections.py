"""Deterministic cases for the impact corrections, computed by hand: each team in one
jackknife stratum, zero weeks after a team's last row, multiple-testing adjustments."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from warehouse.impact import did
from warehouse.impact.analysis import ORG, TREATED, Judged
from warehouse.impact.design import build
from warehouse.impact.estimate import Estimate
from warehouse.impact.event_study import TrendCheck
from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.measures import BY_NAME, PANEL_COLUMNS
from warehouse.impact.multiplicity import decide, holm
from warehouse.impact.panel import Panel, from_frame
from warehouse.impact.verdict import RowTest, mde

MONDAY = date(2024, 1, 1)


def hand_panel(values: dict[str, np.ndarray], teams: list[str]) -> Panel:
    weeks = next(iter(values.values())).shape[1]
    arrays = {c: np.zeros((len(teams), weeks)) for c in PANEL_COLUMNS}
    arrays["active"][:] = 1
    arrays.update({k: np.asarray(v, dtype=float) for k, v in values.items()})
    return Panel(teams, [MONDAY + timedelta(weeks=k) for k in range(weeks)], arrays, weeks)


def test_staggered_jackknife_puts_a_not_yet_adopted_team_in_one_stratum():
    # One change a week per team. a adopts in week 2, b in week 4; c, d, e never. b is a
    # comparison for a in weeks 2-3 and an adopting team from week 4.
    rng = np.random.default_rng(4)
    logs = rng.normal(2, 0.3, (5, 6))
    teams = ["a", "b", "c", "d", "e"]
    panel = hand_panel({"lead_log": logs, "changes": np.ones((5, 6))}, teams)
    ini = Initiative(
        "x",
        "other",
        (CohortSpec(("a",), MONDAY + timedelta(weeks=2)), CohortSpec(("b",), MONDAY + timedelta(weeks=4))),
        ramp_weeks=0,
    )
    design = build(panel, ini, [ini], window_weeks=2)
    est, _ = did.estimate(panel, BY_NAME["lead_time"], design)
    thetas = est.draws
    assert [s.tolist() for s in est.strata] == [
        [True, True, False, False, False],
        [False, False, True, True, True],
    ]

    def part(idx: list[int]) -> float:
        left = thetas[1:][idx]
        return (len(left) - 1) / len(left) * float(((left - left.mean()) ** 2).sum())

    v_t, v_c = part([0, 1]), part([2, 3, 4])
    assert est.se == pytest.approx(math.sqrt(v_t + v_c))
    assert est.df == pytest.approx((v_t + v_c) ** 2 / (v_t**2 / 1 + v_c**2 / 2))


def test_a_team_that_stops_deploying_keeps_its_zero_weeks():
    # alpha ships 3 a week for two weeks, then nothing for two weeks; the data runs on (beta).
    weeks = [MONDAY + timedelta(weeks=k) for k in range(4)]
    frame = pl.DataFrame(
        {
            "team": ["alpha", "alpha", "beta", "beta", "beta", "beta"],
            "week": [weeks[0], weeks[1], *weeks],
            "deployments": [3, 3, 1, 1, 1, 1],
        }
    )
    panel = from_frame(frame, last_event=weeks[-1] + timedelta(days=6))
    assert panel["active"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    # 6 deployments over 4 active weeks: 1.5 a week, not 3.
    assert panel["deployments"][0].sum() / panel["active"][0].sum() == 1.5
    # An explicit end (a Wednesday in week 2) stops alpha after that week; a Monday end stops
    # it before the week starts.
    ended = from_frame(frame, ends={"alpha": weeks[2] + timedelta(days=2)})
    assert ended["active"][0].tolist() == [1, 1, 1, 0]
    assert from_frame(frame, ends={"alpha": weeks[2]})["active"][0].tolist() == [1, 1, 0, 0]
    # A team that starts late is not active before its first row.
    late = from_frame(frame.filter(~((pl.col("team") == "beta") & (pl.col("week") < weeks[2]))))
    assert late["active"].tolist() == [[1, 1, 1, 1], [0, 0, 1, 1]]


def judged(group: str, metric: str, p: float, theta: float = 0.2, method: str = "did") -> Judged:
    """A row as verdict.judge leaves it: called alone on its test (here, the trend-adjusted one)."""
    est = Estimate(method, metric, theta=theta, low=theta - 0.1, high=theta + 0.1, p_value=p)
    j = Judged(group, est, "worsened" if p < 0.05 else "no detectable change", None, primary=True)
    if method == "did":
        j.trend = TrendCheck(adjusted=theta, adjusted_low=theta - 0.1, adjusted_high=theta + 0.1, adjusted_p=p)
    return j


def family(primary_p: float, *secondary: float) -> list[Judged]:
    names = ("lead_time", "recovery_time", "change_fail_rate", "rework_rate", "throughput", "instability")
    return [judged(TREATED, "deployment_frequency", primary_p)] + [
        judged(TREATED, name, p) for name, p in zip(names, secondary, strict=False)
    ]


def test_holm_by_hand():
    # Holm: sorted p times (m - rank + 1), made non-decreasing.
    assert holm([0.04, 0.01]) == pytest.approx([0.04, 0.02])
    assert holm([0.03, 0.04]) == pytest.approx([0.06, 0.06])  # max(0.06, 0.04)


def test_the_primary_metric_is_judged_alone_at_5_percent_then_holm_over_the_rest():
    rows = family(0.03, 0.001, 0.02, 0.04, 0.3)
    decide(rows, "deployment_frequency", TREATED, ORG, "did")
    assert [j.role for j in rows] == ["primary"] + ["secondary"] * 4
    # 0.001 x 4, 0.02 x 3, 0.04 x 2, 0.3 x 1 (non-decreasing): 0.004, 0.06, 0.08, 0.3.
    assert [j.p_adjusted for j in rows] == pytest.approx([0.03, 0.004, 0.06, 0.08, 0.3])
    assert [j.verdict for j in rows] == [
        "worsened", "worsened", "no detectable change", "no detectable change", "no detectable change",
    ]
    assert rows[2].reason == (
        "p = 0.02 alone, 0.06 after Holm's adjustment over the 4 DORA metrics tested after the primary one"
    )


def test_the_other_metrics_are_not_tested_unless_the_primary_is_called():
    rows = family(0.06, 0.0001, 0.001)
    decide(rows, "deployment_frequency", TREATED, ORG, "did")
    assert [j.verdict for j in rows] == ["no detectable change", None, None]
    assert rows[1].reason.startswith("not tested: the other DORA metrics are tested only once the primary")
    # Another primary registered: the same rows, another order.
    rows = family(0.06, 0.0001, 0.001)
    decide(rows, "lead_time", TREATED, ORG, "did")
    assert [j.role for j in rows] == ["secondary", "primary", "secondary"]
    assert [j.verdict for j in rows] == ["no detectable change", "worsened", "worsened"]
    assert [j.p_adjusted for j in rows] == pytest.approx([0.06, 0.0001, 0.002])


def test_the_test_is_the_trend_adjusted_estimate_alone():
    # Plain p 0.001, 0.2 with the trend taken out: the row's test p is 0.2.
    j = judged(TREATED, "lead_time", 0.001)
    j.trend = TrendCheck(adjusted=0.05, adjusted_low=-0.03, adjusted_high=0.13, adjusted_p=0.2)
    assert j.test_p == 0.2 and j.test.trend_adjusted
    # The time series has no trend adjustment: its own p.
    assert judged(ORG, "lead_time", 0.01, method="its").test_p == 0.01


def test_references_stages_and_org_rows():
    rows = family(0.01, 0.01) + [
        judged(TREATED, "pickup_time", 0.001),  # a stage: descriptive unless it is the primary
        judged(TREATED, "deployment_frequency", 0.001, method="its"),
        judged(ORG, "deployment_frequency", 0.01),  # the adopters' row rescaled: same test
        judged(ORG, "lead_time", 0.001, method="before_after"),
    ]
    rows[-3].primary = rows[-1].primary = False
    decide(rows, "deployment_frequency", TREATED, ORG, "did")
    assert [j.role for j in rows] == ["primary", "secondary", "descriptive", "descriptive", "primary", "descriptive"]
    assert [j.verdict for j in rows] == ["worsened", "worsened", None, None, "worsened", None]
    rows = [judged(TREATED, "pickup_time", 0.001)]
    decide(rows, "pickup_time", TREATED, ORG, "did")
    assert (rows[0].role, rows[0].verdict) == ("primary", "worsened")


def test_the_mde_is_80_percent_power_at_5_percent_from_the_tests_error():
    # z: 1.959964 + 0.841621 = 2.801585; with se 0.05, 0.14008 on the log scale.
    test = RowTest(0.0, -0.098, 0.098, 1.0, 0.05, None, False)
    assert mde(test) == pytest.approx(2.801585 * 0.05, rel=1e-5)
    # t with 10 df: 2.228139 + 0.879058.
    assert mde(RowTest(0.0, -0.1, 0.1, 1.0, 0.05, 10.0, False)) == pytest.approx(3.107197 * 0.05, rel=1e-5)
    # No standard error: read off the interval's half-width over 1.96.
    assert mde(RowTest(0.0, -0.098, 0.098, 1.0, None, None, False)) == pytest.approx(2.801585 * 0.05, rel=1e-4)


def test_holm_written_out_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for _ in range(10):  # statsmodels' Holm runs gc.collect() per call: slow
        p = rng.uniform(0, 0.3, rng.integers(1, 8))
        assert holm(list(p)) == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_durations_under_the_floor_are_counted_and_flagged(db):
    from datetime import UTC, datetime

    from warehouse import Warehouse
    from warehouse.impact.panel import load_panel
    from warehouse.schema import CHANGES, DEPLOYMENTS, PULL_REQUESTS, REVIEWS, TEAMS

    def ts(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    with Warehouse(db) as wh:
        wh.load(
            {
                "teams": TEAMS.frame([{"team": "alpha", "repo": "acme/a"}]),
                "deployments": DEPLOYMENTS.frame(
                    [{"deployment_id": "D1", "repo": "acme/a", "environment": "production",
                      "status": "success", "finished_at": ts("2024-01-03 10:00"), "sha": "m1"}]
                ),
                "changes": CHANGES.frame(
                    [{"repo": "acme/a", "sha": f"c{k}", "committed_at": ts("2024-01-02 10:00"),
                      "pr_number": k, "deployment_id": "D1", "author": "ann"} for k in (1, 2, 3)]
                ),
                "pull_requests": PULL_REQUESTS.frame(
                    [{"repo": "acme/a", "number": k, "created_at": ts("2024-01-02 12:00"),
                      "merged_at": ts("2024-01-03 08:00"), "author": "ann"} for k in (1, 2, 3)]
                ),
                # PR 1 and 2 are picked up within the minute they were opened (30 s), PR 3 after 2 h.
                "reviews": REVIEWS.frame(
                    [{"repo": "acme/a", "number": k, "review_id": f"r{k}", "reviewer": "bob",
                      "state": "APPROVED", "submitted_at": ts(when)}
                     for k, when in ((1, "2024-01-02 12:00:30"), (2, "2024-01-02 12:00:30"), (3, "2024-01-02 14:00"))]
                ),
            }
        )
        panel = load_panel(wh)
    assert panel["pickup_instant"].tolist() == [[2]] and panel["pickup_n"].tolist() == [[3]]
    # Floored at one minute: log(1/60) twice, log(2) once.
    assert panel["pickup_log"][0, 0] == pytest.approx(2 * math.log(1 / 60) + math.log(2))
    assert panel["review_instant"].tolist() == [[0]]


def test_a_stage_with_many_instant_events_is_flagged():
    from warehouse.impact.analysis import analyse

    rng = np.random.default_rng(1)
    n = np.full((8, 12), 10.0)
    values = {
        "pickup_n": n,
        "pickup_log": n * rng.normal(1, 0.2, (8, 12)),
        "pickup_instant": np.where(np.arange(12)[None, :] < 6, 3.0, 1.0) * np.ones((8, 1)),  # 30%, then 10%
    }
    panel = hand_panel(values, [f"t{i}" for i in range(8)])
    ini = Initiative("x", "other", (CohortSpec(("t0", "t1", "t2", "t3"), MONDAY + timedelta(weeks=6)),), ramp_weeks=0)
    impact = analyse(panel, ini, [ini], window_weeks=6, resamples=99, seed=1, metrics=("pickup_time",))
    row = next(r for r in impact.rows() if r["primary"] and r["group"] == TREATED and r["metric"] == "pickup_time")
    assert (row["instant_share_before"], row["instant_share_after"]) == (pytest.approx(0.3), pytest.approx(0.1))
    assert row["floor_sensitive"] is True
    assert any(note.startswith("pickup_time: 30% of the adopting teams' durations are under a minute") for note in impact.notes)
