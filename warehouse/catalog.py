"""The catalog of the DORA metrics: one row per metric, from which the lists of metrics, their
directions, display names, units, the aggregate SQL view that computes each and the columns
of the metrics table that hold its value and sample size are derived.

Adding a metric: its aggregate view as one SQL file, warehouse/sql/1N_<name>.sql (the view
named like the metric, one row per scope key and period), and one `Metric` row here. The
precomputed tables (freshness.AGGREGATES) follow the catalog; the consumers that still keep
a list of their own are checked against it by tests/test_catalog.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["throughput", "instability"]


@dataclass(frozen=True)
class Metric:
    name: str  # as in `compare`, `impact` and alert rules (DESIGN.md's metric names)
    label: str  # as shown
    unit: str  # what its value counts
    better: int  # +1: higher is better; -1: lower is better
    family: Family  # DORA 2024's grouping
    value_column: str  # the metrics table's column holding the value
    n_column: str | None  # the column holding its sample size (None: counted apart)

    @property
    def view(self) -> str:
        """The aggregate view (warehouse/sql/1N_<name>.sql) and its stored table mart_<name>."""
        return self.name


@dataclass(frozen=True)
class Factor:
    name: Family
    label: str
    better: int  # higher throughput is better; higher instability is worse


CATALOG: tuple[Metric, ...] = (
    Metric("deployment_frequency", "Deployment frequency", "deployments per week", +1, "throughput",
           "deployments_per_week", "deployments"),
    Metric("lead_time", "Lead time", "hours (median)", -1, "throughput",
           "lead_time_median_hours", "changes"),
    Metric("recovery_time", "Recovery time", "hours (median)", -1, "throughput",
           "recovery_time_median_hours", None),
    Metric("change_fail_rate", "Change fail rate", "share of production deployments", -1, "instability",
           "change_fail_rate", "production_deployments"),
    Metric("rework_rate", "Rework rate", "share of production deployments", -1, "instability",
           "rework_rate", "production_deployments"),
)
FACTORS: tuple[Factor, ...] = (
    Factor("throughput", "Throughput", +1),
    Factor("instability", "Instability", -1),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in CATALOG}
METRICS: tuple[str, ...] = tuple(m.name for m in CATALOG)
LABELS: dict[str, str] = {**{m.name: m.label for m in CATALOG}, **{f.name: f.label for f in FACTORS}}
UNITS: dict[str, str] = {**{m.name: m.unit for m in CATALOG}, **{f.name: "factor" for f in FACTORS}}
BETTER: dict[str, int] = {**{m.name: m.better for m in CATALOG}, **{f.name: f.better for f in FACTORS}}
VALUE_COLUMN: dict[str, tuple[str, str | None]] = {m.name: (m.value_column, m.n_column) for m in CATALOG}


def factor_signs(family: Family) -> dict[str, int]:
    """metric -> +1/-1 so that a higher factor means more of it: a metric enters throughput
    with its own direction, instability against it (more failures: more instability)."""
    factor = next(f for f in FACTORS if f.name == family)
    return {m.name: m.better * factor.better for m in CATALOG if m.family == family}
