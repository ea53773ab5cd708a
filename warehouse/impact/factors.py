"""DORA's two factors from the metric estimates: throughput and instability.

A factor is the mean of its standardised metrics with signs aligned (throughput: deployment
frequency up, lead time and recovery time down; instability: change fail rate and rework rate
up). Each metric's log-scale effect is divided by its between-team standard deviation (the
spread of the teams' own baseline values, so a unit is "the difference between typical teams"),
and the mean is rescaled by the average of those standard deviations: theta = sum a_k s_k theta_k
with a_k proportional to 1/sd_k and summing to one. Thus relative_change reads like a metric's
("throughput fell 8%") and `effect_sd` gives the standardised mean itself. Metrics whose own
data is too thin are left out (listed in `components`).

Uncertainty comes from the same resampling as the metrics (jackknife replicates or bootstrap
draws share their team or week samples), so correlations between metrics are respected. The
time series fits each metric separately; there the factor's standard error is the sum of the
weighted standard errors, the bound for perfectly correlated metrics, hence conservative.
"""

from __future__ import annotations

import math

import numpy as np

from warehouse.impact import did
from warehouse.impact.before_after import bootstrap_p
from warehouse.impact.estimate import Estimate, Reference, randomized, t_interval
from warehouse.impact.measures import BY_NAME, Factor
from warehouse.impact.panel import Panel

MIN_TEAMS_FOR_SD = 3


def spreads(panel: Panel, weeks: np.ndarray, names: list[str]) -> dict[str, float]:
    """Between-team SD of each metric's baseline value on the log scale (teams with data)."""
    out = {}
    for name in names:
        m = BY_NAME[name]
        num, den = panel[m.num][:, weeks].sum(axis=1), panel[m.den][:, weeks].sum(axis=1)
        has = den > 0
        if has.sum() < MIN_TEAMS_FOR_SD:
            continue
        if m.kind == "log":
            values = num[has] / den[has]
        else:  # +0.5: a team with no failures still has a finite log rate
            values = np.log((num[has] + 0.5) / (den[has] + 0.5))
        sd = float(np.std(values, ddof=1))
        if sd > 0:
            out[name] = sd
    return out


def combine(factor: Factor, parts: dict[str, Estimate], sds: dict[str, float], method: str) -> Estimate:
    """parts: the usable (not thin, estimable) metric estimates of one group and method."""
    est = Estimate(method, factor.name)
    names = [n for n in factor.signs if n in parts]
    if not names:
        est.unavailable = "none of its metrics has enough data"
        return est
    inverse = {n: 1 / sds[n] if n in sds else 1.0 for n in names}
    if len(sds.keys() & set(names)) < len(names):
        inverse = dict.fromkeys(names, 1.0)  # no common scale: plain mean of log changes
    total = sum(inverse.values())
    a = {n: inverse[n] / total for n in names}
    signed = {n: factor.signs[n] * a[n] for n in names}
    est.theta = sum(signed[n] * parts[n].theta for n in names)
    mean_sd = len(names) / total
    est.extra["effect_sd"] = est.theta / mean_sd
    est.extra["components"] = names
    est.extra["weights"] = {n: round(a[n], 4) for n in names}
    first = parts[names[0]]
    for key in ("treated_teams", "comparison_teams"):
        if key in first.extra:
            est.extra[key] = max(parts[n].extra[key] for n in names)
    est.n_before = min(parts[n].n_before for n in names)
    est.n_after = min(parts[n].n_after for n in names)
    est.weeks_before, est.weeks_after = first.weeks_before, first.weeks_after
    if method == "did":
        draws = sum(signed[n] * parts[n].draws for n in names)
        strata = did.partition(
            *(np.logical_or.reduce([parts[n].strata[k] for n in names]) for k in range(2))
        )
        se, df = did.jackknife(draws, strata)
        est.se, est.df, est.strata, est.draws = se, df, strata, draws
        if all(parts[n].study is not None for n in names):
            est.study = parts[names[0]].study.combine(signed, {n: parts[n].study for n in names})
        est.low, est.high, est.p_value = t_interval(est.theta, se, df)
        if math.isfinite(est.low) and all(parts[n].reference is not None for n in names):
            # The same re-drawn assignments for every metric: the factor's re-drawn estimates
            # are the same combination of its metrics'.
            refs = [parts[n].reference for n in names]
            reference = Reference(
                sum(signed[n] * r.thetas for n, r in zip(names, refs, strict=True)),
                did.partition(*(np.logical_or.reduce([r.strata[k] for r in refs]) for k in range(2))),
                all(r.exact for r in refs),
            )
            randomized(est, reference)
    elif method == "before_after":
        draws = sum(signed[n] * parts[n].draws for n in names)
        est.draws = draws
        est.low, est.high = (float(q) for q in np.percentile(draws, [2.5, 97.5]))
        est.p_value = bootstrap_p(draws)
    else:
        se = sum(abs(signed[n]) * parts[n].se for n in names)
        df = min(parts[n].df for n in names)
        est.se, est.df = se, df
        est.low, est.high, est.p_value = t_interval(est.theta, se, df)
    if not math.isfinite(est.low):
        est.unavailable = "the interval could not be estimated"
    return est
