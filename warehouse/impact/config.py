"""The `[[initiatives]]` config section, owned by the impact analysis that reads it."""

from __future__ import annotations

from datetime import date
from typing import Literal, Protocol

from pydantic import Field, field_validator, model_validator

from warehouse.config import MetricsConfig
from warehouse.impact.measures import METRIC_ORDER
from warehouse.validation import Strict, check_regex

# Imported initiatives are checked against the same bounds (collectors/files.py).
MAX_RAMP_WEEKS = 520
MIN_WINDOW_WEEKS, MAX_WINDOW_WEEKS = 4, 260
# The metrics a plan may name as its primary one: the five DORA metrics, the two factors, the
# lead-time stages and the handoff counts.
PLAN_METRICS = METRIC_ORDER


def check_plan_metric(value: str | None) -> str | None:
    if value is not None and value not in PLAN_METRICS:
        raise ValueError(f"unknown primary_metric {value!r} (use one of {', '.join(PLAN_METRICS)})")
    return value


class Cohort(Strict):
    teams: list[str]
    started_on: date


class InitiativeConfig(Strict):
    name: str
    kind: Literal[
        "deploy platform", "environments", "self-serve infrastructure", "observability",
        "portal", "other",
    ] = "other"
    started_on: date | None = None
    teams: list[str] = Field(default_factory=list)
    cohorts: list[Cohort] = Field(default_factory=list)  # staggered adoption
    ramp_weeks: int = Field(default=4, ge=0, le=MAX_RAMP_WEEKS)
    # The analysis plan (docs/impact-method.md): the metric the initiative is judged on first
    # (default by kind: warehouse/impact/initiatives.py's DEFAULT_PRIMARY), the weeks compared
    # on each side, and optionally an equivalence margin (relative, 0.1 = ±10%).
    primary_metric: str | None = None
    window_weeks: int | None = Field(default=None, ge=MIN_WINDOW_WEEKS, le=MAX_WINDOW_WEEKS)
    equivalence_margin: float | None = Field(default=None, gt=0, lt=1)
    ended_on: date | None = None
    description: str | None = None
    # Which deployments went through the new path (any that matches): regexes on the CI
    # workflow's name or file path (deployments.workflow / workflow_path) and on the environment.
    adoption_workflow: str | None = None
    adoption_environment: str | None = None

    _adoption_regex = field_validator("adoption_workflow", "adoption_environment")(check_regex)
    _plan_metric = field_validator("primary_metric")(check_plan_metric)

    @model_validator(mode="after")
    def _has_a_start(self) -> InitiativeConfig:
        # An initiative starts somewhere: its own started_on, or each cohort's.
        if self.started_on is None and not self.cohorts:
            raise ValueError(f"initiative {self.name!r} needs started_on or cohorts")
        if self.teams and self.started_on is None:
            raise ValueError(f"initiative {self.name!r}: teams without started_on (use cohorts)")
        if self.ended_on is not None:
            first = min([c.started_on for c in self.cohorts] + [self.started_on or date.max])
            if self.ended_on <= first:
                raise ValueError(f"initiative {self.name!r}: ended_on is not after it started")
        return self


class ImpactSettings(Protocol):
    """The config sections the impact analysis reads (the shell's composed config has them)."""

    metrics: MetricsConfig
    initiatives: list[InitiativeConfig]
