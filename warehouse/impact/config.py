"""The `[[initiatives]]` config section, owned by the impact analysis that reads it."""

from __future__ import annotations

from datetime import date
from typing import Literal, Protocol

from pydantic import Field, field_validator, model_validator

from warehouse.config import MetricsConfig
from warehouse.validation import Strict, check_regex

# Imported initiatives are checked against the same bounds (collectors/files.py).
MAX_RAMP_WEEKS = 520


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
    ended_on: date | None = None
    description: str | None = None
    # Which deployments went through the new path (any that matches): regexes on the CI
    # workflow's name or file path (deployments.workflow / workflow_path) and on the environment.
    adoption_workflow: str | None = None
    adoption_environment: str | None = None

    _adoption_regex = field_validator("adoption_workflow", "adoption_environment")(check_regex)

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
