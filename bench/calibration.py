"""Calibration of the impact estimators on simulated orgs with a known truth.

For each scenario, simulate many orgs (warehouse/impact/simulate.py), run the same analysis
the `impact` command runs, and measure for the primary estimate of the adopting teams:
coverage of the 95% intervals, bias on the log scale, the share significant before the
multiplicity adjustment, the share called `improved`/`worsened` (after it: false positives
under a null, power under an effect) and the share withheld as inconclusive. The naive
before/after is measured alongside, to show what it gets wrong. Per scenario it also reports
the family-wise rate: the share of initiatives with any call among the adopting teams'
primary rows (all 13 metrics and factors), and among the two primary endpoints.

Several scenarios break the estimators' assumptions on purpose: a differential pre-trend of
the adopting teams, an autocorrelated org-wide factor, two or three teams on one side; others
have cohorts with different effects, teams that go quiet, or only 26 weeks of history. The
zero-duration scenarios (40% of pickups under a minute) add a table of pickup_time's floored
row and its two parts (warehouse/impact/two_part.py) against their truths.

    .venv/bin/python bench/calibration.py --orgs 50    # 50 orgs per scenario, 2 processes
    .venv/bin/python bench/calibration.py --orgs 50 --processes 1

Prints Markdown tables (pasted into docs/impact-method.md) and the runtime.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from multiprocessing import Pool
from pathlib import Path

# One thread per process: the pool already uses the cores, and threaded BLAS on top of it
# only contends for them.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import power_org  # noqa: E402

from warehouse.impact.analysis import ORG, TREATED, analyse  # noqa: E402
from warehouse.impact.measures import BY_NAME  # noqa: E402
from warehouse.impact.simulate import BASE_HOURS, DORA_EFFECT, LARGE_EFFECT, Scenario, simulate  # noqa: E402
from warehouse.impact.two_part import FLOOR_HOURS  # noqa: E402
from warehouse.impact.verdict import floor_conflict, judge  # noqa: E402

WINDOW = 26
DORA, LARGE = DORA_EFFECT, LARGE_EFFECT
# 10 adopting teams of 30, adoption at week 54: a year of history (the pre-adoption trend is
# estimated on up to 52 weeks, analysis.TREND_WEEKS), of which the comparison's own baseline is
# the last 26; a 4-week ramp, 26 weeks after.
BASE = {"teams": 30, "cohorts": ((10, 54),), "weeks": 84, "ramp": 4}
# The same with only the 26 baseline weeks of history: the trend rests on those.
SHORT = {"teams": 30, "cohorts": ((10, 28),), "weeks": 58, "ramp": 4}
ORG_WIDE = {"teams": 30, "cohorts": ((30, 54),), "weeks": 84, "ramp": 4}
STAGGERED = {"teams": 30, "cohorts": ((5, 54), (5, 62)), "weeks": 92, "ramp": 4}
SCENARIOS = {
    "null": Scenario(**BASE),
    "dora (-8% throughput, +14% instability)": Scenario(**BASE, effects=DORA),
    "large (x0.7 frequency, x1.43 durations, x1.5 failures)": Scenario(**BASE, effects=LARGE),
    "null + org-wide slowdown and holiday dip": Scenario(**BASE, slowdown=True),
    "null, staggered (2 cohorts of 5)": Scenario(**STAGGERED),
    "dora, staggered (2 cohorts of 5)": Scenario(**STAGGERED, effects=DORA),
    # The first cohort changes by twice DORA's effect (on the log scale), the second not at
    # all: the estimate is their average (truth() weighs cohorts by size).
    "dora, staggered, cohorts differ (x2 and x0 the effect)": Scenario(
        **STAGGERED, effects=DORA, cohort_scale=(2.0, 0.0)
    ),
    # Teams that go quiet (a fifth stop shipping for good, a fifth pause for 4-8 weeks), on
    # both sides alike: their zero weeks count, and must not look like an effect.
    "null, inactive teams (20% stop, 20% pause)": Scenario(**BASE, stop_share=0.2, pause_share=0.2),
    "dora, inactive teams (20% stop, 20% pause)": Scenario(
        **BASE, effects=DORA, stop_share=0.2, pause_share=0.2
    ),
    # Everyone adopts at once: no comparison teams, the time series is the primary estimate.
    "null, org-wide rollout (time series)": Scenario(**ORG_WIDE),
    # Assumptions broken on purpose.
    "null, adopters drifting 0.003 log/week": Scenario(**BASE, adopter_trend=0.003),
    "null, adopters drifting 0.005 log/week": Scenario(**BASE, adopter_trend=0.005),
    "null, AR(1) org factor rho 0.5": Scenario(**BASE, org_rho=0.5),
    "null, AR(1) org factor rho 0.8": Scenario(**BASE, org_rho=0.8),
    "null, AR(1) rho 0.8, org-wide rollout": Scenario(**ORG_WIDE, org_rho=0.8),
    "null, 2 adopting teams of 30": Scenario(teams=30, cohorts=((2, 54),), weeks=84, ramp=4),
    "null, 3 adopting teams of 30": Scenario(teams=30, cohorts=((3, 54),), weeks=84, ramp=4),
    "null, 3 comparison teams (27 of 30 adopt)": Scenario(teams=30, cohorts=((27, 54),), weeks=84, ramp=4),
    "null, 4 adopting teams of 30": Scenario(teams=30, cohorts=((4, 54),), weeks=84, ramp=4),
    "null, 5 adopting teams of 30": Scenario(teams=30, cohorts=((5, 54),), weeks=84, ramp=4),
    "null, 5 comparison teams (25 of 30 adopt)": Scenario(teams=30, cohorts=((25, 54),), weeks=84, ramp=4),
    # Only the comparison's 26 baseline weeks of history.
    "null, 26 weeks of history": Scenario(**SHORT),
    "dora, 26 weeks of history": Scenario(**SHORT, effects=DORA),
    "null, drifting 0.003 log/week, 26 weeks of history": Scenario(**SHORT, adopter_trend=0.003),
    "null, drifting 0.005 log/week, 26 weeks of history": Scenario(**SHORT, adopter_trend=0.005),
    # Durations with many zeros (two_part_records below): 40% of pickups under a minute.
    "zero durations: 40% instant pickups, instant share x0.6, positive waits unchanged": Scenario(
        **BASE, instant={"pickup": 0.4}, effects={"pickup_instant": 0.6}
    ),
    "null, 40% instant pickups": Scenario(**BASE, instant={"pickup": 0.4}),
    # The parts disagree: more instant pickups, longer other waits; the floored mean falls.
    "zero durations: 40% instant pickups, instant share x1.5, positive waits x1.2": Scenario(
        **BASE, instant={"pickup": 0.4}, effects={"pickup_instant": 1.5, "pickup_time": 1.2}
    ),
}
METRICS = ("deployment_frequency", "lead_time", "change_fail_rate", "throughput", "instability")


def truth(scenario: Scenario, metric: str) -> float:
    """True relative change of a metric (factors: their metrics share one log effect here);
    with cohorts that differ, the cohorts' mean log effect weighted by their sizes."""
    effects = scenario.effects
    if metric == "throughput":
        logs = [
            math.log(effects.get("deployment_frequency", 1)),
            -math.log(effects.get("lead_time", 1)),
            -math.log(effects.get("recovery_time", 1)),
        ]
        if max(logs) - min(logs) > 1e-9:
            raise ValueError("calibration factors need equal sign-aligned effects")
        log_effect = logs[0]
    elif metric == "instability":
        log_effect = math.log(effects.get("change_fail_rate", 1))
    else:
        log_effect = math.log(effects.get(metric, 1))
    sizes = [size for size, _ in scenario.cohorts]
    scales = scenario.cohort_scale or (1.0,) * len(sizes)
    mean_scale = sum(n * k for n, k in zip(sizes, scales, strict=True)) / sum(sizes)
    return math.expm1(log_effect * mean_scale)


