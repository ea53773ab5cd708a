"""The tables precomputed at each load (warehouse/precompute.py): fresh after every load path,
stale (and unused) after a load that did not refresh them, and never a different number."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from collectors.synthetic import load_demo
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.config import MetricsConfig
from warehouse.metrics import PERIODS, SCOPES, compute_metrics, period_floor
from warehouse.precompute import STORED_SCOPES, is_fresh, refresh

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


# -- the per-period aggregates, and the incremental refresh -------------------------------------


def _marts(db) -> dict[str, list[tuple]]:
    """Every precomputed table's rows, sorted (floats rounded: only the order of a sum differs)."""
    with Warehouse(db, read_only=True) as wh:
        names = [r[0] for r in wh.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name LIKE 'mart_%' AND table_name NOT IN ('mart_state') ORDER BY 1"
        ).fetchall()]
        return {n: sorted(wh.con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


@pytest.mark.parametrize("by", STORED_SCOPES)
@pytest.mark.parametrize("period", PERIODS)
def test_metrics_from_the_stored_aggregates_equal_the_computed_ones(demo_db, by, period):
    since = period_floor(date(2025, 9, 17), period)
    with Warehouse(demo_db, read_only=True) as wh:
        for start in (None, since):
            stored = compute_metrics(wh, by=by, period=period, since=start, until=END)
            assert stored == compute_metrics(wh, by=by, period=period, since=start, until=END,
                                             precomputed=False)
            assert len(stored) >= 3  # every key and period of the range (2025-Q3 to 2026-Q1)


def test_the_stored_aggregates_are_what_metrics_reads(demo_db, tmp_path):
    """Not a path that silently computes: a changed stored count shows in the result (on a
    copy), and only where the range allows (a --since inside a week computes from rows)."""
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    with Warehouse(db) as wh:
        wh.con.execute("UPDATE mart_deployment_frequency SET deployments = deployments + 1000 "
                       "WHERE scope = 'org' AND period_kind = 'week'")
    with Warehouse(db, read_only=True) as wh:
        rows = compute_metrics(wh, by="org", period="week", until=END)
        assert all(r["deployments"] >= 1000 for r in rows if r["production_deployments"])
        inside = compute_metrics(wh, by="org", period="week", since=date(2025, 9, 17), until=END)
        assert all(r["deployments"] < 1000 for r in inside)
        # A past range of whole periods (what `compare` reads: 2025-Q4, with data after it) is
        # read from the stored rows; one that ends inside a week is computed from the rows.
        whole = compute_metrics(wh, by="org", period="week", since=date(2025, 9, 29), until=date(2025, 12, 28))
        assert len(whole) == 13 and all(r["deployments"] >= 1000 for r in whole)
        cut = compute_metrics(wh, by="org", period="week", since=date(2025, 9, 29), until=date(2025, 12, 24))
        assert all(r["deployments"] < 1000 for r in cut)


@pytest.mark.parametrize("by", STORED_SCOPES)
@pytest.mark.parametrize("period", PERIODS)
def test_a_past_range_of_whole_periods_from_the_stored_tables_equals_the_computed_one(demo_db, by, period):
    """2025-Q4's whole weeks, months and its quarter, with data after them: the stored rows are
    the ones the rows give (lead times, recovery, coverage of the last period)."""
    since = period_floor(date(2025, 10, 1), period)
    until = {"week": date(2025, 12, 28), "month": date(2025, 12, 31), "quarter": date(2025, 12, 31)}[period]
    with Warehouse(demo_db, read_only=True) as wh:
        stored = compute_metrics(wh, by=by, period=period, since=since, until=until)
        assert stored == compute_metrics(wh, by=by, period=period, since=since, until=until,
                                         precomputed=False)
        assert {r["period_start"] for r in stored} >= {since}


def test_a_load_queues_only_the_repositories_it_touched(tmp_path):
    db = tmp_path / "d.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7, end=END, weeks=60)
        refresh(wh)
        assert is_fresh(wh, MetricsConfig())
        repo, team = wh.con.execute("SELECT repo, team FROM teams ORDER BY repo LIMIT 1").fetchone()
        other = wh.scalar("SELECT team FROM teams WHERE team <> ? LIMIT 1", [team])
        import polars as pl

        wh.load({"teams": pl.DataFrame({"team": [other], "repo": [repo]})})
        assert wh.con.execute("SELECT DISTINCT repo FROM mart_dirty_repos").fetchall() == [(repo,)]
        assert not is_fresh(wh, MetricsConfig())


@pytest.mark.slow
def test_an_incremental_refresh_equals_a_full_rebuild(tmp_path):
    """Loads of every kind the per-row rule reads (a repository moved to another team, a new
    deployment, an incident, a change shipped by it), refreshed incrementally: the stored
    tables equal those a full rebuild makes from the same data, and so do the metrics."""
    import polars as pl

    db, full = tmp_path / "inc.duckdb", tmp_path / "full.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7, end=END, weeks=60)
        refresh(wh)
        repo, team = wh.con.execute("SELECT repo, team FROM teams ORDER BY repo LIMIT 1").fetchone()
        other = wh.scalar("SELECT team FROM teams WHERE team <> ? ORDER BY team LIMIT 1", [team])
        last = wh.con.execute(
            "SELECT repo, environment, finished_at FROM deployments WHERE environment ILIKE 'prod%' "
            "ORDER BY finished_at DESC LIMIT 1").fetchone()
        wh.load({"teams": pl.DataFrame({"team": [other], "repo": [repo]})})
        wh.load({"deployments": pl.DataFrame({
            "deployment_id": ["late-1"], "repo": [last[0]], "environment": [last[1]], "status": ["success"],
            "finished_at": [last[2] + timedelta(hours=1)], "sha": ["f" * 40]})})
        wh.load({"changes": pl.DataFrame({
            "repo": [last[0]], "sha": ["e" * 40], "committed_at": [last[2] - timedelta(hours=30)],
            "deployment_id": ["late-1"]})})
        wh.load({"incidents": pl.DataFrame({
            "incident_id": ["late-i"], "opened_at": [last[2] + timedelta(hours=2)], "repo": [last[0]],
            "resolved_at": [last[2] + timedelta(hours=5)]})})
        queued = {r[0] for r in wh.con.execute("SELECT repo FROM mart_dirty_repos").fetchall()}
        assert queued == {repo, last[0]}
        refresh(wh)
        assert is_fresh(wh, MetricsConfig())
        import shutil

        wh.con.execute("CHECKPOINT")
    shutil.copy(db, full)
    with Warehouse(full) as wh:
        wh.con.execute("INSERT INTO mart_dirty_repos VALUES ('*')")
        refresh(wh)
    assert _marts(db) == _marts(full)
    with Warehouse(db, read_only=True) as wh:
        for by in STORED_SCOPES:
            assert compute_metrics(wh, by=by, period="week", until=END) == compute_metrics(
                wh, by=by, period="week", until=END, precomputed=False)


@pytest.mark.slow
def test_a_refresh_killed_half_way_is_finished_by_the_next(tmp_path, monkeypatch):
    """Each step commits with its part of the queue: after a crash in the middle the tables are
    not read (not fresh), and the next refresh finishes exactly what a whole one makes."""
    import shutil

    import warehouse.precompute as precompute

    db = tmp_path / "k.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7, end=END, weeks=60)
        wh.con.execute("CHECKPOINT")
    whole = tmp_path / "whole.duckdb"
    shutil.copy(db, whole)
    with Warehouse(whole) as wh:
        refresh(wh)
    calls = {"n": 0}
    real = precompute._aggregate

    def crash_on_the_third(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a kill would stop it, between two commits
        real(*args)

    monkeypatch.setattr(precompute, "BATCH_DEPLOYMENTS", 500)  # several row batches too
    monkeypatch.setattr(precompute, "_aggregate", crash_on_the_third)
    # The incremental batches (a first build goes set-based: `whole` above), so that the two
    # paths are checked against each other too.
    with Warehouse(db) as wh, pytest.raises(KeyboardInterrupt):
        refresh(wh, full=False)
    with Warehouse(db, read_only=True) as wh:
        assert not is_fresh(wh, MetricsConfig())
        assert wh.scalar("SELECT count(*) FROM mart_dirty_periods") > 0
        assert wh.scalar("SELECT count(*) FROM mart_dirty_repos") == 0  # the row batches were done
    monkeypatch.setattr(precompute, "_aggregate", real)
    with Warehouse(db) as wh:
        refresh(wh)
        assert is_fresh(wh, MetricsConfig())
    assert _marts(db) == _marts(whole)


HAND = """
deployment_id,repo,environment,status,finished_at,is_hotfix
d1,acme/api,production,success,2026-09-01T10:00:00Z,false
d2,acme/api,production,success,2026-09-02T10:00:00Z,true
d3,acme/api,production,success,2026-09-09T12:00:00Z,false
d4,acme/web,production,failure,2026-09-10T08:00:00Z,false
d5,acme/web,production,success,2026-09-10T20:00:00Z,false
"""
HAND_CHANGES = """
repo,sha,committed_at,deployment_id
acme/api,a1,2026-09-01T04:00:00Z,d1
acme/api,a2,2026-09-01T08:00:00Z,d1
acme/api,a3,2026-09-01T10:00:00Z,d2
acme/api,a4,2026-09-08T12:00:00Z,d3
acme/web,w1,2026-09-09T20:00:00Z,d5
"""


@pytest.mark.slow
def test_metrics_json_is_the_same_with_and_without_the_precomputed_tables(tmp_path):
    """`metrics --format json` on a file whose tables are fresh and on a copy where they are
    not (so it computes from the raw rows): the same bytes; and on a hand-made case, the
    numbers worked out by hand."""
    import json
    import shutil

    db = tmp_path / "hand.duckdb"
    files = [write(tmp_path / "deployments.csv", HAND), write(tmp_path / "changes.csv", HAND_CHANGES)]
    assert run_cli("import", *map(str, files), db=db).code == 0
    stale = tmp_path / "stale.duckdb"
    shutil.copy(db, stale)
    with Warehouse(stale) as wh:
        wh.con.execute("INSERT INTO mart_dirty_repos VALUES ('*')")  # queued, never refreshed
    args = ("metrics", "--by", "org", "--period", "week", "--until", "2026-09-13", "--format", "json")
    fresh_out, stale_out = run_cli(*args, db=db), run_cli(*args, db=stale)
    assert fresh_out.code == stale_out.code == 0
    assert fresh_out.stdout == stale_out.stdout
    weeks = json.loads(fresh_out.stdout)
    # Week of 31 Aug: d1 (a1 6 h, a2 2 h) and d2 (hotfix, a3 24 h): median 6 h, p90 6 + 0.8 *
    # 18 = 20.4 h (linear between the 2nd and 3rd of 2, 6, 24); d2
    # blames d1 (failed, fixed by d2 a day later: recovery 24 h). Week of 7 Sep: d3 (a4 24 h),
    # the failed run d4 recovered by d5 12 h later, d5 (w1 24 h).
    assert [(w["period"], w["deployments"], w["production_deployments"], w["failed_deployments"])
            for w in weeks] == [("2026-W36", 2, 2, 1), ("2026-W37", 2, 3, 1)]
    assert [(w["lead_time_median_hours"], round(w["lead_time_p90_hours"], 6)) for w in weeks] == [
        (6.0, 20.4), (24.0, 24.0)]
    assert [(w["recovery_time_median_hours"], w["rework_deployments"]) for w in weeks] == [(24.0, 1), (12.0, 0)]
    with Warehouse(db, read_only=True) as wh:
        assert is_fresh(wh, MetricsConfig())
    for path in (tmp_path / "demo.duckdb",):
        from dora_impact.demo_command import build_demo

        build_demo(path, seed=7)
        demo_stale = tmp_path / "demo-stale.duckdb"
        shutil.copy(path, demo_stale)
        with Warehouse(demo_stale) as wh:
            wh.con.execute("INSERT INTO mart_dirty_repos VALUES ('*')")
        for by in ("org", "team"):
            demo_args = ("metrics", "--by", by, "--period", "month", "--format", "json", "--until", "2026-11-30")
            a, b = run_cli(*demo_args, db=path), run_cli(*demo_args, db=demo_stale)
            assert a.code == b.code == 0 and a.stdout == b.stdout and len(json.loads(a.stdout)) > 10


def test_a_refresh_on_a_connection_that_already_computed_metrics_succeeds(tmp_path):
    """A sync computes metrics (attribution) and then refreshes on the same connection: the
    per-row relations left as temp tables are replaced by views of the stored tables without
    a caught error aborting the refresh's transaction (DuckDB aborts it even when caught)."""
    from collectors.importer import import_files
    from warehouse.metrics import prepare

    csv = write(tmp_path / "deployments.csv", "deployment_id,repo,environment,status,finished_at\n"
                "d1,acme/api,production,success,2026-09-01T10:00:00Z\n")
    with Warehouse(tmp_path / "d.duckdb") as wh:
        import_files(wh, [csv])
        refresh(wh)
        prepare(wh, MetricsConfig(), precomputed=False)  # leaves temp tables on the connection
        with wh.transaction():
            assert prepare(wh, MetricsConfig(), marts=True)  # replaces them by views
            assert wh.scalar("SELECT count(*) FROM prod_deployments") == 1
        import_files(wh, [csv])
        refresh(wh)
        assert is_fresh(wh, MetricsConfig())
