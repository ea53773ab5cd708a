"""`dora-impact impact` end to end: the demo org in a real DuckDB file, the real CLI process."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path

import pytest

from collectors.synthetic import DEFAULT_SEED, default_end, injected_effects, load_demo
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.impact import ROW_KEYS

DORA = ("deployment_frequency", "lead_time", "recovery_time", "change_fail_rate", "rework_rate")
END = date(2026, 3, 2)  # a Monday: the demo ends here, whatever day the tests run
SEEDS = (1, 2, 3, 4, 5, 6)
COVERED = 21  # of the default demo's 21 intervals, those that hold the injected value
SIGNS = {
    "throughput": {"deployment_frequency": 1, "lead_time": -1, "recovery_time": -1},
    "instability": {"change_fail_rate": 1, "rework_rate": 1},
}


def build(folder: Path, seed: int, db: Path | None = None) -> tuple[Path, Path]:
    """The demo org ending at END (built here unless `db` holds it already), and a config
    declaring its initiatives' cohorts and adoption rule."""
    if db is None:
        db = folder / "dora.duckdb"
        with Warehouse(db) as wh:
            load_demo(wh, seed=seed, end=END)
    blocks = []
    for name, spec in injected_effects(END).items():
        block = (
            f'[[initiatives]]\nname = "{name}"\nkind = "{spec["kind"]}"\nramp_weeks = {spec["ramp_weeks"]}\n'
        )
        for rule in ("adoption_environment", "adoption_workflow"):
            if spec.get(rule):
                block += f'{rule} = "{spec[rule]}"\n'
        for cohort in spec["cohorts"]:
            teams = ", ".join(f'"{t}"' for t in cohort["teams"])
            block += f"[[initiatives.cohorts]]\nteams = [{teams}]\nstarted_on = {cohort['started_on'].isoformat()}\n"
        blocks.append(block)
    config = write(folder / "dora.toml", "\n".join(blocks))
    return db, config


def impact_rows(db: Path, config: Path) -> list[dict]:
    result = run_cli("--config", str(config), "impact", "--format", "json", db=db)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_copy) -> tuple[Path, Path]:
    db = demo_copy(seed=DEFAULT_SEED, end=END)
    return build(db.parent, seed=DEFAULT_SEED, db=db)


@pytest.fixture(scope="module")
def rows(demo) -> list[dict]:
    return impact_rows(*demo)


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
    assert {k[0] for k in counts} == {"deploy-platform", "preview-environments", "developer-portal"}
    assert {"treated teams", "org"} <= {k[1] for k in counts}


# The initiatives with an injected effect; the developer portal changes nothing.
EFFECTIVE = ("deploy-platform", "preview-environments")


def truths(rows: list[dict], names: tuple[str, ...] = EFFECTIVE) -> list[tuple[dict, float]]:
    """(primary estimate for the adopting teams, injected relative change) per DORA metric and
    factor of each initiative named: 7 pairs each."""
    pairs = []
    for name, spec in injected_effects(END).items():
        if name not in names:
            continue
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
            pairs.append((row, value))
    return pairs


def wrong_call(row: dict, truth: float) -> bool:
    """A verdict that calls a change where none was injected, or in the wrong direction."""
    if row["verdict"] not in ("improved", "worsened"):
        return False
    return truth == 0 or (row["relative_change"] > 0) != (truth > 0)


@pytest.mark.slow
def test_primary_estimates_recover_what_the_demo_injected_over_several_seeds(tmp_path_factory):
    """One org is one draw: check rates over six. docs/impact-method.md's calibration puts
    the difference-in-differences coverage of 95% intervals at 91.5-98.5% and its false-
    positive rate at 2.5-8.5%; a call in the wrong direction under an effect is rarer still.
    So of 6 x 14 intervals at least 85% contain the truth (with the calibration's worst
    coverage, 91.5%, fewer happens about 3% of the time; with 95%, 1 in 10,000), and at most
    2 verdicts are wrong calls (6 of the 84 have no injected effect)."""
    pairs = []
    for seed in SEEDS:
        pairs += truths(impact_rows(*build(tmp_path_factory.mktemp(f"seed{seed}"), seed)))
    covered = sum(row["ci_low"] <= value <= row["ci_high"] for row, value in pairs)
    wrong = [(row["initiative"], row["metric"], row["verdict"]) for row, value in pairs if wrong_call(row, value)]
    assert len(pairs) == 84
    assert covered >= 0.85 * len(pairs), covered
    assert len(wrong) <= 2, wrong