CALLED = ("improved", "worsened")


def one(args: tuple[str, int]) -> list[dict]:
    name, seed = args
    scenario = SCENARIOS[name]
    panel, initiative = simulate(scenario, np.random.default_rng(seed))
    result = analyse(panel, initiative, [initiative], window_weeks=WINDOW, resamples=499, seed=seed)
    rows = result.rows()
    group = ORG if initiative.org_wide else TREATED
    headline = [r for r in rows if r["group"] == group and r["primary"]]
    out = [
        {
            "scenario": name,
            "metric": "*",
            "any_call": any(r["verdict"] in CALLED for r in headline),
            "any_primary_call": any(r["verdict"] in CALLED for r in headline if r["endpoint"] == "primary"),
            "any_raw": any(r["p_value"] is not None and r["p_value"] < 0.05 for r in headline),
        }
    ]
    for row in rows:
        if row["group"] != group or row["metric"] not in METRICS:
            continue
        if not (row["primary"] or row["method"] == "before_after"):
            continue
        out.append(
            {
                "scenario": name,
                "metric": row["metric"],
                "method": row["method"],
                "primary": row["primary"],
                "estimate": row["relative_change"],
                "low": row["ci_low"],
                "high": row["ci_high"],
                "p": row["p_value"],
                "verdict": row["verdict"],
                "pre_trend_p": row.get("pre_trend_p"),
                "robust_call": robust_call(row),
            }
        )
    if scenario.instant:
        out += two_part_records(name, rows)
    return out


