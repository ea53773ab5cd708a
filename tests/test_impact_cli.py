"""`dora-impact impact` end to end: the demo org in a real DuckDB file, the real CLI process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from collectors.synthetic import injected_effects, load_demo
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.impact import ROW_KEYS

DORA = ("deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate")
SIGNS = {
    "throughput": {"deployment_frequency": 1, "lead_time": -1, "recovery_time": -1},
    "instability": {"change_fail_rate": 1, "rework_rate": 1},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    """The demo org, and a config declaring its initiatives' cohorts and adoption rule."""
    folder = tmp_path_factory.mktemp("demo")
    db = folder / "dora.duckdb"
    with Warehouse(db) as wh:
        load_demo(wh, seed=7)
    blocks = []
    for name, spec in injected_effects().items():
        block = (
            f'[[initiatives]]\nname = "{name}"\nkind = "{spec["kind"]}"\nramp_weeks = {spec["ramp_weeks"]}\n'
        )
        if name == "preview-environments":
            block += 'adoption_environment = "^preview$"\n'
        for cohort in spec["cohorts"]:
            teams = ", ".join(f'"{t}"' for t in cohort["teams"])
            block += f"[[initiatives.cohorts]]\nteams = [{teams}]\nstarted_on = {cohort['started_on'].isoformat()}\n"
        blocks.append(block)
    config = write(folder / "dora.toml", "\n".join(blocks))
    return db, config


@pytest.fixture(scope="module")
def rows(demo) -> list[dict]:
    db, config = demo
    result = run_cli("--config", str(config), "impact", "--format", "json", db=db)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def primary(rows: list[dict], initiative: str, metric: str, group: str = "treated teams") -> dict:
    found = [
        r
        for r in rows
        if r["initiative"] == initiative and r["group"] == group and r["metric"] == metric and r["primary"]
    ]
    assert len(found) == 1
    return found[0]


def test_json_rows_have_the_contract_keys_and_one_primary_each(rows):
    assert rows and all(list(r)[: len(ROW_KEYS)] == list(ROW_KEYS) for r in rows)
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[(r["initiative"], r["group"], r["metric"])] = (
            counts.get((r["initiative"], r["group"], r["metric"]), 0) + r["primary"]
        )
    # One primary per (initiative, group, metric) for the adopting teams and the org; none for
    # descriptive adoption-level subgroups.
    assert {v for k, v in counts.items() if k[1] in ("treated teams", "org")} == {1}
    assert {v for k, v in counts.items() if k[1] not in ("treated teams", "org")} <= {0}
    assert {k[0] for k in counts} == {"deploy-platform", "preview-environments"}
    assert {"treated teams", "org"} <= {k[1] for k in counts}


def test_primary_estimates_recover_what_the_demo_injected(rows):
    covered, intervals = 0, 0
    for name, spec in injected_effects().items():
        truth = spec["effects"]
        for metric in (*DORA, *SIGNS):
            row = primary(rows, name, metric)
            assert row["method"] == "did"
            if metric in SIGNS:  # the factor's truth under its own weights
                value = math.expm1(
                    sum(w * SIGNS[metric][m] * math.log(truth[m]) for m, w in row["weights"].items())
                )
            else:
                value = truth[metric] - 1
            intervals += 1
            covered += row["ci_low"] <= value <= row["ci_high"]
            if row["verdict"] in ("improved", "worsened"):  # a call is never in the wrong direction
                assert (row["relative_change"] > 0) == (value > 0), row
    # 14 intervals of 95%: about 0.7 misses expected; 3 or more would happen < 4% of the time.
    assert covered >= intervals - 2


def test_demo_handoffs_and_waits_are_found(rows):
    # The deploy platform adds a platform-team approval to every pull request: a handoff, and
    # longer pickup and review waits.
    for metric in ("pickup_time", "review_time", "outside_reviews", "teams_per_change"):
        assert primary(rows, "deploy-platform", metric)["verdict"] == "worsened", metric
    assert primary(rows, "deploy-platform", "outside_reviews")["relative_change"] > 5
    # Reviewers try preview environments: pickup and review waits shrink, handoffs do not move.
    for metric in ("pickup_time", "review_time"):
        assert primary(rows, "preview-environments", metric)["verdict"] == "improved", metric
    assert primary(rows, "preview-environments", "outside_reviews")["verdict"] == "no detectable change"


def test_table_shows_summary_estimates_stages_and_adoption(demo):
    db, config = demo
    result = run_cli("--config", str(config), "impact", "preview-environments", db=db)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "Adopting teams' lead time" in out and "relative to teams that had not adopted" in out
    assert "Adopting teams: primary estimates" in out and "Whole org: primary estimates" in out
    assert "Where the time goes" in out and "pickup wait" in out
    assert "Adoption (environment matching '^preview$')" in out and "█" in out
    assert "deploy-platform" not in out


def test_window_option_and_initiatives_from_the_imported_table(demo):
    db, _ = demo
    result = run_cli("impact", "deploy-platform", "--window-weeks", "12", "--format", "json", db=db)
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert {r["initiative"] for r in found} == {"deploy-platform"}
    assert {r["window_weeks"] for r in found} == {12}
    # Without the config, the imported row has one cohort and no adoption rule.
    table = run_cli("impact", "deploy-platform", db=db).stdout
    assert "no adoption signal: no adoption rule is configured" in table


def test_unknown_initiative_and_missing_database_are_one_line_errors(demo, tmp_path):
    db, _ = demo
    unknown = run_cli("impact", "portal-v2", db=db)
    assert unknown.code == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        "dora-impact: unknown initiative 'portal-v2' (known: deploy-platform, preview-environments)"
    ]
    missing = run_cli("impact", db=tmp_path / "nowhere.duckdb")
    assert missing.code == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "nowhere.duckdb" in missing.stderr


def test_no_initiatives_is_an_empty_array(tmp_path):
    db = tmp_path / "empty.duckdb"
    Warehouse(db).close()
    result = run_cli("impact", "--format", "json", db=db)
    assert result.code == 0 and json.loads(result.stdout) == []


def test_command_constants_match_the_warehouse():
    # The command avoids importing scipy/statsmodels at start-up, so it repeats two constants.
    from dora_impact import impact_command
    from warehouse import impact

    assert impact_command.DEFAULT_WINDOW_WEEKS == impact.DEFAULT_WINDOW_WEEKS
    assert (impact_command.TREATED, impact_command.ORG) == (impact.TREATED, impact.ORG)
