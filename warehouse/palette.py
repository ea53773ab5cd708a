"""How each metric is named, measured and coloured, the same in every view (dashboard, report).

One colour per metric, from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies): a reader who learnt that lead time is orange on one page finds it orange on the
next. The names are the ones a person says, with the unit the number is in. All of it is the
metric catalog's (warehouse/catalog.py), read when asked, so a metric added there is named,
measured and coloured here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from warehouse import catalog


def _entries() -> dict[str, tuple[str, str, str]]:
    """metric -> (human name, unit, colour), the factors included."""
    return {
        **{m.name: (m.label, m.shown_unit, m.colour) for m in catalog.metrics()},
        **{f.name: (f.label, f.shown_unit, f.colour) for f in catalog.FACTORS},
    }


def columns() -> dict[str, str]:
    """The `metrics` columns that hold each metric's value (its medians, rates, per-week rate;
    not its counts) -> the metric."""
    return {c.name: m.name for m in catalog.metrics() for c in m.columns if c.kind != "count"}


class _Field(Mapping[str, str]):
    """metric -> one field of its entry, read from the catalog at each look-up."""

    def __init__(self, index: int) -> None:
        self._index = index

    def __getitem__(self, metric: str) -> str:
        return _entries()[metric][self._index]

    def __iter__(self) -> Iterator[str]:
        return iter(_entries())

    def __len__(self) -> int:
        return len(_entries())


METRICS: dict[str, tuple[str, str, str]] = _entries()  # the built-in catalog's
LABELS: Mapping[str, str] = _Field(0)
UNITS: Mapping[str, str] = _Field(1)
COLUMNS: dict[str, str] = columns()  # the built-in catalog's

# DORA level colours (a scale: elite to low), kept apart from the metric colours.
LEVELS: dict[str, str] = {"elite": "#1a7f37", "high": "#2da44e", "medium": "#bf8700", "low": "#cf222e"}


def metric_of(metric_or_column: str) -> str:
    """The metric a name means: a metric's own name, or a `metrics` column holding its value."""
    return columns().get(metric_or_column, metric_or_column)


def label(metric: str) -> str:
    return _entries()[metric_of(metric)][0]


def unit(metric: str) -> str:
    return _entries()[metric_of(metric)][1]


def colour(metric: str) -> str:
    """The metric's colour; a `metrics` column takes its metric's."""
    return _entries()[metric_of(metric)][2]


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