def test_the_default_demo_calls_nothing_in_the_wrong_direction(rows):
    # The default seed ending on END: a fixed draw, checked exactly (docs/impact-method.md).
    pairs = truths(rows, tuple(injected_effects(END)))
    assert not [row for row, value in pairs if wrong_call(row, value)]
    assert sum(row["ci_low"] <= value <= row["ci_high"] for row, value in pairs) >= COVERED


def test_demo_handoffs_and_waits_are_found(rows):
    # The deploy platform adds a platform-team approval to every pull request: a handoff, and
    # longer pickup and review waits. Stages and handoffs are descriptive (the plan tests the
    # DORA metrics): intervals, never a verdict word.
    for metric in ("pickup_time", "review_time", "outside_reviews", "teams_per_change"):
        row = primary(rows, "deploy-platform", metric)
        assert row["ci_low"] > 0 and row["verdict"] is None and row["role"] == "descriptive", metric
    # From about 0.07 reviews from outside the team per pull request to about one.
    assert primary(rows, "deploy-platform", "outside_reviews")["relative_change"] > 5
    # Reviewers try preview environments: pickup and review waits shrink, handoffs do not move.
    for metric in ("pickup_time", "review_time"):
        assert primary(rows, "preview-environments", metric)["ci_high"] < 0, metric
    handoffs = primary(rows, "preview-environments", "outside_reviews")
    assert handoffs["ci_low"] <= 0 <= handoffs["ci_high"]
    # The portal changes nothing: no row is called.
    portal = [r for r in rows if r["initiative"] == "developer-portal"]
    assert portal and not [(r["group"], r["metric"]) for r in portal if r["verdict"] in ("improved", "worsened")]


def test_the_demo_primary_metrics_are_called_with_the_injected_value_inside(rows):
    # Each initiative is judged first on the metric its plan registers (DEFAULT_PRIMARY by
    # kind: a deploy platform on deployment frequency, preview environments on lead time), by
    # the trend-adjusted test alone; its interval holds the injected value.
    expected = {"deploy-platform": ("deployment_frequency", "worsened"),
                "preview-environments": ("lead_time", "improved"),
                "developer-portal": ("lead_time", "no detectable change")}
    for name, (metric, verdict) in expected.items():
        row = primary(rows, name, metric)
        truth = injected_effects(END)[name]["effects"][metric] - 1
        assert (row["role"], row["test"], row["verdict"]) == ("primary", "trend-adjusted", verdict), row
        assert row["trend_adjusted_ci_low"] <= truth <= row["trend_adjusted_ci_high"], row
        assert 0 < row["mde"] < 0.4
    # Every row carries mde and exploratory; verdict words only on the primary and, once it is
    # called, the other DORA metrics of the adopting teams' difference-in-differences (and the
    # org's, the same test rescaled).
    assert all("mde" in r and r["exploratory"] is False for r in rows)
    labelled = {(r["group"], r["method"], r["metric"]) for r in rows if r["verdict"] is not None}
    assert {m for _, m, _ in labelled} == {"did"}
    assert {k for k, _, _ in labelled} == {"treated teams", "org"}
    assert {m for *_, m in labelled} <= set(DORA) | set(SIGNS)
    portal = [r for r in rows if r["initiative"] == "developer-portal" and r["verdict"] is not None]
    assert {r["metric"] for r in portal} == {"lead_time"}  # the gate stays shut


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
    # Another window than the plan's: exploratory, estimates and intervals without a verdict word.
    assert all(r["exploratory"] and r["verdict"] is None for r in found)
    assert found[0]["reason"] == "exploratory: departs from the registered plan: window 12 (registered: 26)"
    # Without the config, the imported row carries the cohorts and the adoption rule.
    table = run_cli("impact", "deploy-platform", db=db).stdout
    assert "Adoption (workflow matching '^platform-deploy')" in table
    # From a near-zero base the handoff count reads as from-to, not as a +1300% change.
    assert "per pull request rose from 0.07 to 1.03 (+0.96)." in " ".join(table.split())


def test_unknown_initiative_and_missing_database_are_one_line_errors(demo, tmp_path):
    db, _ = demo
    unknown = run_cli("impact", "portal-v2", db=db)
    assert unknown.code == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        "dora-impact: unknown initiative 'portal-v2' (known: developer-portal, deploy-platform, "
        "preview-environments)"
    ]
    missing = run_cli("impact", db=tmp_path / "nowhere.duckdb")
    assert missing.code == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "nowhere.duckdb" in missing.stderr


def test_no_initiatives_is_an_empty_array(tmp_path):
    db = tmp_path / "empty.duckdb"
    Warehouse(db).close()
    result = run_cli("impact", "--format", "json", db=db)
    assert result.code == 0 and json.loads(result.stdout) == []


