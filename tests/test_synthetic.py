"""The synthetic demo org: deterministic, realistic in shape, consistent, with visible effects."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from collectors.synthetic import (
    DEFAULT_SEED,
    INJECTED_EFFECTS,
    PEOPLE,
    default_end,
    generate_org,
    injected_effects,
    load_demo,
    people_teams,
    window,
)
from warehouse import Warehouse
from warehouse.schema import ENTITIES, parse_cohorts

END = date(2026, 3, 2)  # a Monday
START = date(2024, 3, 4)  # 104 weeks earlier


@pytest.fixture(scope="module")
def org() -> dict[str, pl.DataFrame]:
    return generate_org(DEFAULT_SEED, END)


@pytest.fixture(scope="module")
def prod(org: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return org["deployments"].filter(
        (pl.col("environment") == "production") & (pl.col("status") == "success")
    )


def day_rates(prod: pl.DataFrame, teams: list[str], since: date, until: date) -> float:
    """Successful production deployments per day of the given teams in [since, until)."""
    day = pl.col("finished_at").dt.date()
    n = prod.filter(pl.col("team").is_in(teams) & (day >= since) & (day < until)).height
    return n / (until - since).days


def did_ratio(prod: pl.DataFrame, adopters: list[str], controls: list[str], started: date,
              ramp_weeks: int) -> float:
    """(adopters after the ramp / before) / (controls after / before): deployment rates."""
    settled = started + timedelta(weeks=ramp_weeks)
    treated = day_rates(prod, adopters, settled, END) / day_rates(prod, adopters, START, started)
    control = day_rates(prod, controls, settled, END) / day_rates(prod, controls, START, started)
    return treated / control


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(org):
    again = generate_org(DEFAULT_SEED, END)
    assert list(again) == list(org)
    for name, frame in org.items():
        assert again[name].equals(frame), name


def _holiday(day: date) -> bool:
    return day.month == 8 or (day.month == 12 and day.day >= 20) or (day.month == 1 and day.day <= 6)


def _calm_production(org: dict[str, pl.DataFrame], end: date, other_end: date) -> pl.DataFrame:
    """Production deployments as (repo, seconds before the end, sha, status, kinds), without
    the ids (numbered over the whole history), on days with no holiday within 10 days in
    either calendar (the history ending at `end` or at `other_end`)."""
    calm = [
        n for n in range(1, 104 * 7 + 1)
        if not any(_holiday(e - timedelta(days=n + k)) for e in (end, other_end) for k in range(-10, 11))
    ]
    stop = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    before = pl.lit(stop) - pl.col("finished_at")
    return (
        org["deployments"]
        .filter(pl.col("environment") == "production")
        .with_columns(seconds=before.dt.total_seconds(), days=before.dt.total_days() + 1)
        .filter(pl.col("days").is_in(calm))
        .select("repo", "seconds", "sha", "status", "is_hotfix", "is_rollback")
        .sort("repo", "seconds")
    )


def test_the_same_seed_gives_the_same_history_relative_to_its_end_whatever_the_date(org):
    """Ending 13 weeks later moves August and the new year elsewhere in the history, but not
    the draws: away from the holidays, every production deployment is the same, the same
    number of seconds before the end, shipping the same sha."""
    later = date(2026, 6, 1)
    before = _calm_production(org, END, later)
    after = _calm_production(generate_org(DEFAULT_SEED, later), later, END)
    assert before.height > 10_000
    assert before.equals(after)


def test_another_seed_gives_another_history_of_the_same_org(org):
    other = generate_org(8, END)
    assert not other["deployments"].equals(org["deployments"])
    assert not other["changes"]["sha"].equals(org["changes"]["sha"])
    assert other["teams"].equals(org["teams"])
    assert other["initiatives"].equals(org["initiatives"])


def test_the_window_ends_on_the_monday_of_the_current_week():
    assert default_end(date(2026, 3, 5)) == date(2026, 3, 2)  # a Thursday
    assert default_end(date(2026, 3, 8)) == date(2026, 3, 2)  # a Sunday
    assert default_end(date(2026, 3, 2)) == date(2026, 3, 2)
    assert window(date(2026, 3, 4)) == (START, END)
    assert window(None)[1].weekday() == 0


def test_too_short_a_history_for_the_initiatives_is_refused():
    with pytest.raises(ValueError, match="deploy-platform: needs at least 60 weeks"):
        generate_org(DEFAULT_SEED, END, weeks=59)


# -- shape ---------------------------------------------------------------------------------


def test_frames_are_canonical(org):
    assert set(org) == {"teams", "deployments", "changes", "pull_requests", "reviews", "incidents",
                        "initiatives"}
    for name, frame in org.items():
        assert frame.schema == pl.Schema(ENTITIES[name].schema()), name
        for key in ENTITIES[name].key:
            assert frame[key].null_count() == 0, (name, key)
        assert not frame.select(ENTITIES[name].key).is_duplicated().any(), name


def test_org_size_and_span(org, prod):
    teams = org["teams"]
    assert teams["team"].n_unique() == 20  # docs/demo-org.md
    assert "platform" in teams["team"].to_list()
    assert teams["repo"].n_unique() == 81
    assert teams["repo"].str.starts_with("acme/").all()
    assert "acme/checkout-api" in teams["repo"].to_list()
    # About 600 successful production deployments per repository in two years (47,173 here).
    assert 500 * 81 <= prod.height <= 700 * 81
    assert 100_000 <= org["changes"].height <= 250_000
    # Two years: deployments in the first and the last week, nothing outside the window.
    first, last = prod["finished_at"].min(), prod["finished_at"].max()
    assert START <= first.date() < START + timedelta(days=7)
    assert END - timedelta(days=7) <= last.date() < END
    assert org["deployments"]["finished_at"].max() < datetime(2026, 3, 2, tzinfo=first.tzinfo)
    # Every repository deploys.
    assert prod["repo"].n_unique() == teams.height


def test_environments_statuses_and_rework_kinds(org, prod):
    deployments = org["deployments"]
    counts = {(r["environment"], r["status"]): r["len"]
              for r in deployments.group_by("environment", "status").len().iter_rows(named=True)}
    assert counts[("staging", "success")] > 5_000
    assert counts[("production", "failure")] > 300  # failed deployment runs
    assert counts[("preview", "success")] > 1_000
    assert set(deployments["environment"]) == {"production", "staging", "preview"}
    assert prod["is_hotfix"].sum() > 300
    assert prod["is_rollback"].sum() > 50
    assert not (prod["is_hotfix"] & prod["is_rollback"]).any()
    # Staging and preview runs are never hotfixes or rollbacks; only production is.
    other = deployments.filter(pl.col("environment") != "production")
    assert not (other["is_hotfix"].any() or other["is_rollback"].any())


def test_every_change_is_first_shipped_by_a_successful_production_deployment(org, prod):
    changes = org["changes"].join(
        org["deployments"].select("deployment_id", "environment", "status", "finished_at"),
        on="deployment_id", how="left",
    )
    assert changes["environment"].to_list() == ["production"] * changes.height
    assert (changes["status"] == "success").all()
    assert (changes["committed_at"] < changes["finished_at"]).all()
    # First: each pull request was merged after the repo's previous successful production
    # deployment finished and before this one started.
    window_of = prod.sort("repo", "finished_at").with_columns(
        previous=pl.col("finished_at").shift(1).over("repo")
    ).select("deployment_id", "started_at", "previous")
    merged = (
        org["changes"].select("repo", "pr_number", "deployment_id").unique()
        .join(org["pull_requests"].select("repo", "number", "merged_at"),
              left_on=["repo", "pr_number"], right_on=["repo", "number"])
        .join(window_of, on="deployment_id")
    )
    assert merged.height == org["pull_requests"].height
    assert (merged["merged_at"] < merged["started_at"]).all()
    later = merged.filter(pl.col("previous").is_not_null())
    assert (later["merged_at"] > later["previous"]).all()


def test_batches_and_heavy_tailed_lead_times(org, prod):
    per_deployment = org["changes"].group_by("deployment_id").len()["len"]
    assert per_deployment.max() >= 10
    assert (per_deployment >= 3).sum() > 0.3 * per_deployment.len()
    lead = (
        org["changes"].join(prod.select("deployment_id", "finished_at"), on="deployment_id")
        .select(hours=(pl.col("finished_at") - pl.col("committed_at")).dt.total_seconds() / 3600)
    )["hours"]
    assert lead.quantile(0.1) < 12
    assert 6 < lead.median() < 120
    assert lead.quantile(0.9) > 3 * 24
    assert lead.max() > 21 * 24
    assert lead.mean() > 1.5 * lead.median()  # a long right tail


def test_pull_request_times_and_reviews_agree(org):
    prs, reviews = org["pull_requests"], org["reviews"]
    ordered = (
        (pl.col("first_commit_at") <= pl.col("created_at"))
        & (pl.col("created_at") <= pl.col("first_review_at"))
        & (pl.col("first_review_at") <= pl.col("approved_at"))
        & (pl.col("approved_at") <= pl.col("merged_at"))
    )
    assert prs.filter(~ordered).height == 0
    assert set(reviews["state"]) == {"APPROVED", "COMMENTED", "CHANGES_REQUESTED"}
    per_pr = reviews.group_by("repo", "number").agg(
        first=pl.col("submitted_at").min(),
        approved=pl.col("submitted_at").filter(pl.col("state") == "APPROVED").max(),
        logins=pl.col("reviewer").unique().sort(),
    )
    joined = prs.join(per_pr, on=["repo", "number"], how="left")
    assert joined["first"].null_count() == 0
    assert (joined["first"] == joined["first_review_at"]).all()
    assert (joined["approved"] == joined["approved_at"]).all()
    listed = joined["reviewers"].str.split(";").list.sort()
    assert (listed == joined["logins"]).all()
    assert not joined.select(pl.col("logins").list.contains(pl.col("author"))).to_series().any()
    assert prs["merge_sha"].is_in(org["changes"]["sha"].implode()).all()
    assert prs["labels"].str.contains("hotfix").sum() == prs.join(
        org["changes"].select("repo", "pr_number", "deployment_id").unique(),
        left_on=["repo", "number"], right_on=["repo", "pr_number"],
    ).join(org["deployments"].filter("is_hotfix").select("deployment_id"), on="deployment_id").height


def test_people_have_teams_and_the_platform_team_reviews_adopters_after_adoption(org):
    people = people_teams()
    assert people.height == len(PEOPLE) and people["login"].n_unique() == people.height
    assert (people["login"].str.split(".").list.last() == people["team"]).all()
    prs, reviews = org["pull_requests"], org["reviews"]
    assert prs["author"].is_in(people["login"].implode()).all()
    assert reviews["reviewer"].is_in(people["login"].implode()).all()
    owner = org["teams"].rename({"team": "owner"})
    # Authors belong to the team that owns the repository.
    authored = prs.join(owner, on="repo").join(people, left_on="author", right_on="login")
    assert (authored["owner"] == authored["team"]).all()

    effects = injected_effects(END)["deploy-platform"]
    reviewed = (
        reviews.join(people.rename({"team": "reviewer_team"}), left_on="reviewer", right_on="login")
        .join(owner, on="repo")
        .join(prs.select("repo", "number", "created_at", "labels"), on=["repo", "number"])
    )
    by_platform = reviewed.filter(
        (pl.col("reviewer_team") == "platform") & (pl.col("owner") != "platform")
    )
    assert by_platform["owner"].is_in(effects["teams"]).all()  # nobody else needs them
    shipped = (
        org["changes"].select("repo", number="pr_number", deployment_id="deployment_id").unique()
        .join(org["deployments"].select("deployment_id", shipped_at="finished_at"), on="deployment_id")
        .drop("deployment_id")
    )
    for cohort in effects["cohorts"]:
        mine = prs.join(owner, on="repo").filter(pl.col("owner").is_in(cohort["teams"]))
        platform_prs = by_platform.filter(pl.col("owner").is_in(cohort["teams"])).select(
            "repo", "number").unique()
        flagged = mine.join(platform_prs.with_columns(platform=pl.lit(True)),
                            on=["repo", "number"], how="left").join(shipped, on=["repo", "number"])
        # Whether a pull request went through the new path follows when it shipped.
        before = flagged.filter(pl.col("shipped_at").dt.date() < cohort["started_on"])
        after = flagged.filter(
            (pl.col("shipped_at").dt.date() >= cohort["started_on"] + timedelta(weeks=4))
            & ~pl.col("labels").str.contains("hotfix")
        )
        assert before.height > 1_000 and after.height > 1_000
        assert before["platform"].null_count() == before.height
        assert after["platform"].null_count() == 0
    # Some reviews cross team lines everywhere, not only through the platform team.
    cross = reviewed.filter(
        (pl.col("reviewer_team") != pl.col("owner")) & (pl.col("reviewer_team") != "platform")
    )
    assert cross.height > 1_000


def test_incidents_mostly_name_the_deployment_that_caused_them(org, prod):
    incidents = org["incidents"]
    attributed = incidents.filter(pl.col("deployment_id").is_not_null())
    assert 0.7 < attributed.height / incidents.height < 0.95
    assert attributed["deployment_id"].is_in(prod["deployment_id"].implode()).all()
    caused = attributed.join(prod.select("deployment_id", "finished_at", "repo"), on="deployment_id")
    assert (caused["opened_at"] > caused["finished_at"]).all()
    assert (caused["repo"] == caused["repo_right"]).all()
    resolved = incidents.filter(pl.col("resolved_at").is_not_null())
    assert (resolved["resolved_at"] > resolved["opened_at"]).all()
    hours = ((resolved["resolved_at"] - resolved["opened_at"]).dt.total_seconds() / 3600)
    assert hours.median() < 8 and hours.quantile(0.95) > 24  # heavy tail


# -- calendar --------------------------------------------------------------------------------


def test_late_december_weeks_dip_below_the_median_week(prod):
    weekly = prod.group_by(week=pl.col("finished_at").dt.truncate("1w")).len()
    median = weekly["len"].median()
    for day in (date(2024, 12, 25), date(2025, 1, 1), date(2025, 12, 25), date(2026, 1, 1)):
        week = weekly.filter(pl.col("week").dt.date() == default_end(day))
        assert week["len"][0] < 0.5 * median, day
    august = weekly.filter(pl.col("week").dt.month() == 8)["len"]
    assert august.mean() < median


def test_weekends_are_quieter_than_weekdays(prod):
    per_day = prod.group_by(weekday=pl.col("finished_at").dt.weekday()).len()
    counts = dict(zip(per_day["weekday"], per_day["len"], strict=True))
    weekday = sum(counts[d] for d in range(1, 6)) / 5
    weekend = (counts[6] + counts[7]) / 2
    assert weekend < 0.15 * weekday
    assert counts[2] > counts[5] and counts[3] > counts[5]  # midweek peaks, quieter Fridays


# -- injected effects -------------------------------------------------------------------------


def test_injected_effects_are_documented_with_dates(org):
    resolved = injected_effects(END)
    assert set(resolved) == set(INJECTED_EFFECTS)
    platform = resolved["deploy-platform"]
    assert platform["factors"] == {"throughput": 0.89, "instability": 1.14}
    first, second = platform["cohorts"]
    assert first["started_on"].weekday() == 0
    assert second["started_on"] - first["started_on"] == timedelta(weeks=10)
    # At least 4 teams on each side of every initiative: below that no verdict is given.
    assert len(first["teams"]) == 3 and len(second["teams"]) == 3
    controls = set(platform["control_teams"])
    assert len(controls) >= 8 and "platform" in controls
    for spec in resolved.values():
        assert not controls & set(spec["teams"])
        assert len(spec["teams"]) >= 4
    assert not set(platform["teams"]) & set(resolved["preview-environments"]["teams"])
    portal = resolved["developer-portal"]
    assert portal["started_on"] < platform["started_on"] - timedelta(weeks=30)  # before the paved paths
    rows = {r["name"]: r for r in org["initiatives"].iter_rows(named=True)}
    row = rows["deploy-platform"]
    assert row["started_on"] == first["started_on"] == date(2025, 3, 3)
    assert second["started_on"] == date(2025, 5, 12)
    assert row["teams"] == "checkout;payments;marketplace;search@2025-05-12;catalog@2025-05-12;billing@2025-05-12"
    assert parse_cohorts(row["teams"], row["started_on"]) == [
        (c["started_on"], c["teams"]) for c in platform["cohorts"]
    ]
    assert (row["kind"], row["ramp_weeks"]) == ("deploy platform", 4)
    assert row["adoption_workflow"] == "^platform-deploy"
    preview = rows["preview-environments"]
    assert (preview["kind"], preview["teams"]) == ("environments", "growth;mobile;fulfilment;identity;loyalty;content")
    assert rows["developer-portal"]["adoption_workflow"] == "portal-golden-path"


def test_adoption_shows_in_the_workflow_that_ran_each_deployment(org, prod):
    """Deploy-platform adopters' deployments move to the platform's workflow as they ramp in;
    a tenth of the portal adopters' deployments run its golden-path workflow, no more."""
    effects = injected_effects(END)
    day = pl.col("finished_at").dt.date()

    def share(teams: list[str], since: date, until: date, workflow: str) -> float:
        rows = prod.filter(pl.col("team").is_in(teams) & (day >= since) & (day < until))
        return (rows["workflow"] == workflow).mean()

    for cohort in effects["deploy-platform"]["cohorts"]:
        settled = cohort["started_on"] + timedelta(weeks=4)
        assert share(cohort["teams"], START, cohort["started_on"], "platform-deploy") == 0
        assert 0.85 < share(cohort["teams"], settled, END, "platform-deploy") <= 1
    portal = effects["developer-portal"]
    (cohort,) = portal["cohorts"]
    assert share(portal["teams"], START, cohort["started_on"], "portal-golden-path") == 0
    after = share(portal["teams"], cohort["started_on"] + timedelta(weeks=4), END, "portal-golden-path")
    assert 0.08 < after < 0.12  # stalls near 10%
    assert share(portal["control_teams"], START, END, "portal-golden-path") == 0
    assert set(prod["workflow"].unique()) == {"deploy", "platform-deploy", "portal-golden-path"}
    previews = org["deployments"].filter(pl.col("environment") == "preview")
    assert (previews["workflow"] == "preview").all()


