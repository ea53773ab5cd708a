"""One estimate of one metric's change by one method, before it is judged and printed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from warehouse.impact.event_study import EventStudy


@dataclass
class Reference:
    """An estimate under re-drawn adoption labels (randomization.py), with its jackknife."""

    thetas: np.ndarray  # (draws, teams + 1): column 0 the draw's estimate, then team i left out
    strata: list[np.ndarray]  # (draws, teams) masks: each draw's adopting, comparison-only teams
    exact: bool  # every distinct assignment (the real one among them), or a random sample

    def t(self) -> np.ndarray:
        """Each draw's studentized estimate: theta / its jackknife standard error."""
        se, _ = jackknife_many(self.thetas, self.strata)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.thetas[:, 0] / se


@dataclass
class Estimate:
    method: str  # "did" | "its" | "before_after"
    metric: str
    theta: float | None = None  # the effect on the log scale; relative change = exp(theta) - 1
    low: float | None = None  # 95% interval of theta
    high: float | None = None
    p_value: float | None = None
    before: float | None = None  # the group's level before, in the metric's unit
    after: float | None = None
    n_before: int = 0
    n_after: int = 0
    weeks_before: int = 0
    weeks_after: int = 0
    events: int | None = None  # rates: counted events (failures, rework) before and after
    # Draws that share resampling with the other metrics of the same method and group, so
    # that factors (combinations of metrics) get honest intervals: jackknife replicates for
    # did (row 0 is the full-sample estimate), bootstrap draws for before_after.
    draws: np.ndarray | None = None
    strata: list[np.ndarray] | None = None  # did: the jackknife's team strata
    study: EventStudy | None = None  # did: the pre-adoption event study
    # did: the estimate under re-drawn adoption labels (randomization.py), and whether they are
    # every distinct assignment (exact) or a random sample of them.
    reference: Reference | None = None
    # did, the org's rows: the increasing map from the adopting teams' theta to the org's, so
    # that numbers computed on the adopters' scale (the trend-adjusted estimate) can be shown.
    scale: Callable[[np.ndarray], np.ndarray] | None = None
    se: float | None = None
    df: float | None = None
    extra: dict = field(default_factory=dict)
    unavailable: str | None = None  # why this method could not estimate (no verdict then)

    @property
    def estimable(self) -> bool:
        return self.unavailable is None and self.theta is not None and _finite(self.low, self.high)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def t_interval(theta: float, se: float, df: float) -> tuple[float, float, float]:
    """(low, high, two-sided p) of theta with standard error se and Student t(df)."""
    if not (math.isfinite(theta) and math.isfinite(se) and se > 0 and df >= 1):
        return math.nan, math.nan, math.nan
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(theta) / se, df))
    return theta - q * se, theta + q * se, p


def relative(theta: float | None) -> float | None:
    return None if theta is None or not math.isfinite(theta) else math.expm1(theta)


def jackknife_many(thetas: np.ndarray, strata: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """jackknife() for many rows at once: thetas (rows, teams + 1), strata (rows, teams) masks."""
    left = thetas[:, 1:]
    parts, dfs = [], []
    bad = np.zeros(len(thetas), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for members in strata:
            k = members.sum(axis=1)
            bad |= (k < 2) | (members & ~np.isfinite(left)).any(axis=1)
            values = np.where(members, left, 0.0)
            mean = values.sum(axis=1) / np.maximum(k, 1)
            dev = np.where(members, left - mean[:, None], 0.0)
            parts.append((k - 1) / np.maximum(k, 1) * (dev**2).sum(axis=1))
            dfs.append(np.maximum(k - 1, 1))
        total = sum(parts)
        bad |= ~(total > 0)
        df = total**2 / sum(np.where(v > 0, v * v / d, 0.0) for v, d in zip(parts, dfs, strict=True))
        se = np.sqrt(total)
    return np.where(bad, math.nan, se), np.where(bad, math.nan, df)


def permutation_p(observed: float, draws: np.ndarray, exact: bool) -> float | None:
    """Two-sided randomization p-value: the share of re-drawn statistics at least as far from
    zero as the observed one; (1 + extreme) / (1 + draws) when the draws are a random sample
    (the observed assignment counts as one), extreme / draws when they are all of them (the
    observed one among them). Draws without a statistic (no comparison events) are left out."""
    draws = draws[np.isfinite(draws)]
    if not math.isfinite(observed) or len(draws) == 0:
        return None
    # A relative tolerance, so that the observed assignment ties with itself after rounding.
    extreme = int((np.abs(draws) >= abs(observed) * (1 - 1e-9)).sum())
    return extreme / len(draws) if exact else (1 + extreme) / (1 + len(draws))


def randomized(est: Estimate, reference: Reference | None) -> None:
    """Join the randomization p-value to a jackknife-t estimate (theta, se, df, low, high and
    p_value already set). The statistic is the studentized estimate theta / se, re-computed
    with its own jackknife in every draw: exact under the sharp null, and, unlike the raw
    estimate, still valid for the average effect when teams differ in size and noise (Chung
    and Romano 2013). The verdict's p-value is the larger of the two; when that is the
    randomization one, the interval is widened to the standard error that gives it, so that
    the interval excludes zero exactly when the verdict's p is below 5%."""
    p_t = est.p_value
    est.extra["p_jackknife"] = p_t
    if reference is None or p_t is None or not math.isfinite(p_t) or not est.se:
        return
    est.reference = reference
    stats_t = reference.t()
    p_ri = permutation_p(est.theta / est.se, stats_t, reference.exact)
    est.extra["p_randomization"] = p_ri
    est.extra["randomization_draws"] = int(np.isfinite(stats_t).sum())
    est.extra["randomization_exact"] = reference.exact
    if p_ri is None or p_ri <= p_t:
        return
    est.p_value = p_ri
    # Beyond p = 0.5 the estimate is well inside the noise; the interval then needs no more
    # than the width that p = 0.5 implies (and never less than the jackknife's).
    q = float(stats.t.isf(min(p_ri, 0.5) / 2, est.df))
    se = max(est.se, abs(est.theta) / q)
    est.extra["se_jackknife"] = est.se
    est.se = se
    half = float(stats.t.ppf(0.975, est.df)) * se
    est.low, est.high = est.theta - half, est.theta + half
