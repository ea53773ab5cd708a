"""Adding a metric takes one SQL file and one catalog row (docs/adding-a-metric.md): a toy metric,
its SQL file in a temp dir and its row registered for the test, shows up in `metrics --format
json` (precomputed and from the rows alike), in `compare` and in the dashboard's data layer,
and the built-in output is as before once it is gone.

The data (all UTC, 10:00): acme/shop, owned by team pay, deploys every Wednesday of Q2 2026
(1 Apr .. 24 Jun: 13) and on the Saturdays of its first four weeks (4 .. 25 Apr: 4), so 4 of
17 production deployments fall on a weekend; in Q3 every Wednesday (1 Jul .. 23 Sep: 13) and
one Saturday (4 Jul): 1 of 14. One deployment on 1 Oct makes the data cover Q3 to its end.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from tests.conftest import run_cli, write
from warehouse import Warehouse, catalog, formatting, palette
from warehouse.catalog import Interval, Metric, count, value
from warehouse.metrics import METRIC_KEYS, compute_metrics

AFTER_Q3 = datetime(2026, 10, 5, 12, tzinfo=UTC)

TOY_SQL = """\
-- Weekend deployments: production deployments finished on a Saturday or Sunday (the session's
-- time zone is UTC) / production deployments finished in the period.
CREATE OR REPLACE TEMP VIEW weekend_deployment_rate AS
SELECT
    key, period_start,
    count(*) FILTER (WHERE isodow(finished_at) >= 6) AS weekend_deployments,
    count(*) FILTER (WHERE isodow(finished_at) >= 6) / count(*) AS weekend_deployment_rate
