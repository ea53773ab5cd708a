"""Weekly adoption of an initiative: how much of the adopting teams' delivery uses the new path.

Declaring that teams adopted is not the same as them using it (Spotify reports external
Backstage adoption stalling near 10%). Per week, over the adopting teams:

* deployment share: production deployments that went through the new path / all of them;
* repository share: repositories with a new-path deployment in the last 4 weeks / those with
  any production deployment in the last 4 weeks.

The rule is the initiative's adoption_environment and/or adoption_workflow (a regex on the CI
workflow's name or file path that ran the deployment, which the GitHub Actions collector
stores); see warehouse/sql/impact_adoption.sql.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources

import polars as pl

from warehouse.db import Warehouse
from warehouse.impact.initiatives import Initiative

TRAILING_WEEKS = 4
ADOPTER_SHARE = 0.5  # a team whose post-adoption deployments are at least half on the new path


@dataclass
class Adoption:
    initiative: str
    signal: str | None  # what the curve is measured by; None: no signal
    message: str  # one line for the reader
    weeks: list[dict] = field(default_factory=list)  # week, deployments, new_path, share, repos, ...
    team_share: dict[str, float] = field(default_factory=dict)  # team -> share after adoption

    @property
    def latest(self) -> dict | None:
        return next((w for w in reversed(self.weeks) if w["deployments"]), None)


def _no_signal(initiative: Initiative) -> str | None:
    rule = initiative.adoption
    if rule.environment or rule.workflow:
        return None
    return "no adoption signal: no adoption rule is configured (adoption_environment or adoption_workflow)"


def measure(wh: Warehouse, initiative: Initiative, team_names: list[str]) -> Adoption:
    """The curve for one initiative; the metric views must exist on wh (panel.create_views)."""
    missing = _no_signal(initiative)
    if missing:
        return Adoption(initiative.name, None, missing)
    wh.con.execute(
        "SET VARIABLE adoption_environment = CAST(? AS VARCHAR)", [initiative.adoption.environment]
    )
    wh.con.execute("SET VARIABLE adoption_workflow = CAST(? AS VARCHAR)", [initiative.adoption.workflow])
    wh.con.execute((resources.files("warehouse") / "sql" / "impact_adoption.sql").read_text())
    teams = initiative.teams or team_names
    frame = wh.frame(
        "SELECT team, repo, week, deployments, new_path FROM impact_adoption_weeks "
        "WHERE list_contains(?, team) ORDER BY week",
        [teams],
    )
    rule = initiative.adoption
    signal = " or ".join(
        [f"environment matching {rule.environment!r}"] * bool(rule.environment)
        + [f"workflow matching {rule.workflow!r}"] * bool(rule.workflow)
    )
    if frame.is_empty() or frame["new_path"].sum() == 0:
        return Adoption(
            initiative.name,
            signal,
            f"no adoption signal: no deployment of the adopting teams matches the {signal}",
        )
    return Adoption(
        initiative.name,
        signal,
        f"adoption measured by {signal}",
        _weekly(frame),
        _team_share(frame, initiative),
    )


def _weekly(frame: pl.DataFrame) -> list[dict]:
    first, last = frame["week"].min(), frame["week"].max()
    out = []
    week = first
    while week <= last:
        now = frame.filter(pl.col("week") == week)
        recent = frame.filter(
            (pl.col("week") > week - timedelta(weeks=TRAILING_WEEKS)) & (pl.col("week") <= week)
        )
        by_repo = recent.group_by("repo").agg(pl.col("new_path").sum())
        deployments, new_path = int(now["deployments"].sum()), int(now["new_path"].sum())
        out.append(
            {
                "week": week,
                "deployments": deployments,
                "new_path": new_path,
                "share": new_path / deployments if deployments else None,
                "repos": by_repo.height,
                "repos_new_path": int((by_repo["new_path"] > 0).sum()),
                "repo_share": float((by_repo["new_path"] > 0).mean()) if by_repo.height else None,
            }
        )
        week += timedelta(weeks=1)
    return out


def _team_share(frame: pl.DataFrame, initiative: Initiative) -> dict[str, float]:
    """Each adopting team's new-path share of deployments after its own ramp."""
    out = {}
    for cohort in initiative.cohorts:
        settled: date = cohort.started_on + timedelta(weeks=initiative.ramp_weeks)
        after = frame.filter(pl.col("week") >= settled)
        for team in cohort.teams:
            rows = after.filter(pl.col("team") == team)
            if rows["deployments"].sum():
                out[team] = float(rows["new_path"].sum() / rows["deployments"].sum())
    return out


ADOPTERS = f"adopters (>= {ADOPTER_SHARE:.0%} on the new path)"
LOW_ADOPTERS = f"low adopters (< {ADOPTER_SHARE:.0%} on the new path)"


def levels(curve: Adoption, min_teams: int = 2) -> dict[str, list[str]]:
    """Adopting teams split by how much of their delivery uses the new path after the ramp;
    only when both parts have at least min_teams teams (a comparison needs them)."""
    high = sorted(t for t, share in curve.team_share.items() if share >= ADOPTER_SHARE)
    low = sorted(t for t, share in curve.team_share.items() if share < ADOPTER_SHARE)
    if len(high) < min_teams or len(low) < min_teams:
        return {}
    return {ADOPTERS: high, LOW_ADOPTERS: low}
