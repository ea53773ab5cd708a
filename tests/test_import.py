"""`dora-impact import`: canonical CSV / JSON Lines / Parquet, all-or-nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from tests.conftest import dump_tables, run_cli, write
from warehouse import Warehouse

DEPLOYMENTS = """
deployment_id,repo,environment,status,finished_at,is_hotfix,note
d1,acme/shop,production,success,2026-09-01T10:00:00+02:00,,extra columns are ignored
d2,acme/shop,production,SUCCESS,2026-09-02T10:00:00Z,true,
d3,acme/shop,staging,failure,2026-09-03 10:00:00+0200,no,
"""

CHANGES = """
repo,sha,committed_at,deployment_id,pr_number
acme/shop,a1,2026-08-31T08:00:00Z,d1,12
acme/shop,a2,2026-09-01T07:30:00.250+01:00,d1,
"""


def test_imports_csv_with_offsets_converted_to_utc(tmp_path, db):
    files = [write(tmp_path / "deployments.csv", DEPLOYMENTS), write(tmp_path / "changes.csv", CHANGES)]
    result = run_cli("import", *map(str, files), db=db)
    assert result.code == 0, result.stderr
    assert "deployments.csv (deployments): 3 rows read, 3 new, 0 updated" in result.stderr
    with Warehouse(db, read_only=True) as wh:
        deployments = wh.frame("SELECT * FROM deployments ORDER BY deployment_id").to_dicts()
        changes = wh.frame("SELECT * FROM changes ORDER BY sha").to_dicts()
    assert deployments[0]["finished_at"] == datetime(2026, 9, 1, 8, 0, tzinfo=UTC)  # +02:00 -> UTC
    assert deployments[2]["finished_at"] == datetime(2026, 9, 3, 8, 0, tzinfo=UTC)  # +0200, space
    assert [d["status"] for d in deployments] == ["success", "success", "failure"]
    assert [d["is_hotfix"] for d in deployments] == [None, True, False]
    assert [d["source"] for d in deployments] == ["import"] * 3
    assert changes[1]["committed_at"] == datetime(2026, 9, 1, 6, 30, 0, 250000, tzinfo=UTC)
    assert [c["pr_number"] for c in changes] == [12, None]


def test_importing_twice_leaves_identical_tables(tmp_path, db):
    files = [write(tmp_path / "deployments.csv", DEPLOYMENTS), write(tmp_path / "changes.csv", CHANGES)]
    assert run_cli("import", *map(str, files), db=db).code == 0
    before = dump_tables(db)
    again = run_cli("import", *map(str, files), db=db)
    assert again.code == 0
    assert "deployments.csv (deployments): 3 rows read, 0 new, 0 updated" in again.stderr
    assert dump_tables(db) == before


def test_jsonl_and_parquet_load_the_same_rows_as_csv(tmp_path):
    csv_db, jsonl_db, parquet_db = (tmp_path / f"{n}.duckdb" for n in ("csv", "jsonl", "parquet"))
    csv_file = write(tmp_path / "csv" / "deployments.csv", DEPLOYMENTS)
    assert run_cli("import", str(csv_file), db=csv_db).code == 0

    records = [
        {"deployment_id": "d1", "repo": "acme/shop", "environment": "production", "status": "success",
         "finished_at": "2026-09-01T10:00:00+02:00", "is_hotfix": None},
        {"deployment_id": "d2", "repo": "acme/shop", "environment": "production", "status": "success",
         "finished_at": "2026-09-02T10:00:00Z", "is_hotfix": True},
        {"deployment_id": "d3", "repo": "acme/shop", "environment": "staging", "status": "failure",
         "finished_at": "2026-09-03T08:00:00Z", "is_hotfix": False},
    ]
    jsonl = write(tmp_path / "jsonl" / "deployments.jsonl", "\n".join(json.dumps(r) for r in records))
    assert run_cli("import", str(jsonl), db=jsonl_db).code == 0

    typed = pl.DataFrame(records).with_columns(
        pl.col("finished_at").str.to_datetime(time_zone="UTC")
    )
    parquet = tmp_path / "parquet" / "deployments.parquet"
    parquet.parent.mkdir()
    typed.write_parquet(parquet)
    assert run_cli("import", str(parquet), db=parquet_db).code == 0

    def rows(path):
        return [r[:11] for r in dump_tables(path)["deployments"]]  # all but `source`

    assert rows(csv_db) == rows(jsonl_db) == rows(parquet_db)


BAD_INPUTS = [
    # (file name, content, expected message)
    ("deployments.csv", "deployment_id,repo,environment,finished_at\nd1,r,prod,2026-09-01T10:00:00Z\n",
     "deployments.csv: missing required column 'status'"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at\n"
     "d1,r,prod,success,2026-09-01T10:00:00Z\nd2,r,prod,success,yesterday\n",
     "deployments.csv, row 2, column 'finished_at': 'yesterday' is not an ISO 8601 timestamp with an offset"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at\nd1,r,prod,success,2026-09-01T10:00:00\n",
     "deployments.csv, row 1, column 'finished_at': timestamp '2026-09-01T10:00:00' has no UTC offset"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at\nd1,r,prod,success,2026-02-30T10:00:00Z\n",
     "deployments.csv, row 1, column 'finished_at': '2026-02-30T10:00:00Z' is not a valid timestamp"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at\nd1,r,prod,deployed,2026-09-01T10:00:00Z\n",
     "deployments.csv, row 1, column 'status': unknown status 'deployed' (use success or failure)"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at\n"
     "d1,r,prod,success,2026-09-01T10:00:00Z\nd2,r,prod,success,2026-09-01T11:00:00Z\n"
     "d1,r,prod,failure,2026-09-01T12:00:00Z\n",
     "deployments.csv, row 3, column 'deployment_id': duplicate key 'd1' (also at row 1)"),
    ("changes.csv", "repo,sha,committed_at\nr,,2026-09-01T10:00:00Z\n",
     "changes.csv, row 1, column 'sha': required value is empty"),
    ("changes.csv", "repo,sha,committed_at,pr_number\nr,a,2026-09-01T10:00:00Z,twelve\n",
     "changes.csv, row 1, column 'pr_number': 'twelve' is not a whole number"),
    ("deployments.csv", "deployment_id,repo,environment,status,finished_at,is_rollback\n"
     "d1,r,prod,success,2026-09-01T10:00:00Z,maybe\n",
     "deployments.csv, row 1, column 'is_rollback': 'maybe' is not true or false"),
    ("initiatives.csv", "name,started_on\nportal,next spring\n",
     "initiatives.csv, row 1, column 'started_on': 'next spring' is not a date (YYYY-MM-DD)"),
    ("initiatives.csv", "name,started_on,teams\nportal,2026-01-05,web;api@2026-13-01\n",
     "initiatives.csv, row 1, column 'teams': 'api@2026-13-01' has no valid date after @ (YYYY-MM-DD)"),
    ("initiatives.csv", "name,started_on,ramp_weeks\nportal,2026-01-05,99999999999\n",
     "initiatives.csv, row 1, column 'ramp_weeks': 99999999999 is not a number of weeks from 0 to 520"),
    ("initiatives.csv", "name,started_on,ended_on\nportal,2026-01-05,2025-12-01\n",
     "initiatives.csv, row 1, column 'ended_on': 2025-12-01 is before started_on 2026-01-05"),
    ("initiatives.csv", "name,started_on,adoption_environment\nportal,2026-01-05,^prod(?!-test)\n",
     "initiatives.csv, row 1, column 'adoption_environment': not a regular expression DuckDB accepts"),
    ("deployments.jsonl", '{"deployment_id": {"a": 1}, "repo": "r", "environment": "prod", "status": "success", "finished_at": "2026-09-01T10:00:00Z"}\n',
     "deployments.jsonl, row 1, column 'deployment_id': "),
    ("changes.jsonl", '{"repo": "r", "sha": "a", "committed_at": "2026-09-01T10:00:00Z"}\n{"repo": "r",\n',
     "changes.jsonl, row 2: not valid JSON"),
    ("releases.csv", "a,b\n1,2\n", "releases.csv: cannot tell the entity from the file name"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_leaves_the_database_untouched(tmp_path, db, name, content, message):
    good = write(tmp_path / "good" / "teams.csv", "team,repo\npayments,acme/shop\n")
    assert run_cli("import", str(good), db=db).code == 0
    before = dump_tables(db)
    # A good file beside the bad one must not be loaded either: all-or-nothing.
    other = write(tmp_path / "in" / "incidents.csv", "incident_id,opened_at\ni1,2026-09-01T10:00:00Z\n")
    bad = write(tmp_path / "in" / name, content)
    result = run_cli("import", str(other), str(bad), db=db)
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert dump_tables(db) == before


def test_entity_option_and_folder_import(tmp_path, db):
    write(tmp_path / "export" / "deploys_2026.csv",
          "deployment_id,repo,environment,status,finished_at\nd1,r,prod,success,2026-09-01T10:00:00Z\n")
    result = run_cli("import", "--entity", "deployments", str(tmp_path / "export"), db=db)
    assert result.code == 0, result.stderr
    assert len(dump_tables(db)["deployments"]) == 1
    unknown = run_cli("import", "--entity", "deploys", str(tmp_path / "export"), db=db)
    assert unknown.code == 2 and "unknown entity 'deploys'" in unknown.stderr


def test_initiative_cohorts_and_adoption_rule_round_trip(tmp_path, db):
    from warehouse.impact.initiatives import from_table

    path = write(tmp_path / "initiatives.csv", """
