"""DORA 2024 performance level of each metric on its own (Accelerate State of DevOps Report 2024,
"Software delivery performance levels").

The report's clusters bound every metric at once (warehouse/sql/20_dora_level.sql gives a period
the highest cluster whose every bound it meets). One metric's level is the same rule applied to
that metric's bound alone: the highest cluster, elite first, whose bound on it the value meets.
The clusters are not ordered on every metric - the medium cluster fails less often (10%) than
the high one (20%), and high and medium share the recovery bound (< 1 day) - so some levels never
come out of one metric: a change fail rate is elite (<= 5%), high (<= 20%) or low; a recovery time
elite (< 1 h), high (< 1 day) or low. Rework rate has no published cut-off, hence no level.
"""

from __future__ import annotations

from collections.abc import Callable

ORDER = ("elite", "high", "medium", "low")

# metric -> the test of each cluster's bound, elite first (low takes the rest).
BOUNDS: dict[str, tuple[Callable[[float], bool], ...]] = {
    "deployment_frequency": (lambda v: v > 7, lambda v: v >= 1, lambda v: v >= 12 / 52),
    "lead_time": (lambda v: v < 24, lambda v: v <= 168, lambda v: v <= 720),
    "change_fail_rate": (lambda v: v <= 0.05, lambda v: v <= 0.20, lambda v: v <= 0.10),
    "recovery_time": (lambda v: v < 1, lambda v: v < 24, lambda v: v < 24),
}


def metric_level(metric: str, value: float | None) -> str | None:
    """The metric's own DORA 2024 level, or None (no value, or no cut-off for the metric)."""
    bounds = BOUNDS.get(metric)
    if bounds is None or value is None:
        return None
    for level, meets in zip(ORDER, bounds, strict=False):
        if meets(value):
            return level
    return "low"
