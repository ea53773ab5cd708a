"""The metric catalog (warehouse/catalog.py) is the one list of the DORA metrics: each has its
aggregate SQL view and its columns in the metrics table, and every consumer that still keeps
a list of its own (compare, the report, notifications, the impact measures) agrees with it."""

from __future__ import annotations

import re

from dora_impact import notify
from dora_impact_app import report
from warehouse import catalog, compare, freshness
from warehouse.impact import measures
from warehouse.metrics import METRIC_KEYS, sql_files


def test_every_metric_has_its_aggregate_view_and_its_columns():
    views = {m.group(1) for _, sql in sql_files()
             for m in re.finditer(r"CREATE OR REPLACE TEMP VIEW (\w+)", sql)}
    for metric in catalog.CATALOG:
        assert metric.view in views, f"{metric.name}: no warehouse/sql file creates view {metric.view}"
        assert metric.value_column in METRIC_KEYS
        assert metric.n_column is None or metric.n_column in METRIC_KEYS
    assert set(freshness.AGGREGATES) == {m.view for m in catalog.CATALOG}


def test_compare_report_and_notifications_agree_with_the_catalog():
    assert compare.METRICS == catalog.METRICS
    assert compare.UNITS == catalog.UNITS
    assert compare.VALUE_COLUMN == catalog.VALUE_COLUMN
    assert compare.FACTORS == {f.name: catalog.factor_signs(f.name) for f in catalog.FACTORS}
    assert report.LABELS == catalog.LABELS
    assert {k: catalog.LABELS[k] for k in notify.LABELS} == notify.LABELS


def test_the_impact_measures_agree_with_the_catalog():
    for metric in catalog.CATALOG:
        measure = measures.BY_NAME[metric.name]
        assert (measure.better, measure.family) == (metric.better, metric.family), metric.name
    for factor in measures.FACTORS:
        assert factor.signs == catalog.factor_signs(factor.name)
        assert factor.better == catalog.BETTER[factor.name]
    assert measures.DORA_MEASURES == (*catalog.METRICS, *(f.name for f in catalog.FACTORS))
