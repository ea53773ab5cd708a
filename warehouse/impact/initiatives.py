"""Which initiatives there are: the config's [[initiatives]] merged with the imported table.

Both sources become one shape, `Initiative`, with adoption as cohorts (teams and the date they
started). An initiative that names no teams is org-wide: every team adopts on started_on.
The config wins over an imported row of the same name.

Each carries its analysis plan: the primary metric (DEFAULT_PRIMARY by kind when none is
named), the window, the ramp and the cohorts (plans.py stores it with the date it was first
seen; docs/impact-method.md explains the decision it drives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from warehouse.db import Warehouse
from warehouse.impact.config import ImpactSettings, InitiativeConfig
from warehouse.schema import parse_cohorts

DEFAULT_RAMP_WEEKS = 4
DEFAULT_WINDOW_WEEKS = 26
# The metric an initiative of each kind is judged on first, when its plan names none: the one
# DORA metric the kind is built to move (a deploy platform changes how often teams ship;
# preview environments, self-serve infrastructure and portals the wait from commit to
# production; observability how fast a failure is found and fixed).
DEFAULT_PRIMARY = {
    "deploy platform": "deployment_frequency",
    "environments": "lead_time",
    "self-serve infrastructure": "lead_time",
    "observability": "recovery_time",
    "portal": "lead_time",
    "other": "lead_time",
}


@dataclass(frozen=True)
class CohortSpec:
    teams: tuple[str, ...]  # empty: every team (org-wide)
    started_on: date


@dataclass(frozen=True)
class AdoptionRule:
    workflow: str | None = None
    environment: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.workflow or self.environment)


@dataclass(frozen=True)
class Initiative:
    name: str
    kind: str
    cohorts: tuple[CohortSpec, ...]
    ramp_weeks: int = DEFAULT_RAMP_WEEKS
    ended_on: date | None = None
    description: str | None = None
    adoption: AdoptionRule = field(default_factory=AdoptionRule)
    source: str = "config"
    primary_metric: str | None = None  # as declared; `primary` applies the default by kind
    window_weeks: int | None = None
    equivalence_margin: float | None = None

    @property
    def primary(self) -> str:
        return self.primary_metric or DEFAULT_PRIMARY.get(self.kind, DEFAULT_PRIMARY["other"])

    @property
    def window(self) -> int:
        return self.window_weeks or DEFAULT_WINDOW_WEEKS

    @property
    def started_on(self) -> date:
        return min(c.started_on for c in self.cohorts)

    @property
    def org_wide(self) -> bool:
        return any(not c.teams for c in self.cohorts)

    @property
    def teams(self) -> list[str]:
        return sorted({t for c in self.cohorts for t in c.teams})


def from_config(item: InitiativeConfig) -> Initiative:
    cohorts = [CohortSpec(tuple(c.teams), c.started_on) for c in item.cohorts]
    if item.started_on is not None:
        listed = {t for c in cohorts for t in c.teams}
        rest = tuple(t for t in item.teams if t not in listed)
        if rest or not cohorts:
            cohorts.insert(0, CohortSpec(rest, item.started_on))
    return Initiative(
        name=item.name,
        kind=item.kind,
        cohorts=tuple(sorted(cohorts, key=lambda c: c.started_on)),
        ramp_weeks=item.ramp_weeks,
        ended_on=item.ended_on,
        description=item.description,
        adoption=AdoptionRule(item.adoption_workflow, item.adoption_environment),
        source="config",
        primary_metric=item.primary_metric,
        window_weeks=item.window_weeks,
        equivalence_margin=item.equivalence_margin,
    )


def parse_teams(teams: str | None, started_on: date) -> tuple[CohortSpec, ...]:
    cohorts = parse_cohorts(teams, started_on)
    if not cohorts:
        return (CohortSpec((), started_on),)  # no teams named: org-wide
    return tuple(CohortSpec(tuple(names), day) for day, names in cohorts)


def from_table(wh: Warehouse) -> list[Initiative]:
    rows = wh.con.execute(
        "SELECT name, started_on, teams, kind, ramp_weeks, ended_on, description, "
        "adoption_workflow, adoption_environment, primary_metric, window_weeks, equivalence_margin "
        "FROM initiatives ORDER BY started_on, name"
    ).fetchall()
    found = []
    for name, started_on, teams, kind, ramp, ended_on, description, *rest in rows:
        *rule, primary, window, margin = rest
        found.append(
            Initiative(
                name=name,
                kind=kind or "other",
                cohorts=parse_teams(teams, started_on),
                ramp_weeks=DEFAULT_RAMP_WEEKS if ramp is None else max(int(ramp), 0),
                ended_on=ended_on,
                description=description,
                adoption=AdoptionRule(*rule),
                source="warehouse",
                primary_metric=primary,
                window_weeks=window,
                equivalence_margin=margin,
            )
        )
    return found


def resolve(wh: Warehouse, config: ImpactSettings) -> list[Initiative]:
    """All initiatives, ordered by start; a config entry replaces a stored one of that name."""
    merged = {i.name: i for i in from_table(wh)}
    merged.update({item.name: from_config(item) for item in config.initiatives})
    return sorted(merged.values(), key=lambda i: (i.started_on, i.name))