def robust_call(row: dict) -> bool:
    """Would the row be called under the plain Rambachan-Roth bound for linear trends: called,
    and the pre-adoption trend's whole 95% interval short of the breakdown trend? (The tool's
    rule asks the trend-adjusted interval to exclude no change on the call's side.)"""
    if row["verdict"] not in CALLED:
        return False
    if row["method"] != "did":
        return True
    low, high, breakdown = (
        row.get("pre_trend_per_week_low"),
        row.get("pre_trend_per_week_high"),
        row.get("breakdown_trend_per_week"),
    )
    if low is None or high is None or breakdown is None:
        return False
    return high < breakdown if breakdown > 0 else low > breakdown


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for name, scenario in SCENARIOS.items():
        for metric in METRICS:
            true = truth(scenario, metric)
            for primary in (True, False):
                sel = [
                    r
                    for r in rows
                    if r["scenario"] == name
                    and r["metric"] == metric
                    and (r["primary"] if primary else r["method"] == "before_after" and not r["primary"])
                ]
                if not sel:
                    continue
                est = np.array([r["estimate"] for r in sel if r["estimate"] is not None])
                ok = [r for r in sel if r["low"] is not None and r["high"] is not None]
                cover = np.mean([r["low"] <= true <= r["high"] for r in ok]) if ok else math.nan
                # Coverage of the intervals that carry a verdict: where the tool withholds one
                # (inconclusive, with its reason) it does not vouch for the interval.
                given = [r for r in ok if r["verdict"] != "inconclusive"]
                cover_given = np.mean([r["low"] <= true <= r["high"] for r in given]) if given else math.nan
                table.append(
                    {
                        "scenario": name,
                        "metric": metric,
                        "method": sel[0]["method"],
                        "truth": true,
                        # Bias on the log scale, where the estimator works: expm1(theta) is
                        # median-unbiased for the relative change, not mean-unbiased.
                        "bias_log": float(np.log1p(est).mean() - math.log1p(true)) if len(est) else math.nan,
                        "coverage": float(cover),
                        "coverage_given": float(cover_given),
                        "significant": float(np.mean([r["p"] is not None and r["p"] < 0.05 for r in sel])),
                        "called": float(np.mean([r["verdict"] in CALLED for r in sel])),
                        "robust": float(np.mean([r["robust_call"] for r in sel])),
                        "inconclusive": float(np.mean([r["verdict"] == "inconclusive" for r in sel])),
                        "n": len(sel),
                    }
                )
    return table