def test_deploy_platform_adopters_deploy_less_than_controls_after_the_ramp(prod):
    spec = injected_effects(END)["deploy-platform"]
    ratios = [
        did_ratio(prod, c["teams"], spec["control_teams"], c["started_on"], spec["ramp_weeks"])
        for c in spec["cohorts"]
    ]
    # Injected x0.84; Poisson and weekly noise put one cohort's ratio within about +-0.08 of
    # it (this seed: 0.80 and 0.82).
    assert all(r < 0.93 for r in ratios), ratios
    assert 0.75 < (ratios[0] * ratios[1]) ** 0.5 < 0.92, ratios


def test_preview_environment_adopters_deploy_more_than_controls(prod):
    spec = injected_effects(END)["preview-environments"]
    (cohort,) = spec["cohorts"]
    ratio = did_ratio(prod, cohort["teams"], spec["control_teams"], cohort["started_on"],
                      spec["ramp_weeks"])
    assert 1.04 < ratio < 1.30, ratio  # injected x1.15 (this seed: 1.14)


def test_lead_time_moves_with_the_review_handoff(org, prod):
    """Median lead time, adopters vs controls, before vs after: up with the platform approval,
    down with preview environments."""
    lead = org["changes"].join(prod.select("deployment_id", "finished_at", "team"), on="deployment_id")
    lead = lead.with_columns(hours=(pl.col("finished_at") - pl.col("committed_at")).dt.total_seconds())
    effects = injected_effects(END)

    def median(teams: list[str], since: date, until: date) -> float:
        day = pl.col("finished_at").dt.date()
        return lead.filter(pl.col("team").is_in(teams) & (day >= since) & (day < until))["hours"].median()

    def ratio(name: str) -> float:
        spec = effects[name]
        started = spec["cohorts"][0]["started_on"]
        settled = spec["cohorts"][-1]["started_on"] + timedelta(weeks=spec["ramp_weeks"])
        teams, controls = spec["teams"], spec["control_teams"]
        return (median(teams, settled, END) / median(teams, START, started)) / (
            median(controls, settled, END) / median(controls, START, started))

    assert 1.0 < ratio("deploy-platform") < 1.25  # injected x1.09
    assert 0.70 < ratio("preview-environments") < 0.97  # injected x0.85


