"""How a metric's value is written, in every view: the dashboard, the report, `compare`'s table
and the alert messages. One place, so that a number reads the same wherever a person meets it.

The way of writing is the metric's catalog row (`written`, warehouse/catalog.py): a rate of
production deployments as a percentage with one decimal (14.8%), a deployment frequency per week
(3.2 a week), a duration in hours up to two days and in days beyond (5.0 h, 3.1 days).
"""

from __future__ import annotations

from warehouse import catalog
from warehouse.palette import metric_of

MISSING = "–"
DAYS_FROM_HOURS = 48  # from two days on a duration reads better in days


def hours_text(hours: float | None, missing: str = MISSING) -> str:
    if hours is None:
        return missing
    return f"{hours:.1f} h" if hours < DAYS_FROM_HOURS else f"{hours / 24:.1f} days"


def value_text(metric: str, value: float | None, missing: str = MISSING) -> str:
    """The value of a metric (or of a `metrics` column holding one) as a person writes it;
    `missing` when there is none."""
    if value is None:
        return missing
    found = catalog.by_name().get(metric_of(metric))
    written = found.written if found is not None else "number"  # a factor, or an unknown column
    if written == "percent":
        return f"{value:.1%}"
    if written == "per_week":
        return f"{value:.1f} a week"
    if written == "hours":
        return hours_text(value)
    return f"{value:.1f}"
