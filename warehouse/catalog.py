"""The catalog of the DORA metrics: one row per metric, the one declaration from which
everything else that lists metrics is derived:

- the metrics table (`metrics --format json`): warehouse/metrics_sql.py joins each metric's
  aggregate view onto the period grid and takes the columns its row names, in order, so the
  JSON keys are the catalog's columns (METRIC_KEYS in warehouse/metrics.py);
- the precomputed per-period tables (freshness.AGGREGATES: one mart_<name> per row);
- `compare`: its metrics, units, value and sample-size columns, the two factors, and how the
  interval of each is resampled (`Interval`);
- the display names, units and colours (warehouse/palette.py), and how a value is written
  (warehouse/formatting.py) in the dashboard, the report, `compare` and notifications.

Adding a metric: its aggregate view as one SQL file, warehouse/sql/1N_<name>.sql (a TEMP view
named like the metric, one row per key and period_start), and one `Metric` row in CATALOG
below (docs/adding-a-metric.md). A metric whose SQL file lives elsewhere (a site's own metric,
a test's) is added for a block with `registered(...)`; every consumer reads `metrics()` when
it runs, so it sees the added row too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Family = Literal["throughput", "instability"]


@dataclass(frozen=True)
class Column:
    """One column a metric gives the metrics table.

    kind: `count` (0 in a period without rows), `value` (a median or rate: NULL there), or
    `per_week` (the count column `of`, per covered week of the period: period_days / 7)."""

    name: str
    kind: Literal["count", "value", "per_week"] = "value"
    of: str | None = None


def count(name: str) -> Column:
    return Column(name, "count")


def value(name: str) -> Column:
    return Column(name, "value")


def per_week(name: str, of: str) -> Column:
    return Column(name, "per_week", of)


@dataclass(frozen=True)
class Interval:
    """How `compare` resamples a metric for its 95% interval (warehouse/compare.py):

    - `per_week`: weeks resampled, the value the summed `column` (a count of deployments) per
      covered day, x 7;
    - `rate`: weeks resampled, the value sum(column) / production deployments (through the
      counts, never an average of weekly percentages);
    - `median`: the rows resampled (deployments, or changes when `over` is "changes"), the
      value the median of `column`.

    `column` is an SQL expression over scoped_deployments (or scoped_changes for medians over
    changes); `test` is the text `compare` reports for it."""

    kind: Literal["per_week", "rate", "median"]
    column: str
    test: str
    over: Literal["deployments", "changes"] = "deployments"


@dataclass(frozen=True)
class Metric:
    name: str  # as in `compare`, `impact` and alert rules (DESIGN.md's metric names)
    label: str  # as shown
    unit: str  # what its value counts (compare's `unit`)
    better: int  # +1: higher is better; -1: lower is better
    family: Family | None  # DORA 2024's grouping (None: in no factor)
    sql: str | Path  # its aggregate view: a file of warehouse/sql/, or a path elsewhere
    columns: tuple[Column, ...]  # what it adds to the metrics table, in the JSON order
    value_column: str  # the column holding the value
    n_column: str | None  # the column holding its sample size (None: the median's rows)
    interval: Interval | None  # None: compared without an interval
    shown_unit: str  # the unit as a person reads it (dashboard, report)
    colour: str  # Okabe-Ito (warehouse/palette.py)
    written: Literal["per_week", "hours", "percent", "number"]  # how a value is written

    @property
    def view(self) -> str:
        """The aggregate view its SQL file creates, and its stored table mart_<name>."""
        return self.name

    def sql_text(self) -> str:
        if isinstance(self.sql, Path):
            return self.sql.read_text()
        from importlib import resources

        return (resources.files("warehouse") / "sql" / self.sql).read_text()


@dataclass(frozen=True)
class Factor:
    name: Family
    label: str
    better: int  # higher throughput is better; higher instability is worse
    shown_unit: str
    colour: str


CATALOG: tuple[Metric, ...] = (
    Metric(
        "deployment_frequency", "Deployment frequency", "deployments per week", +1, "throughput",
        "10_deployment_frequency.sql",
        (count("deployments"), per_week("deployments_per_week", of="deployments")),
        "deployments_per_week", "deployments",
        Interval("per_week", "status = 'success'", "bootstrap over weeks"),
        "deployments a week", "#0072B2", "per_week",
    ),
    Metric(
        "lead_time", "Lead time", "hours (median)", -1, "throughput",
        "11_lead_time.sql",
        (value("lead_time_median_hours"), value("lead_time_p90_hours"), count("changes")),
        "lead_time_median_hours", "changes",
        Interval("median", "lead_time_hours", "bootstrap over changes", over="changes"),
        "hours, median", "#E69F00", "hours",
    ),
    Metric(
        "change_fail_rate", "Change fail rate", "share of production deployments", -1, "instability",
        "12_change_fail_rate.sql",
        (value("change_fail_rate"), count("failed_deployments"), count("production_deployments")),
        "change_fail_rate", "production_deployments",
        Interval("rate", "failed", "bootstrap over weeks (counts)"),
        "% of production deployments", "#D55E00", "percent",
    ),
    Metric(
        "recovery_time", "Recovery time", "hours (median)", -1, "throughput",
        "13_recovery_time.sql",
        (value("recovery_time_median_hours"), count("unrecovered_failures")),
        "recovery_time_median_hours", None,
        Interval("median", "recovery_hours", "bootstrap over failed deployments"),
        "hours, median", "#009E73", "hours",
    ),
    Metric(
        "rework_rate", "Rework rate", "share of production deployments", -1, "instability",
        "14_rework_rate.sql",
        (value("rework_rate"), count("rework_deployments")),
        "rework_rate", "production_deployments",
        Interval("rate", "is_rework", "bootstrap over weeks (counts)"),
        "% of production deployments", "#CC79A7", "percent",
    ),
)
FACTORS: tuple[Factor, ...] = (
    Factor("throughput", "Throughput", +1, "factor of its three metrics", "#56B4E9"),
    Factor("instability", "Instability", -1, "factor of its two metrics", "#7F7F7F"),
)
# CATALOG's order is the order of the metrics table's columns; this is the order metrics are
# listed in (compare's rows, the dashboard's tables, notifications): DORA's, throughput first.
# A metric not named here comes after these, in catalog order.
ORDER = ("deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate")

_added: list[Metric] = []


def in_table_order() -> tuple[Metric, ...]:
    """Every metric in the order of its columns in the metrics table: CATALOG's, then the added."""
    return (*CATALOG, *_added)


