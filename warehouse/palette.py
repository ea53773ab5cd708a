"""How each metric is named, measured and coloured, the same in every view (dashboard, report).

One colour per metric, from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies): a reader who learnt that lead time is orange on one page finds it orange on the
next. The names are the ones a person says, with the unit the number is in.
"""

from __future__ import annotations

import numpy as np

# metric -> (human name, unit, colour)
METRICS: dict[str, tuple[str, str, str]] = {
    "deployment_frequency": ("Deployment frequency", "deployments a week", "#0072B2"),
    "lead_time": ("Lead time", "hours, median", "#E69F00"),
    "recovery_time": ("Recovery time", "hours, median", "#009E73"),
    "change_fail_rate": ("Change fail rate", "% of production deployments", "#D55E00"),
    "rework_rate": ("Rework rate", "% of production deployments", "#CC79A7"),
    "throughput": ("Throughput", "factor of its three metrics", "#56B4E9"),
    "instability": ("Instability", "factor of its two metrics", "#7F7F7F"),
}

# The `metrics` columns that hold each metric's value.
COLUMNS: dict[str, str] = {
    "deployments_per_week": "deployment_frequency",
    "lead_time_median_hours": "lead_time",
    "lead_time_p90_hours": "lead_time",
    "recovery_time_median_hours": "recovery_time",
    "change_fail_rate": "change_fail_rate",
    "rework_rate": "rework_rate",
}

# DORA level colours (a scale: elite to low), kept apart from the metric colours.
LEVELS: dict[str, str] = {"elite": "#1a7f37", "high": "#2da44e", "medium": "#bf8700", "low": "#cf222e"}


def label(metric: str) -> str:
    return METRICS[COLUMNS.get(metric, metric)][0]


def unit(metric: str) -> str:
    return METRICS[COLUMNS.get(metric, metric)][1]


def colour(metric: str) -> str:
    """The metric's colour; a `metrics` column takes its metric's."""
    return METRICS[COLUMNS.get(metric, metric)][2]


def robust_range(values: list[float | None], pad: float = 0.08) -> list[float] | None:
    """A y range that one thin week cannot blow up: the 5th to 95th percentile of the values,
    widened by half the interquartile spread and a margin; None when there is nothing to draw."""
    known = np.array([v for v in values if v is not None], dtype=float)
    if not len(known):
        return None
    low, q1, q3, high = np.percentile(known, [5, 25, 75, 95])
    low, high = min(low - (q3 - q1) / 2, known.min()), high + (q3 - q1) / 2
    low = max(low, 0.0)  # no metric here is negative
    span = (high - low) or max(abs(high), 1.0)
    return [max(low - pad * span, 0.0), high + pad * span]
