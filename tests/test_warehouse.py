"""Schema migrations and idempotent upserts on a real DuckDB file."""

from datetime import UTC, datetime

import duckdb
import pytest

from warehouse import Warehouse
from warehouse.db import Cursor, migrations
from warehouse.schema import CHANGES, DEPLOYMENTS


def test_migrations_apply_once_and_record_their_version(db):
    with Warehouse(db) as wh:
        latest = migrations()[-1][0]
        assert wh.schema_version() == latest
        assert wh.migrate() == []  # nothing left to apply
    with Warehouse(db) as wh:
        rows = wh.con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == [m[0] for m in migrations()]


def test_upsert_inserts_updates_and_is_idempotent(db):
    t = datetime(2026, 9, 1, 10, tzinfo=UTC)
    row = dict(deployment_id="d1", repo="acme/a", environment="production", status="success", finished_at=t)
    with Warehouse(db) as wh:
        first = wh.load({"deployments": DEPLOYMENTS.frame([row])})
        again = wh.load({"deployments": DEPLOYMENTS.frame([row])})
        changed = wh.load({"deployments": DEPLOYMENTS.frame([{**row, "status": "failure"}])})
        assert (first["deployments"].new, first["deployments"].updated) == (1, 0)
        assert (again["deployments"].new, again["deployments"].updated) == (0, 0)
        assert (changed["deployments"].new, changed["deployments"].updated) == (0, 1)
        assert wh.con.execute("SELECT count(*), any_value(status) FROM deployments").fetchone() == (1, "failure")


def test_partial_frame_keeps_columns_it_does_not_carry(db):
    t = datetime(2026, 9, 1, 10, tzinfo=UTC)
    with Warehouse(db) as wh:
        wh.load({"changes": CHANGES.frame([dict(repo="r", sha="a", committed_at=t, author="ann")])})
        # A later source knows only which deployment shipped the commit.
        wh.load({"changes": CHANGES.frame([dict(repo="r", sha="a", committed_at=t, deployment_id="d9")])
                 .select("repo", "sha", "deployment_id")})
        assert wh.con.execute("SELECT author, deployment_id FROM changes").fetchone() == ("ann", "d9")


def test_failed_load_writes_nothing_and_cursor_moves_with_rows(db):
    t = datetime(2026, 9, 1, 10, tzinfo=UTC)
    good = DEPLOYMENTS.frame([dict(deployment_id="d1", repo="r", environment="prod", status="success",
                                   finished_at=t)])
    bad = DEPLOYMENTS.frame([dict(deployment_id="d2", repo="r", environment="prod", status="weird",
                                  finished_at=t)])
    with Warehouse(db) as wh:
        cursor = Cursor("github", "acme/a", "deployments", cursor="42")
        wh.load({"deployments": good}, cursors=[cursor])
        with pytest.raises(duckdb.ConstraintException, match="status"):
            wh.load({"deployments": bad}, cursors=[Cursor("github", "acme/a", "deployments", "43")])
        assert wh.con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 1
        assert wh.cursor("github", "acme/a", "deployments").cursor == "42"


def test_read_only_open_does_not_create_a_file(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError):
        Warehouse(tmp_path / "missing.duckdb", read_only=True)
    assert not (tmp_path / "missing.duckdb").exists()


def test_a_key_given_twice_in_one_load_is_one_row_and_the_last_wins(db):
    t = datetime(2026, 9, 1, 10, tzinfo=UTC)
    rows = [dict(repo="r", sha="a", committed_at=t, pr_number=1), dict(repo="r", sha="a", committed_at=t, pr_number=2)]
    with Warehouse(db) as wh:
        counts = wh.load({"changes": CHANGES.frame(rows)})
        assert counts["changes"].new == 1
        assert wh.con.execute("SELECT count(*), any_value(pr_number) FROM changes").fetchall() == [(1, 2)]


def test_every_migration_has_its_own_version():
    versions = [version for version, _, _ in migrations()]
    assert len(versions) == len(set(versions)), versions


def test_a_refused_commit_raises_its_own_error_not_the_rollbacks(db):
    """A COMMIT that loses a race ends the transaction itself; the error raised is the commit's
    (a conflict a lake's writer retries), never "cannot rollback - no transaction is active"."""
    with Warehouse(db) as wh:
        other = wh.con.cursor()  # a second connection to the same file
        with pytest.raises(duckdb.TransactionException, match="Failed to commit") as raised:
            with wh.transaction():
                wh.con.execute("INSERT INTO source_loads VALUES ('x', now())")
                other.execute("INSERT INTO source_loads VALUES ('x', now())")  # commits first
        assert "cannot rollback" not in str(raised.value)
        assert not wh._in_transaction
        with wh.transaction():  # and the next one starts cleanly
            wh.con.execute("INSERT INTO source_loads VALUES ('y', now())")
        assert wh.scalar("SELECT count(*) FROM source_loads") == 2
