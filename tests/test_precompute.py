"""The tables precomputed at each load (warehouse/precompute.py): fresh after every load path,
stale (and unused) after a load that did not refresh them, and never a different number."""

from __future__ import annotations

from datetime import date

import pytest

from collectors.synthetic import load_demo
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.metrics import PERIODS, SCOPES, compute_metrics
from warehouse.precompute import is_fresh, refresh

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
