"""The tables precomputed at each load (warehouse/precompute.py): fresh after every load path,
stale (and unused) after a load that did not refresh them, and never a different number."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from collectors.synthetic import load_demo
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.metrics import PERIODS, SCOPES, compute_metrics, period_floor
from warehouse.precompute import STORED_SCOPES, is_fresh, refresh, stored_metrics

END = date(2026, 3, 2)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("precompute") / "demo.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7, end=END, weeks=68)
        refresh(wh)
    return db


@pytest.mark.parametrize("by", SCOPES)
@pytest.mark.parametrize("period", PERIODS)
def test_precomputed_metrics_equal_the_computed_ones(demo_db, by, period):
    with Warehouse(demo_db, read_only=True) as wh:
        assert is_fresh(wh, MetricsConfig())
        stored = compute_metrics(wh, by=by, period=period, until=END)
        computed = compute_metrics(wh, by=by, period=period, until=END, precomputed=False)
    assert stored == computed
    assert len(stored) >= 6  # every key and period of the history, not an empty list


def test_a_range_read_from_the_stored_tables_equals_the_computed_one(demo_db):
    args = {"by": "team", "period": "week", "since": date(2025, 10, 6), "until": date(2025, 12, 20)}
    with Warehouse(demo_db, read_only=True) as wh:
        assert compute_metrics(wh, **args) == compute_metrics(wh, **args, precomputed=False)


def test_other_production_rules_do_not_read_the_stored_tables(demo_db):
    staging = MetricsConfig(production_environment="^staging$")
    with Warehouse(demo_db, read_only=True) as wh:
        assert not is_fresh(wh, staging)
        assert is_fresh(wh, MetricsConfig())


def test_a_load_makes_the_tables_stale_until_refreshed(tmp_path):
    db = tmp_path / "d.duckdb"
    first = write(tmp_path / "deployments.csv", "deployment_id,repo,environment,status,finished_at\n"
                  "d1,acme/api,production,success,2026-09-01T10:00:00Z\n")
    with Warehouse(db) as wh:
        assert not is_fresh(wh, MetricsConfig())  # never built
        from collectors.importer import import_files

        import_files(wh, [first])
        refresh(wh)
        assert is_fresh(wh, MetricsConfig())
        second = write(tmp_path / "deployments2.csv", "deployment_id,repo,environment,status,finished_at\n"
                       "d1,acme/api,production,failure,2026-09-01T10:00:00Z\n")
        import_files(wh, [second], "deployments")
        assert not is_fresh(wh, MetricsConfig())
        # Stale tables are not read: the update (d1 now a failed run) shows at once.
        row = compute_metrics(wh, period="week", until=date(2026, 9, 6))[0]
        assert (row["deployments"], row["failed_deployments"]) == (0, 1)


def test_import_and_demo_commands_leave_the_tables_fresh(tmp_path):
    db = tmp_path / "cli.duckdb"
    deployments = write(tmp_path / "deployments.csv", "deployment_id,repo,environment,status,finished_at\n"
                        "d1,acme/api,production,success,2026-09-01T10:00:00Z\n")
    assert run_cli("import", str(deployments), db=db).code == 0
    with Warehouse(db, read_only=True) as wh:
        assert is_fresh(wh, MetricsConfig())
        assert wh.scalar("SELECT count(*) FROM mart_prod_deployments") == 1
    demo = tmp_path / "demo.duckdb"
    from dora_impact.demo_command import build_demo

    build_demo(demo, seed=7)
    with Warehouse(demo, read_only=True) as wh:
        assert is_fresh(wh, MetricsConfig())


# -- the stored metrics table the dashboard reads ----------------------------------------------


@pytest.mark.parametrize("by", STORED_SCOPES)
@pytest.mark.parametrize("period", PERIODS)
def test_stored_metrics_equal_compute_metrics(demo_db, by, period):
    since = period_floor(date(2025, 9, 17), period)
    with Warehouse(demo_db, read_only=True) as wh:
        for start in (None, since):
            stored = stored_metrics(wh, MetricsConfig(), by, period, start)
            assert stored is not None
            assert stored == compute_metrics(wh, by=by, period=period, since=start, precomputed=False)


def test_stored_metrics_clip_the_running_period_to_now(tmp_path):
    """Read a few hours after the latest deployment: the running week, month and quarter are
    cut at now (fewer covered days, not complete), exactly as compute_metrics cuts them."""
    db = tmp_path / "live.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7, end=END, weeks=68)
        latest = wh.scalar("SELECT max(finished_at) FROM deployments")
    # The demo marks its data covered through its end; a live sync records when it ran.
    with time_machine.travel(latest + timedelta(hours=2), tick=False):
        with Warehouse(db) as wh:
            wh.clear_cursors("demo")
            refresh(wh)
        with time_machine.travel(latest + timedelta(hours=5), tick=False):
            with Warehouse(db, read_only=True) as wh:
                for by in STORED_SCOPES:
                    for period in PERIODS:
                        stored = stored_metrics(wh, MetricsConfig(), by, period, None)
                        assert stored == compute_metrics(wh, by=by, period=period, precomputed=False)
                        assert stored[-1]["complete"] is False
                        assert stored[-1]["period_days"] < 7 if period == "week" else True


def test_stored_metrics_refuse_a_since_inside_a_period(demo_db):
    with Warehouse(demo_db, read_only=True) as wh:
        assert stored_metrics(wh, MetricsConfig(), "org", "month", date(2025, 9, 17)) is None
        assert stored_metrics(wh, MetricsConfig(), "repo", "month", None) is None