# -- loading -------------------------------------------------------------------------------------


def test_load_demo_twice_into_a_real_database_changes_nothing(tmp_path: Path, org):
    path = tmp_path / "demo.duckdb"
    with Warehouse(path) as wh:
        first = load_demo(wh, end=END)
        counts = wh.table_counts()
    # (entities the demo does not generate, such as surveys, stay empty)
    assert counts == {name: org[name].height if name in org else 0 for name in counts}
    assert {name: c.new for name, c in first.items()} == {n: f.height for n, f in org.items()}
    with Warehouse(path) as wh:
        second = load_demo(wh, end=END)
        assert wh.table_counts() == counts
        sources = wh.con.execute(
            "SELECT DISTINCT source FROM deployments UNION SELECT DISTINCT source FROM changes"
        ).fetchall()
        stored = wh.frame(
            "SELECT deployment_id, finished_at FROM deployments ORDER BY finished_at, deployment_id"
        )
    assert all(c.new == 0 and c.updated == 0 for c in second.values())
    assert sources == [("demo",)]
    expected = org["deployments"].select("deployment_id", "finished_at")
    assert stored["deployment_id"].equals(expected["deployment_id"])
    assert (stored["finished_at"].dt.convert_time_zone("UTC") == expected["finished_at"]).all()


def test_the_demo_data_covers_its_last_week_however_quiet_its_sunday(tmp_path: Path):
    """The demo says where its history ends: its last week is whole (not cut at its last
    deployment), and the running week, which it has no data for, is not a row of zeros."""
    import time_machine

    from warehouse.metrics import compute_metrics

    path = tmp_path / "demo.duckdb"
    with Warehouse(path) as wh:
        load_demo(wh, end=END)
    with time_machine.travel("2026-03-04T09:00:00Z", tick=False), Warehouse(path, read_only=True) as wh:
        weeks = compute_metrics(wh, None, "org", "week")
        quarters = compute_metrics(wh, None, "org", "quarter")
    first, last = weeks[0], weeks[-1]
    assert (last["period"], last["period_days"], last["complete"]) == ("2026-W09", 7, True)
    assert (first["period_start"], first["complete"]) == (START, True)  # it starts on a Monday
    assert all(w["complete"] for w in weeks)
    # The first quarter holds 4 weeks of 2024-Q1 (from 4 March), the last 2026-Q1 until 2 March.
    assert [(q["period"], q["period_days"], q["complete"]) for q in (quarters[0], quarters[-1])] == [
        ("2024-Q1", 28, False), ("2026-Q1", 60, False)]