def metrics() -> tuple[Metric, ...]:
    """Every metric in listing order (ORDER, then the others in catalog order)."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return tuple(sorted(in_table_order(), key=lambda m: rank.get(m.name, len(ORDER))))


@contextmanager
def registered(*extra: Metric) -> Iterator[None]:
    """The catalog with these rows added, for the block."""
    taken = {m.name for m in metrics()} | {c.name for m in metrics() for c in m.columns}
    for metric in extra:
        clash = ({metric.name} | {c.name for c in metric.columns}) & taken
        if clash:
            raise ValueError(f"metric {metric.name}: {', '.join(sorted(clash))} already in the catalog")
    _added.extend(extra)
    try:
        yield
    finally:
        for metric in extra:
            _added.remove(metric)


def by_name() -> dict[str, Metric]:
    return {m.name: m for m in metrics()}


def names() -> tuple[str, ...]:
    return tuple(m.name for m in metrics())


def labels() -> dict[str, str]:
    return {**{m.name: m.label for m in metrics()}, **{f.name: f.label for f in FACTORS}}


def units() -> dict[str, str]:
    return {**{m.name: m.unit for m in metrics()}, **{f.name: "factor" for f in FACTORS}}


def better() -> dict[str, int]:
    return {**{m.name: m.better for m in metrics()}, **{f.name: f.better for f in FACTORS}}


def value_columns() -> dict[str, tuple[str, str | None]]:
    return {m.name: (m.value_column, m.n_column) for m in metrics()}


def factor_signs(family: Family) -> dict[str, int]:
    """metric -> +1/-1 so that a higher factor means more of it: a metric enters throughput
    with its own direction, instability against it (more failures: more instability)."""
    factor = next(f for f in FACTORS if f.name == family)
    return {m.name: m.better * factor.better for m in metrics() if m.family == family}


# The built-in catalog's lists, for readers that need no added metric (checked against the
# consumers that keep their own: the impact measures, tests/test_catalog.py).
METRICS: tuple[str, ...] = names()
LABELS: dict[str, str] = labels()
UNITS: dict[str, str] = units()
BETTER: dict[str, int] = better()
VALUE_COLUMN: dict[str, tuple[str, str | None]] = value_columns()
