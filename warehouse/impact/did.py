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

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from warehouse.impact.design import Design, Window
from warehouse.impact.estimate import Estimate, Reference, jackknife_many, randomized, t_interval
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


def _with_left_out(full: np.ndarray, part: np.ndarray) -> np.ndarray:
    """(rows, teams + 1, ...): a sum over teams (full: (rows, ...)), then that sum without each
    team (part: (rows, teams, ...), each team's share). Every estimate below is a smooth function
    of such sums, so its delete-one-team replicates need no re-estimation."""
    return np.concatenate([full[:, None], full[:, None] - part], axis=1)


def _treated_sum(wt: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Adopting teams' sum per week (and without each team) of values (teams, weeks)."""
    return _with_left_out(wt @ values, wt[:, :, None] * values[None])


def _control_sum(wc: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Comparison teams' sum per week (and without each team) of values (teams, weeks)."""
    return _with_left_out(np.einsum("rwt,tw->rw", wc, values), wc.transpose(0, 2, 1) * values[None])


def effects(
    panel: Panel,
    measure: Measure,
    windows: list[Window],
    treated: list[np.ndarray],
    controls: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The estimator itself, for many assignments at once, with its jackknife replicates.

    treated[c]: (rows, teams) bool, the adopting teams of window c in each row; controls[c]:
    (rows, post weeks, teams) bool, its comparison teams in each post week. Rows are the real
    assignment (one row) or re-drawn ones (randomization.py): one formula serves both.
    Returns (theta, a, b), each (rows, teams + 1): column 0 with every team, column i + 1 with
    team i left out; (a, b) are (actual, expected) counts for ratio metrics and (summed excess
    log, events) for log metrics, theta is log(a / b) or a / b.
    """
    num, den = panel[measure.num], panel[measure.den]
    rows = treated[0].shape[0] if treated else 1
    a, b = np.zeros((rows, panel.n_teams + 1)), np.zeros((rows, panel.n_teams + 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        for window, t_mask, c_mask in zip(windows, treated, controls, strict=True):
            wt, wc = t_mask.astype(float), c_mask.astype(float)
            x, d = num[:, window.post], den[:, window.post]  # (teams, weeks)
            pre_num, pre_den = num[:, window.pre].sum(axis=1), den[:, window.pre].sum(axis=1)
            t_sum = functools.partial(_treated_sum, wt)
            c_sum = functools.partial(_control_sum, wc)
            d_t = t_sum(d)
            if measure.kind == "ratio":
                rate_t_pre = _with_left_out(wt @ pre_num, wt * pre_num) / _with_left_out(
                    wt @ pre_den, wt * pre_den
                )
                n_c, d_c = c_sum(x), c_sum(d)
                rate_c_pre = c_sum(np.broadcast_to(pre_num[:, None], x.shape)) / c_sum(
                    np.broadcast_to(pre_den[:, None], x.shape)
                )
                trend = (n_c / d_c) / rate_c_pre
                ok = d_c > 0
                a += np.where(ok, t_sum(x), 0).sum(axis=-1)
                b += np.where(ok, d_t * rate_t_pre[..., None] * trend, 0).sum(axis=-1)
            else:
                has_pre = pre_den > 0
                base = np.where(has_pre, pre_num / np.where(has_pre, pre_den, 1), 0.0)
                shift = x - d * base[:, None]  # sum of (log - own baseline) per team-week
                e_c = c_sum(d)
                ok = e_c > 0
                change_c = c_sum(shift) / e_c  # comparison teams' mean within-team change
                a += np.where(ok, t_sum(shift) - d_t * change_c, 0).sum(axis=-1)
                b += np.where(ok, d_t, 0).sum(axis=-1)
        theta = np.log(a / b) if measure.kind == "ratio" else a / b
    return theta, a, b


def usable(panel: Panel, measure: Measure, windows: list[Window]) -> list[Window]:
    """The windows with weeks on both sides and adopting teams with baseline data."""
    den = panel[measure.den]
    return [
        w
        for w in windows
        if len(w.pre) and len(w.post) and (w.treated & (den[:, w.pre].sum(axis=1) > 0)).any()
    ]


def replicates(panel: Panel, measure: Measure, design: Design, windows: list[Window]) -> Replicates:
    den = panel[measure.den]
    windows = usable(panel, measure, windows)
    treated_teams = np.zeros(panel.n_teams, dtype=bool)
    control_teams = np.zeros(panel.n_teams, dtype=bool)
    treated, controls = [], []
    for window in windows:
        has_pre = den[:, window.pre].sum(axis=1) > 0
        members = window.treated & has_pre
        masks = design.exposure.controls(window, window.post) & has_pre[None, :]  # (weeks, teams)
        treated_teams |= members
        control_teams |= masks.any(axis=0)
        treated.append(members[None])
        controls.append(masks[None])
    if not windows:
        nan = np.full(panel.n_teams + 1, math.nan)
        return Replicates(nan, lambda theta: np.asarray(theta) * math.nan, treated_teams, control_teams)
    thetas, actual, events = (v[0] for v in effects(panel, measure, windows, treated, controls))
    num = panel[measure.num]
    # The org: the adopting teams' change, with every team's volume over the weeks some
    # cohort was compared in as the base. Only the adopting teams change (no spill-over),
    # so the org's effect is a fixed, increasing function of theirs.
    weeks = np.unique(np.concatenate([w.post for w in windows])).astype(int)
    if measure.kind == "ratio":
        total, observed = float(num[:, weeks].sum()), float(actual[0])

        def org_scale(theta: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return np.log(total / (total - observed * (1 - np.exp(-theta))))
    else:
        share = float(events[0] / den[:, weeks].sum()) if len(weeks) else math.nan

        def org_scale(theta: np.ndarray) -> np.ndarray:
            return share * np.asarray(theta)

    return Replicates(thetas, org_scale, treated_teams, control_teams)


def jackknife(thetas: np.ndarray, strata: list[np.ndarray]) -> tuple[float, float]:
    """(standard error, Satterthwaite df) from delete-one replicates thetas[1:].

    strata: team masks (e.g. adopting, comparison); teams in no stratum did not enter the
    estimate. Each stratum contributes (n-1)/n * sum of squared deviations (CV3).
    """
    se, df = jackknife_many(thetas[None], [m[None] for m in strata])
    return float(se[0]), float(df[0])


def estimate(
    panel: Panel,
    measure: Measure,
    design: Design,
    min_teams: int = 2,
    reference: Reference | None = None,
) -> tuple[Estimate, Estimate]:
    """(adopting teams, org) difference-in-differences estimates of one measure.

    reference: the estimate under re-drawn adoption labels (randomization.thetas); with it the
    p-value is the larger of the jackknife-t and the randomization one (estimate.randomized).

    The org's estimate is the adopting teams' effect expressed on the org's volume, so its
    interval and p-value are theirs, transformed (an increasing function keeps the order).
    """
    reps = replicates(panel, measure, design, design.cohorts)
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
    randomized(treated, reference)
    se = treated.se
    scale = reps.org_scale
    org.scale = scale
    org.theta = float(scale(np.array(treated.theta)))
    org.low, org.high = float(scale(np.array(treated.low))), float(scale(np.array(treated.high)))
    org.p_value, org.df, org.strata = treated.p_value, df, strata
    org.extra.update({k: v for k, v in treated.extra.items() if k.startswith(("p_", "randomization"))})
    with np.errstate(invalid="ignore", over="ignore"):
        org.draws = scale(thetas)
        if treated.reference is not None:  # so that the org's factors get theirs too
            ref = treated.reference
            org.reference = Reference(scale(ref.thetas), ref.strata, ref.exact)
    step = max(se, 1e-9) * 1e-3  # delta method for the reported standard error
    org.se = (
        se
        * abs(float(scale(np.array(treated.theta + step)) - scale(np.array(treated.theta - step))))
        / (2 * step)
    )
    return treated, org