# The demo tells one story whatever the day it is built: its headline calls, for the
# default seed ending in the current week, at several fixed "todays".
STORY = {
    # The primary metrics their plans register.
    ("deploy-platform", "deployment_frequency"): "worsened",
    ("preview-environments", "lead_time"): "improved",
    # Nobody uses the portal: nothing moves, and its other metrics are not tested.
    ("developer-portal", "lead_time"): "no detectable change",
    ("developer-portal", "deployment_frequency"): None,
    ("developer-portal", "throughput"): None,
    # Stages and handoffs are descriptive.
    ("deploy-platform", "outside_reviews"): None,
    ("preview-environments", "pickup_time"): None,
}


@pytest.mark.slow
@pytest.mark.parametrize("today", ["2026-08-12T15:00:00Z", "2027-01-06T09:30:00Z"])
def test_the_demo_tells_the_same_story_whatever_the_day(tmp_path, today):
    import time_machine

    from dora_impact.demo_command import build_demo

    db = tmp_path / "dora.duckdb"
    with time_machine.travel(today, tick=False):
        build_demo(db)
    monday = default_end(date.fromisoformat(today[:10]))
    with Warehouse(db, read_only=True) as wh:
        last = wh.scalar("SELECT max(finished_at) FROM deployments")
    assert monday - timedelta(days=7) <= last.date() < monday  # the demo ends this week
    # The imported initiatives table alone describes the demo's cohorts (docs/demo-org.md).
    result = run_cli("impact", "--format", "json", db=db)
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {key: primary(rows, *key)["verdict"] for key in STORY} == STORY


def test_the_demo_command_builds_the_default_seed():
    from dora_impact.demo_command import DEMO_SEED

    assert DEMO_SEED == DEFAULT_SEED


def test_command_constants_match_the_warehouse():
    # The command avoids importing scipy/statsmodels at start-up, so it repeats two constants.
    from dora_impact import impact_command
    from warehouse import impact

    assert impact_command.DEFAULT_WINDOW_WEEKS == impact.DEFAULT_WINDOW_WEEKS
    assert (impact_command.TREATED, impact_command.ORG) == (impact.TREATED, impact.ORG)


def test_a_plan_is_stored_with_its_first_date_and_a_departure_is_exploratory(demo, tmp_path):
    import shutil

    db = tmp_path / "dora.duckdb"
    shutil.copy(demo[0], db)
    # The demo's initiatives as imported, with a plan for one of them; the import records the
    # plans (the after-load step), each once.
    csv = write(tmp_path / "initiatives.csv", """
name,started_on,teams,kind,primary_metric,window_weeks
deploy-platform,2025-03-03,checkout;payments;marketplace;search@2025-05-12;catalog@2025-05-12;billing@2025-05-12,deploy platform,lead_time,20
""")
    assert run_cli("import", str(csv), db=db).code == 0
    assert run_cli("import", str(csv), db=db).code == 0
    with Warehouse(db, read_only=True) as wh:
        plans = wh.con.execute(
            "SELECT plan, first_seen FROM initiative_plans WHERE name = 'deploy-platform'"
        ).fetchall()
    assert len(plans) == 1 and json.loads(plans[0][0])["primary_metric"] == "lead_time"
    assert json.loads(plans[0][0])["window_weeks"] == 20
    rows = json.loads(run_cli("impact", "deploy-platform", "--format", "json", db=db).stdout)
    assert primary(rows, "deploy-platform", "lead_time")["role"] == "primary"
    assert {r["window_weeks"] for r in rows} == {20} and not any(r["exploratory"] for r in rows)
    # The plan changed afterwards (another primary metric): still judged by the registered one,
    # so the analysis departs from it and is exploratory.
    changed = write(tmp_path / "again" / "initiatives.csv", csv.read_text().replace("lead_time", "rework_rate"))
    assert run_cli("import", str(changed), db=db).code == 0
    rows = json.loads(run_cli("impact", "deploy-platform", "--format", "json", db=db).stdout)
    assert all(r["exploratory"] and r["verdict"] is None for r in rows)
    assert "primary metric rework_rate (registered: lead_time)" in rows[0]["reason"]


def test_a_bad_plan_in_the_import_is_one_line_naming_row_and_column(tmp_path):
    db = tmp_path / "dora.duckdb"
    csv = write(tmp_path / "initiatives.csv", """
name,started_on,primary_metric
portal,2026-01-05,speed
""")
    result = run_cli("import", str(csv), db=db)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "initiatives.csv" in result.stderr and "primary_metric" in result.stderr and "speed" in result.stderr