name,started_on,teams,kind,ramp_weeks,adoption_environment
deploy-platform,2026-01-05,checkout;payments;search@2026-03-16,deploy platform,3,^platform-prod$
portal,2026-02-02,,portal,,
""")
    assert run_cli("import", str(path), db=db).code == 0
    with Warehouse(db, read_only=True) as wh:
        platform, portal = from_table(wh)
    assert [(c.teams, c.started_on.isoformat()) for c in platform.cohorts] == [
        (("checkout", "payments"), "2026-01-05"), (("search",), "2026-03-16")]
    assert platform.ramp_weeks == 3 and platform.adoption.environment == "^platform-prod$"
    assert portal.org_wide and portal.ramp_weeks == 4  # no teams: everyone adopts; default ramp


def test_config_teams_own_imported_repositories(tmp_path, db):
    config = write(tmp_path / "dora.toml", """
[teams]
payments = ["acme/checkout*"]
web = ["acme/*"]

[repos."acme/blog"]
team = "marketing"
""")
    deployments = write(tmp_path / "deployments.csv", """
deployment_id,repo,environment,status,finished_at
d1,acme/checkout-api,production,success,2026-09-01T10:00:00Z
d2,acme/site,production,success,2026-09-01T11:00:00Z
d3,acme/blog,production,success,2026-09-01T12:00:00Z
d4,other/tool,production,success,2026-09-01T13:00:00Z
""")
    result = run_cli("--config", str(config), "import", str(deployments), db=db)
    assert result.code == 0, result.stderr
    assert "teams from the config: 3 new, 0 updated" in result.stderr
    with Warehouse(db, read_only=True) as wh:
        owners = dict(wh.con.execute("SELECT repo, team FROM teams").fetchall())
    # [repos] wins; else the first [teams] glob that matches; no match: no owner.
    assert owners == {"acme/checkout-api": "payments", "acme/site": "web", "acme/blog": "marketing"}


def test_the_cli_and_the_dashboard_read_a_legacy_key_alike(tmp_path, db):
    """`[github.incidents] window_hours` (the key before `[metrics] incident_window_hours`) is
    mapped once, in the one config read both front ends use: an incident 3 h after d1 is
    outside a 1 h window, so neither counts d1 failed (the 48 h default would: 1 of 2)."""
    from dashboards import data
    from dora_impact.config import load_config
    from warehouse.freshness import is_fresh

    config = write(tmp_path / "dora.toml", """
