"""Staggered difference-in-differences, group-time effects, and team-level jackknife errors.

For each cohort g and each week t after its ramp, the cohort's change since its own baseline
weeks is compared with the change, over the same weeks, of the teams that are still clean
comparisons in week t (see design.py): a group-time effect ATT(g, t) in the sense of Callaway
and Sant'Anna (2021), with the baseline-window average as the reference period. The effects
are aggregated over weeks and cohorts by imputation - every treated observation gets the
value the comparison teams' change predicts, and the estimate is actual against predicted -
which weights each (g, t) by the treated observations in it. No two-way fixed effects
regression is run, so earlier adopters are never used as controls for later ones.

* ratio metrics: the cohort's pooled rate, scaled by the comparison teams' rate ratio
  (week t against baseline): parallel trends in logs, which is what an org-wide slowdown of
  x% does to every team.
* log metrics (durations): each team's own baseline mean log plus the comparison teams'
  average within-team change; so a shift in which teams ship more does not look like an effect.

Uncertainty: every estimate is a smooth function of team weights, so the delete-one-team
jackknife (the CV3 cluster-robust variance; MacKinnon, Nielsen and Webb 2023) is computed by
setting one team's weight to zero at a time, stratified into adopting and comparison teams
(each team in exactly one stratum: a not-yet-adopted team is an adopting one), with
Welch-Satterthwaite degrees of freedom for the Student t interval. Clustering on teams makes
the errors robust to any correlation of a team's weeks. docs/impact-method.md shows its
calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from warehouse.impact.design import Design, Window
from warehouse.impact.estimate import Estimate, t_interval
from warehouse.impact.measures import Measure
from warehouse.impact.panel import Panel


@dataclass
class Replicates:
    """theta per weight row (row 0: all teams; row i+1: team i left out), and who mattered."""

    treated: np.ndarray  # (B,) adopting teams' effect
    org_scale: Callable[[np.ndarray], np.ndarray]  # adopting teams' theta -> the org's theta
    treated_teams: np.ndarray  # bool (teams,): adopting teams with baseline data
    control_teams: np.ndarray  # bool (teams,): teams used as a comparison in some week

    @property
    def strata(self) -> list[np.ndarray]:
        return partition(self.treated_teams, self.control_teams)


def partition(treated: np.ndarray, control: np.ndarray) -> list[np.ndarray]:
    """The jackknife's two strata with each team in exactly one: a later cohort's team that
    was a comparison before it adopted is an adopting team. Counting it in both strata would
    add its left-out deviation twice and inflate the variance (by 15-20% in staggered designs)."""
    return [treated, control & ~treated]


def jackknife_weights(n: int) -> np.ndarray:
    weights = np.ones((n + 1, n))
    weights[1:][np.diag_indices(n)] = 0.0
    return weights


def _segments(design: Design, window: Window, has_data: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Post weeks grouped by their set of comparison teams: [(team mask, weeks)]."""
    masks = design.exposure.controls(window, window.post) & has_data[None, :]
    if len(window.post) == 0:
        return []
    unique, inverse = np.unique(masks, axis=0, return_inverse=True)
    return [(unique[k], window.post[inverse.ravel() == k]) for k in range(len(unique)) if unique[k].any()]


