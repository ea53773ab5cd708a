"""Plain before/after: the group's own change, with a bootstrap interval over weeks.

Always shown for reference, never the primary estimate when a comparison group or a time
series is available: it reads anything that happened at the same time (a holiday, an
org-wide slowdown, a reorganisation) as the initiative's effect. Its interval resamples the
weeks before and the weeks after separately (scipy.stats.bootstrap, percentile method), all
metrics from the same resampled weeks so that factors can be combined from the draws.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from warehouse.impact.estimate import Estimate
from warehouse.impact.measures import Measure


def bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided p of theta = 0 from bootstrap draws (the percentile interval's inversion)."""
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return float("nan")
    share = min((draws <= 0).mean(), (draws >= 0).mean())
    return float(min(1.0, max(2 * share, 1 / len(draws))))  # never 0 from finitely many draws


def estimate(
    measures: list[Measure],
    num: np.ndarray,
    den: np.ndarray,
    pre: np.ndarray,
    post: np.ndarray,
    resamples: int,
    seed: int,
) -> dict[str, Estimate]:
    """num, den: (measures, weeks) weekly sums of the group; pre, post: week indices."""
    log_kind = np.array([m.kind == "log" for m in measures])

    def theta(pre_idx: np.ndarray, post_idx: np.ndarray, axis: int = -1) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            before = num[:, pre_idx].sum(axis=-1) / den[:, pre_idx].sum(axis=-1)
            after = num[:, post_idx].sum(axis=-1) / den[:, post_idx].sum(axis=-1)
            shape = (-1,) + (1,) * (before.ndim - 1)
            return np.where(log_kind.reshape(shape), after - before, np.log(after / before))

    out = {m.name: Estimate("before_after", m.name) for m in measures}
    if len(pre) < 2 or len(post) < 2:
        for est in out.values():
            est.unavailable = "fewer than 2 weeks before or after"
        return out
    full = theta(pre, post)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate draws of an empty metric: judged below
        result = stats.bootstrap(
            (pre, post),
            theta,
            n_resamples=resamples,
            vectorized=True,
            paired=False,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    lows = np.atleast_1d(result.confidence_interval.low)
    highs = np.atleast_1d(result.confidence_interval.high)
    draws = np.atleast_2d(result.bootstrap_distribution)
    for k, m in enumerate(measures):
        est = out[m.name]
        est.draws = draws[k]
        if not np.isfinite(full[k]):
            est.unavailable = "no events to compare before or after"
            continue
        est.theta, est.low, est.high = float(full[k]), float(lows[k]), float(highs[k])
        est.p_value = bootstrap_p(draws[k])
        if not np.isfinite(draws[k]).all():
            est.low = est.high = float("nan")  # some resamples had no events: too thin
    return out