FROM scoped_deployments
GROUP BY key, period_start;
"""


def toy(folder: Path) -> Metric:
    """The one catalog row, its SQL file written beside it."""
    sql = write(folder / "15_weekend_deployment_rate.sql", TOY_SQL)
    return Metric(
        "weekend_deployment_rate", "Weekend deployments", "share of production deployments", -1, None,
        sql, (value("weekend_deployment_rate"), count("weekend_deployments")),
        "weekend_deployment_rate", "production_deployments",
        Interval("rate", "isodow(finished_at) >= 6", "bootstrap over weeks (counts)"),
        "% of production deployments", "#000000", "percent",
    )


@pytest.fixture
def files(tmp_path) -> list[Path]:
    days = [date(2026, 4, 1) + timedelta(weeks=w) for w in range(13)]
    days += [date(2026, 4, 4) + timedelta(weeks=w) for w in range(4)]
    days += [date(2026, 7, 1) + timedelta(weeks=w) for w in range(13)] + [date(2026, 7, 4), date(2026, 10, 1)]
    rows = [f"d{i},acme/shop,production,success,{day.isoformat()}T10:00:00Z" for i, day in enumerate(days)]
    return [
        write(tmp_path / "teams.csv", "team,repo\npay,acme/shop\n"),
        write(tmp_path / "deployments.csv",
              "deployment_id,repo,environment,status,finished_at\n" + "\n".join(rows) + "\n"),
    ]


def metrics_json(db: Path, *args: str) -> list[dict]:
    result = run_cli("metrics", "--period", "quarter", "--until", "2026-09-30", "--format", "json", *args, db=db)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_metric_of_one_sql_file_and_one_row_is_in_metrics_compare_and_the_dashboard(tmp_path, files):
    from dashboards import data

    db = tmp_path / "dora.duckdb"
    metric = toy(tmp_path / "elsewhere")
    with time_machine.travel(AFTER_Q3, tick=False):
        with catalog.registered(metric):
            assert run_cli("import", *map(str, files), db=db).code == 0  # its refresh stores the toy too

            # metrics --format json: the toy's columns after the built-in ones, by hand.
            org = metrics_json(db)
            assert [r["period"] for r in org] == ["2026-Q2", "2026-Q3"]
            assert list(org[0]) == [*METRIC_KEYS[:-1], "weekend_deployment_rate", "weekend_deployments",
                                    "dora_level"]
            assert [(r["weekend_deployments"], r["production_deployments"]) for r in org] == [(4, 17), (1, 14)]
            assert org[0]["weekend_deployment_rate"] == pytest.approx(4 / 17)
            assert org[1]["weekend_deployment_rate"] == pytest.approx(1 / 14)
            assert [r["key"] for r in metrics_json(db, "--by", "team")] == ["pay", "pay"]
            with Warehouse(db, read_only=True) as wh:  # the stored aggregate gives the rows' numbers
                assert wh.scalar("SELECT count(*) FROM mart_weekend_deployment_rate") > 0
                for by in ("org", "team", "repo"):
                    stored = compute_metrics(wh, None, by, "quarter", None, date(2026, 9, 30))
                    assert stored == compute_metrics(wh, None, by, "quarter", None, date(2026, 9, 30),
                                                     precomputed=False)

            # compare: the toy beside the five metrics, in no factor (its family is None).
            result = run_cli("compare", "2026-Q3", "2026-Q2", "--by", "org", "--format", "json", db=db)
            assert result.code == 0, result.stderr
            rows = {r["metric"]: r for r in json.loads(result.stdout)}
            assert list(rows) == [*catalog.METRICS, "weekend_deployment_rate", "throughput", "instability"]
            weekend = rows["weekend_deployment_rate"]
            assert (weekend["value_a"], weekend["value_b"]) == (pytest.approx(1 / 14), pytest.approx(4 / 17))
            assert weekend["change"] == pytest.approx((1 / 14) / (4 / 17) - 1)  # -39/56
            assert (weekend["n_a"], weekend["n_b"]) == (14, 17)
            assert (weekend["test"], weekend["unit"]) == ("bootstrap over weeks (counts)",
                                                         "share of production deployments")
            table = run_cli("compare", "2026-Q3", "2026-Q2", "--by", "org", db=db)
            assert "weekend_deployment_rate" in table.stdout and "7.1%" in table.stdout  # 1/14

            # The dashboard's data layer: the same functions the pages call.
            frame, _, _ = data.metrics(str(db), None, "org", "quarter", None, date(2026, 9, 30))
            assert frame["weekend_deployments"].to_list() == [4, 1]
            compared, _, _ = data.compare(str(db), None, "2026-Q3", "2026-Q2")
            assert [r["value_b"] for r in compared if r["metric"] == "weekend_deployment_rate"] == [
                pytest.approx(4 / 17), pytest.approx(4 / 17)]  # the org's row and team pay's
            assert palette.label("weekend_deployment_rate") == "Weekend deployments"
            assert formatting.value_text("weekend_deployment_rate", 4 / 17) == "23.5%"

        # Without the row: the built-in keys only, read from the rows (the stored aggregates
        # were built for another catalog).
        plain = metrics_json(db)
        assert list(plain[0]) == list(METRIC_KEYS)
        assert [r["deployments"] for r in plain] == [17, 14]
        result = run_cli("compare", "2026-Q3", "2026-Q2", "--by", "org", "--format", "json", db=db)
        assert [r["metric"] for r in json.loads(result.stdout)] == [*catalog.METRICS, "throughput", "instability"]


def test_a_row_that_reuses_a_name_is_refused(tmp_path):
    clash = Metric(
        "lead_time", "Lead time", "hours", -1, None, tmp_path / "x.sql", (value("lead_time"),),
        "lead_time", None, None, "hours", "#000000", "hours",
    )
    with pytest.raises(ValueError, match="lead_time: lead_time already in the catalog"), catalog.registered(clash):
        pass
    column = Metric(
        "other", "Other", "count", +1, None, tmp_path / "x.sql", (count("changes"),),
        "changes", "changes", None, "count", "#000000", "number",
    )
    with pytest.raises(ValueError, match="other: changes already in the catalog"), catalog.registered(column):
        pass
    assert catalog.names() == catalog.METRICS