def replicates(
    panel: Panel, measure: Measure, design: Design, windows: list[Window], weights: np.ndarray
) -> Replicates:
    num, den = panel[measure.num], panel[measure.den]
    rows = weights.shape[0]
    actual, expected = np.zeros(rows), np.zeros(rows)  # ratio: sums of counts
    excess, events = np.zeros(rows), np.zeros(rows)  # log: sums of log-differences, of events
    treated_teams = np.zeros(panel.n_teams, dtype=bool)
    control_teams = np.zeros(panel.n_teams, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for window in windows:
            if len(window.pre) == 0 or len(window.post) == 0:
                continue
            pre_num, pre_den = num[:, window.pre].sum(axis=1), den[:, window.pre].sum(axis=1)
            has_pre = pre_den > 0
            treated = window.treated & has_pre
            if not treated.any():
                continue
            treated_teams |= treated
            wt = weights * treated
            if measure.kind == "ratio":
                rate_t_pre = (wt @ pre_num) / (wt @ pre_den)
            else:
                base = np.where(has_pre, pre_num / np.where(has_pre, pre_den, 1), 0.0)
            for mask, weeks in _segments(design, window, has_pre):
                control_teams |= mask
                wc = weights * mask
                n_t, d_t = wt @ num[:, weeks], wt @ den[:, weeks]
                if measure.kind == "ratio":
                    n_c, d_c = wc @ num[:, weeks], wc @ den[:, weeks]
                    rate_c_pre = (wc @ pre_num) / (wc @ pre_den)
                    trend = (n_c / d_c) / rate_c_pre[:, None]
                    ok = d_c > 0
                    actual += np.where(ok, n_t, 0).sum(axis=1)
                    expected += np.where(ok, d_t * rate_t_pre[:, None] * trend, 0).sum(axis=1)
                else:
                    shift = num[:, weeks] - den[:, weeks] * base[:, None]  # sum of (log - own baseline)
                    x_c, e_c = wc @ shift, wc @ den[:, weeks]
                    ok = e_c > 0
                    change_c = x_c / e_c  # comparison teams' mean within-team change in week t
                    excess += np.where(ok, wt @ shift - d_t * change_c, 0).sum(axis=1)
                    events += np.where(ok, d_t, 0).sum(axis=1)
        # The org: the adopting teams' change, with every team's volume over the weeks some
        # cohort was compared in as the base. Only the adopting teams change (no spill-over),
        # so the org's effect is a fixed, increasing function of theirs.
        weeks = np.unique(np.concatenate([w.post for w in windows] + [np.arange(0)])).astype(int)
        if measure.kind == "ratio":
            treated_theta = np.log(actual / expected)
            total, observed = float(num[:, weeks].sum()), float(actual[0])

            def org_scale(theta: np.ndarray) -> np.ndarray:
                return np.log(total / (total - observed * (1 - np.exp(-theta))))
        else:
            treated_theta = excess / events
            share = float(events[0] / den[:, weeks].sum()) if len(weeks) else math.nan

            def org_scale(theta: np.ndarray) -> np.ndarray:
                return share * np.asarray(theta)

    return Replicates(treated_theta, org_scale, treated_teams, control_teams)


def jackknife(thetas: np.ndarray, strata: list[np.ndarray]) -> tuple[float, float]:
    """(standard error, Satterthwaite df) from delete-one replicates thetas[1:].

    strata: team masks (e.g. adopting, comparison); teams in no stratum did not enter the
    estimate. Each stratum contributes (n-1)/n * sum of squared deviations (CV3).
    """
    parts, dfs = [], []
    for members in strata:
        left_out = thetas[1:][members]
        k = len(left_out)
        if k < 2 or not np.isfinite(left_out).all():
            return math.nan, math.nan
        v = (k - 1) / k * float(((left_out - left_out.mean()) ** 2).sum())
        parts.append(v)
        dfs.append(k - 1)
    total = sum(parts)
    if total <= 0:
        return math.nan, math.nan
    df = total**2 / sum(v * v / d for v, d in zip(parts, dfs, strict=True) if v > 0)
    return math.sqrt(total), df


def estimate(panel: Panel, measure: Measure, design: Design, min_teams: int = 2) -> tuple[Estimate, Estimate]:
    """(adopting teams, org) difference-in-differences estimates of one measure.

    The org's estimate is the adopting teams' effect expressed on the org's volume, so its
    interval and p-value are theirs, transformed (an increasing function keeps the order).
    """
    weights = jackknife_weights(panel.n_teams)
    reps = replicates(panel, measure, design, design.cohorts, weights)
    treated, org = Estimate("did", measure.name), Estimate("did", measure.name)
    n_treated, n_control = int(reps.treated_teams.sum()), int(reps.control_teams.sum())
    for est in (treated, org):
        est.extra.update(treated_teams=n_treated, comparison_teams=n_control)
    thetas = reps.treated
    if n_treated < min_teams or n_control < min_teams:
        reason = (
            f"needs at least {min_teams} adopting and {min_teams} comparison teams with data "
            f"(has {n_treated} and {n_control})"
        )
    elif not math.isfinite(thetas[0]):
        reason = "the comparison has no events to compare"
    else:
        reason = None
    if reason:
        treated.unavailable = org.unavailable = reason
        return treated, org
    strata = reps.strata
    se, df = jackknife(thetas, strata)
    treated.theta, treated.se, treated.df, treated.draws, treated.strata = (
        float(thetas[0]),
        se,
        df,
        thetas,
        strata,
    )
    treated.low, treated.high, treated.p_value = t_interval(treated.theta, se, df)
    if not math.isfinite(se):
        treated.unavailable = org.unavailable = "the team-level error could not be estimated"
        return treated, org
    scale = reps.org_scale
    org.theta = float(scale(np.array(treated.theta)))
    org.low, org.high = float(scale(np.array(treated.low))), float(scale(np.array(treated.high)))
    org.p_value, org.df, org.strata = treated.p_value, df, strata
    with np.errstate(invalid="ignore", over="ignore"):
        org.draws = scale(thetas)
    step = max(se, 1e-9) * 1e-3  # delta method for the reported standard error
    org.se = (
        se
        * abs(float(scale(np.array(treated.theta + step)) - scale(np.array(treated.theta - step))))
        / (2 * step)
    )
    return treated, org