def families(rows: list[dict]) -> list[dict]:
    out = []
    for name in SCENARIOS:
        sel = [r for r in rows if r["scenario"] == name and r["metric"] == "*"]
        if sel:
            out.append(
                {
                    "scenario": name,
                    "any_raw": float(np.mean([r["any_raw"] for r in sel])),
                    "any_call": float(np.mean([r["any_call"] for r in sel])),
                    "any_primary_call": float(np.mean([r["any_primary_call"] for r in sel])),
                    "n": len(sel),
                }
            )
    return out


def markdown(table: list[dict], family: list[dict]) -> str:
    lines = [
        "| scenario | any row p < 0.05 (unadjusted) | any verdict improved/worsened | "
        "any primary-endpoint call | orgs |",
        "|---|---|---|---|---|",
    ]
    for r in family:
        lines.append(
            f"| {r['scenario']} | {r['any_raw']:.1%} | {r['any_call']:.1%} | {r['any_primary_call']:.1%} "
            f"| {r['n']} |"
        )
    lines += [
        "",
        "| scenario | metric | method | truth | bias (log) | 95% CI coverage | coverage where a verdict "
        "is given | p < 0.05 | verdict improved/worsened | called under the Rambachan-Roth bound | "
        "inconclusive | orgs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['scenario']} | {r['metric']} | {r['method']} | {r['truth']:+.1%} | {r['bias_log']:+.3f} | "
            f"{r['coverage']:.1%} | {r['coverage_given']:.1%} | {r['significant']:.1%} | "
            f"{r['called']:.1%} | {r['robust']:.1%} | {r['inconclusive']:.1%} | {r['n']} |"
        )
    return "\n".join(lines)


# Durations with many zeros: the floored pickup_time row and its two parts (two_part.py).
TWO_PARTS = {
    "floored (geometric mean, 1-minute floor)": ("relative_change", "ci_low", "ci_high", "p_value"),
    "share under a minute": (
        "instant_share_change",
        "instant_share_ci_low",
        "instant_share_ci_high",
        "instant_share_p",
    ),
    "a minute or more (geometric mean)": (
        "positive_change",
        "positive_ci_low",
        "positive_ci_high",
        "positive_p",
    ),
}


def two_part_truth(scenario: Scenario, stage: str = "pickup", metric: str = "pickup_time") -> dict:
    """True relative change of each part, and of the floored geometric mean: with a base share
    s of instant durations multiplied by m and the positive log-mean mu moved by theta, the
    floored mean log moves by s (m - 1) (ln floor - mu) + (1 - s m) theta (teams' shares and
    levels vary independently around s and mu, so the average keeps this form)."""
    s, m = scenario.instant[stage], scenario.effects.get(f"{stage}_instant", 1.0)
    theta = math.log(scenario.effects.get(metric, 1.0))
    floored = s * (m - 1) * (math.log(FLOOR_HOURS) - math.log(BASE_HOURS[stage])) + (1 - s * m) * theta
    names = list(TWO_PARTS)
    return {names[0]: math.expm1(floored), names[1]: m - 1, names[2]: math.expm1(theta)}


def two_part_records(name: str, rows: list[dict]) -> list[dict]:
    """The adopting teams' did pickup_time row, taken apart (the "two_part" records)."""
    row = next(
        (r for r in rows if r["group"] == TREATED and r["metric"] == "pickup_time" and r["method"] == "did"),
        None,
    )
    if row is None:
        return []
    out = []
    for part, (change, low, high, p) in TWO_PARTS.items():
        out.append(
            {
                "scenario": name,
                "metric": "two_part",
                "part": part,
                "estimate": row.get(change),
                "low": row.get(low),
                "high": row.get(high),
                "p": row.get(p),
                "verdict": row["verdict"] if part == next(iter(TWO_PARTS)) else None,
                "parts_disagree": (row["reason"] or "").startswith("the floored geometric mean"),
                "floor_sensitive": row.get("floor_sensitive"),
            }
        )
    return out


