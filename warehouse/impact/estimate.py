"""One estimate of one metric's change by one method, before it is judged and printed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from warehouse.impact.event_study import EventStudy


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
