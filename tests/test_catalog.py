"""The metric catalog (warehouse/catalog.py) is the one list of the DORA metrics: each has its
aggregate SQL view and its columns in the metrics table, the metrics table and `compare` are
derived from it, and the consumers that still keep a list of their own (the impact measures)
agree with it."""

from __future__ import annotations

import re

from warehouse import catalog, compare, freshness
from warehouse.impact import measures
from warehouse.metrics import METRIC_KEYS, sql_files


def test_every_metric_has_its_aggregate_view_and_its_columns():
    views = {m.group(1) for _, sql in sql_files()
             for m in re.finditer(r"CREATE OR REPLACE TEMP VIEW (\w+)", sql)}
    for metric in catalog.CATALOG:
        assert metric.view in views, f"{metric.name}: no warehouse/sql file creates view {metric.view}"
        assert re.search(rf"CREATE OR REPLACE TEMP VIEW {metric.view}\b", metric.sql_text())
        assert metric.value_column in METRIC_KEYS
        assert metric.n_column is None or metric.n_column in METRIC_KEYS
    assert set(freshness.AGGREGATES) == {m.view for m in catalog.CATALOG}


def test_the_metrics_table_keeps_its_json_keys():
    # DESIGN.md's contract, in the order `metrics --format json` and --format csv give them.
    assert METRIC_KEYS == (
        "scope", "key", "period", "period_start", "period_end", "period_days", "complete",
        "deployments", "deployments_per_week",
        "lead_time_median_hours", "lead_time_p90_hours", "changes",
        "change_fail_rate", "failed_deployments", "production_deployments",
        "recovery_time_median_hours", "unrecovered_failures",
        "rework_rate", "rework_deployments", "dora_level",
    )


def test_compare_lists_what_the_catalog_lists():
    assert compare.METRICS == catalog.METRICS == (
        "deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate")
    assert compare.FACTORS == {
        "throughput": {"deployment_frequency": +1, "lead_time": -1, "recovery_time": -1},
        "instability": {"change_fail_rate": +1, "rework_rate": +1},
    }
    assert compare.UNITS["deployment_frequency"] == "deployments per week"
    assert compare.VALUE_COLUMN["recovery_time"] == ("recovery_time_median_hours", None)


def test_the_impact_measures_agree_with_the_catalog():
    for metric in catalog.CATALOG:
        measure = measures.BY_NAME[metric.name]
        assert (measure.better, measure.family) == (metric.better, metric.family), metric.name
    for factor in measures.FACTORS:
        assert factor.signs == catalog.factor_signs(factor.name)
        assert factor.better == catalog.BETTER[factor.name]
    assert measures.DORA_MEASURES == (*catalog.METRICS, *(f.name for f in catalog.FACTORS))