def two_part_markdown(rows: list[dict]) -> str | None:
    """Coverage, bias (log) and share significant of pickup_time's floored row and two parts."""
    lines = [
        "| scenario | pickup_time | truth | bias (log) | 95% CI coverage | p < 0.05 | "
        "verdict improved/worsened | inconclusive | of which: parts disagree | estimated | orgs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, scenario in SCENARIOS.items():
        if not scenario.instant:
            continue
        truths = two_part_truth(scenario)
        for part, true in truths.items():
            sel = [r for r in rows if (r["scenario"], r["metric"], r.get("part")) == (name, "two_part", part)]
            if not sel:
                continue
            ok = [r for r in sel if None not in (r["estimate"], r["low"], r["high"])]
            est = np.array([r["estimate"] for r in ok])
            cover = np.mean([r["low"] <= true <= r["high"] for r in ok]) if ok else math.nan
            bias = float(np.log1p(est).mean() - math.log1p(true)) if ok else math.nan
            significant = np.mean([r["p"] is not None and r["p"] < 0.05 for r in sel])
            verdicts = [r["verdict"] for r in sel if r["verdict"] is not None]
            called = f"{np.mean([v in CALLED for v in verdicts]):.1%}" if verdicts else "(no verdict)"
            withheld = f"{np.mean([v == 'inconclusive' for v in verdicts]):.1%}" if verdicts else ""
            disagree = f"{np.mean([r['parts_disagree'] for r in sel]):.1%}" if verdicts else ""
            lines.append(
                f"| {name} | {part} | {true:+.1%} | {bias:+.3f} | {cover:.1%} | {significant:.1%} | "
                f"{called} | {withheld} | {disagree} | {len(ok) / len(sel):.0%} | {len(sel)} |"
            )
    return "\n".join(lines) if len(lines) > 2 else None


def baseline_r2(panel, pre: np.ndarray, post: np.ndarray) -> dict[str, float]:
    """R^2 of each team's change on its own baseline level: the share of the change's variance
    a CUPED-style regression adjustment on the baseline could remove."""
    out = {}
    columns = (("deployment_frequency", "deployments", "active"), ("lead_time", "lead_log", "changes"))
    for metric, num, den in columns:
        n, d = panel[num], panel[den]
        base = n[:, pre].sum(1) / d[:, pre].sum(1)
        after = n[:, post].sum(1) / d[:, post].sum(1)
        if metric == "deployment_frequency":
            base, after = np.log(base), np.log(after)
        out[metric] = float(np.corrcoef(base, after - base)[0, 1] ** 2)
    return out


def power_bound(orgs: int, seed: int) -> str:
    """Power for the DORA-sized effect now, and the most a baseline regression adjustment
    could add: the interval shrinks by sqrt(1 - R^2) at best (normal approximation)."""
    from scipy import stats

    scenario = SCENARIOS["dora (-8% throughput, +14% instability)"]
    z = stats.norm.ppf(0.975)
    found: dict[str, list[tuple[float, float, float]]] = {"deployment_frequency": [], "lead_time": []}
    for k in range(orgs):
        panel, initiative = simulate(scenario, np.random.default_rng(seed * 7919 + k))
        rows = analyse(panel, initiative, [initiative], window_weeks=WINDOW, resamples=499, seed=k).rows()
        r2 = baseline_r2(panel, np.arange(28, 54), np.arange(58, 84))
        for metric in found:
            row = next(r for r in rows if r["group"] == TREATED and r["primary"] and r["metric"] == metric)
            # The trend-adjusted test's standard error, from its 95% interval (normal approx.).
            low, high = row["trend_adjusted_ci_low"], row["trend_adjusted_ci_high"]
            adjusted_se = (math.log1p(high) - math.log1p(low)) / (2 * z) if low is not None else math.inf
            found[metric].append(
                (
                    row["se_log"],
                    adjusted_se,
                    r2[metric],
                    float(row["p_jackknife"] < 0.05),
                    float(row["p_value"] < 0.05),
                    float(row["verdict"] in CALLED),
                )
            )
    lines = [
        "| metric | true log effect | jackknife-t p < 0.05 | verdict's p < 0.05 (with randomization) | "
        "called (after adjustment and pre-trend rule) | normal-approx. power | normal-approx. power of "
        "the trend-adjusted test | mean R^2 on baseline | power with that adjustment |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for metric, values in found.items():
        se, adjusted_se, r2, jk, hit, called = (np.array(v) for v in zip(*values, strict=True))
        theta = abs(math.log(scenario.effects[metric]))
        now = stats.norm.cdf(theta / se - z).mean()
        robust = stats.norm.cdf(theta / np.maximum(se, adjusted_se) - z).mean()
        adjusted = stats.norm.cdf(theta / (se * np.sqrt(1 - r2)) - z).mean()
        lines.append(
            f"| {metric} | {theta:.3f} | {jk.mean():.1%} | {hit.mean():.1%} | {called.mean():.1%} "
            f"| {now:.1%} | {robust:.1%} | {r2.mean():.3f} | {adjusted:.1%} |"
        )
    return "\n".join(lines)


# -- Power against the best (bench/power_org.py's independent org) -------------------------
# The cells the decision rule is held to (docs/impact-method.md): nulls that break the
# estimator's assumptions in the ways that matter (an adopter drift, an org-wide slowdown),
# the window sweep, the DORA-sized and the larger effect, and a small org with short history.
POWER_CELLS = {
    c.name: c
    for c in (
        power_org.Cell("null"),
        power_org.Cell("null, adopters drifting +0.3%/week", drift=0.003),
        power_org.Cell("null, org-wide slowdown", slowdown=True),
        power_org.Cell("null, window 13 weeks", window=13),
        power_org.Cell("null, window 39 weeks", window=39),
        power_org.Cell("null, window 52 weeks", window=52),
        power_org.Cell("rate x0.92, lead x1.14", rate=0.92, lead=1.14),
        power_org.Cell("rate x0.80, lead x1.14", rate=0.80, lead=1.14, primary="deployment_frequency"),
        power_org.Cell(
            "12 teams, 6 adopt, 26 weeks of history, rate x0.75, lead x1.30",
            teams=12, cohorts=((6, 26),), rate=0.75, lead=1.30, primary="deployment_frequency",
        ),
    )
}
POWER_METRICS = ("deployment_frequency", "lead_time")


def power_one(args: tuple[str, int]) -> dict:
    """One org of a power cell: the tool's verdicts (as registered, and each metric's call had
    the plan named it primary) and the best tests' estimates."""
    name, seed = args
    cell = POWER_CELLS[name]
    panel, initiative = power_org.simulate(cell, np.random.default_rng(seed))
    result = analyse(panel, initiative, [initiative], window_weeks=cell.window, resamples=499, seed=seed)
    rows = result.rows()
    out = {
        "cell": name,
        # Every row that carries a verdict word, in any group and method: the family-wise error.
        "any_call": any(r["verdict"] in CALLED for r in rows),
        "labelled": sum(r["verdict"] is not None for r in rows),
        "best": power_org.best_estimates(panel, cell),
    }
    for metric in POWER_METRICS:
        j = result.primary(TREATED, metric)
        verdict, _ = judge(j.est, BY_NAME[metric].better, j.thin, j.trend)
        if verdict in CALLED and floor_conflict(j.est):
            verdict = "inconclusive"
        row = next(r for r in rows if r["group"] == TREATED and r["primary"] and r["metric"] == metric)
        out[metric] = {
            "as_primary": verdict,  # the verdict it gets as the registered primary metric
            "verdict": row["verdict"],  # as the plan of the cell has it
            "plain_called": row["ci_low"] is not None and (row["ci_low"] > 0 or row["ci_high"] < 0),
            "low": row["trend_adjusted_ci_low"],
            "high": row["trend_adjusted_ci_high"],
            "plain_low": row["ci_low"],
            "plain_high": row["ci_high"],
            "mde": row["mde"],
        }
    return out


def share(values: list[bool]) -> str:
    """A share with its Monte-Carlo standard error, sqrt(p (1 - p) / n)."""
    p, n = float(np.mean(values)), len(values)
    return f"{p:.0%} ± {math.sqrt(max(p * (1 - p), 1e-12) / n):.0%}"


def power_markdown(results: list[dict]) -> str:
    lines = [
        "| cell | metric | truth | called as the primary metric | plain interval excludes 0 | "
        "best test (two-way FE, variance known) | best trend-robust test | tool / best trend-robust "
        "| trend-adjusted 95% CI covers truth | median mde | orgs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fwer = [
        "| cell | registered primary | any row with a verdict word improved/worsened | rows with a verdict "
        "word per org | orgs |",
        "|---|---|---|---|---|",
    ]
    for name, cell in POWER_CELLS.items():
        sel = [r for r in results if r["cell"] == name]
        if not sel:
            continue
        fwer.append(
            f"| {name} | {cell.primary} | {share([r['any_call'] for r in sel])} | "
            f"{np.mean([r['labelled'] for r in sel]):.1f} | {len(sel)} |"
        )
        for metric in POWER_METRICS:
            truth = {"deployment_frequency": cell.rate, "lead_time": cell.lead}[metric]
            tool = [r[metric]["as_primary"] in CALLED for r in sel]
            best = power_org.oracle_power([r["best"][metric] for r in sel])
            robust = power_org.oracle_power([r["best"][metric + "_trend"] for r in sel])
            covered = [
                r[metric]["low"] is not None and r[metric]["low"] <= truth - 1 <= r[metric]["high"]
                for r in sel
            ]
            mdes = [r[metric]["mde"] for r in sel if r[metric]["mde"] is not None]
            ratio = f"{np.mean(tool) / robust:.2f}" if robust > 0 and truth != 1 else "–"
            lines.append(
                f"| {name} | {metric} | {truth - 1:+.0%} | {share(tool)} | "
                f"{share([r[metric]['plain_called'] for r in sel])} | {best:.0%} | {robust:.0%} | {ratio} | "
                f"{share(covered)} | ±{np.median(mdes):.0%} | {len(sel)} |"
            )
    return "\n".join(fwer) + "\n\n" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=100, help="simulated orgs per scenario")
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--power-bound", action="store_true", help="only the variance-reduction bound")
    parser.add_argument("--power", action="store_true", help="only the power cells, against the best tests")
    args = parser.parse_args()
    if args.power_bound:
        print(power_bound(args.orgs, args.seed))
        return
    if args.power:
        names = [n for n in POWER_CELLS if not args.only or n in args.only]
        jobs = [(name, args.seed * 1_000_003 + k) for name in names for k in range(args.orgs)]
        started = time.perf_counter()
        results = []
        with Pool(args.processes) as pool:
            for k, result in enumerate(pool.imap_unordered(power_one, jobs, chunksize=2), 1):
                results.append(result)
                if k % 20 == 0:
                    print(f"{k}/{len(jobs)} orgs, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        print(power_markdown(results))
        print(
            f"\n{len(jobs)} simulated orgs ({args.orgs} per cell), {args.processes} processes, "
            f"{time.perf_counter() - started:.0f} s on {platform.machine()} / {os.cpu_count()} cores"
        )
        return
    names = [n for n in SCENARIOS if not args.only or n in args.only]
    jobs = [(name, args.seed * 1_000_003 + k) for name in names for k in range(args.orgs)]
    started = time.perf_counter()
    rows: list[dict] = []
    with Pool(args.processes) as pool:
        for k, chunk in enumerate(pool.imap_unordered(one, jobs, chunksize=4), 1):
            rows += chunk
            if k % 50 == 0:
                print(f"{k}/{len(jobs)} orgs, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(markdown(summarise(rows), families(rows)))
    parts = two_part_markdown(rows)
    if parts:
        print("\n" + parts)
    print(
        f"\n{len(jobs)} simulated orgs ({args.orgs} per scenario), {args.processes} processes, "
        f"{elapsed:.0f} s on {platform.machine()} / {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