[github.incidents]
window_hours = 1
""")
    deployments = write(tmp_path / "deployments.csv", """
deployment_id,repo,environment,status,finished_at
d1,acme/shop,production,success,2026-09-01T10:00:00Z
d2,acme/shop,production,success,2026-09-08T10:00:00Z
""")
    incidents = write(tmp_path / "incidents.csv", """
incident_id,opened_at,resolved_at,repo
i1,2026-09-01T13:00:00Z,2026-09-01T14:00:00Z,acme/shop
""")
    done = run_cli("--config", str(config), "import", str(deployments), str(incidents), db=db)
    assert done.code == 0, done.stderr
    assert "by time window: 0, unattributed: 1" in done.stderr
    cli = run_cli("--config", str(config), "metrics", "--period", "month", "--since", "2026-09-01",
                  "--until", "2026-09-30", "--format", "json", db=db)
    assert cli.code == 0, cli.stderr
    (row,) = json.loads(cli.stdout)
    assert (row["deployments"], row["failed_deployments"], row["change_fail_rate"]) == (2, 0, 0.0)
    frame, _, _ = data.metrics(str(db), str(config), "org", "month",
                               datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date())
    (shown,) = frame.to_dicts()
    keys = ("deployments", "failed_deployments", "change_fail_rate", "recovery_time_median_hours")
    assert {k: shown[k] for k in keys} == {k: row[k] for k in keys}
    # The same rules as the refresh at the import: the dashboard reads the stored tables.
    with Warehouse(db, read_only=True) as wh:
        assert is_fresh(wh, data.config(str(config)).metrics)
    assert load_config(config).metrics.incident_window_hours == 1
