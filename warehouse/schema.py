"""The canonical entities: the warehouse's schema, which every source produces rows of.

One `Entity` per table: its columns with their types, which are required, and the natural
key that makes a load an upsert. Import files, the GitHub collector and the synthetic demo
org all hand the warehouse polars frames with these columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import polars as pl

from warehouse.errors import quote


class Kind(StrEnum):
    TEXT = "text"
    TIMESTAMP = "timestamp"  # ISO 8601 with an offset or Z; stored as a UTC instant
    DATE = "date"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"


POLARS_TYPES: dict[Kind, pl.DataType] = {
    Kind.TEXT: pl.String(),
    Kind.TIMESTAMP: pl.Datetime("us", "UTC"),
    Kind.DATE: pl.Date(),
    Kind.BOOL: pl.Boolean(),
    Kind.INT: pl.Int64(),
    Kind.FLOAT: pl.Float64(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class Entity:
    name: str  # also the table name
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: POLARS_TYPES[c.kind] for c in self.columns}

    def frame(self, rows: list[dict]) -> pl.DataFrame:
        """Build a canonical frame from dicts (missing optional keys become null)."""
        return pl.DataFrame(rows, schema=self.schema(), orient="row") if rows else self.empty()

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema())


def _c(name: str, kind: Kind = Kind.TEXT, required: bool = False) -> Column:
    return Column(name, kind, required)


T, D, B, I = Kind.TIMESTAMP, Kind.DATE, Kind.BOOL, Kind.INT  # noqa: E741

DEPLOYMENTS = Entity(
    "deployments",
    key=("deployment_id",),
    columns=(
        _c("deployment_id", required=True),
        _c("repo", required=True),
        _c("environment", required=True),
        _c("status", required=True),
        _c("finished_at", T, required=True),
        _c("started_at", T),
        _c("sha"),
        _c("team"),
        _c("service"),
        _c("is_rollback", B),
        _c("is_hotfix", B),
        _c("is_production", B),
        _c("workflow"),
        _c("workflow_path"),
        _c("url"),
    ),
)

CHANGES = Entity(
    "changes",
    key=("repo", "sha"),
    columns=(
        _c("repo", required=True),
        _c("sha", required=True),
        _c("committed_at", T, required=True),
        _c("authored_at", T),
        _c("author"),
        _c("pr_number", I),
        _c("deployment_id"),
        _c("url"),
    ),
)

PULL_REQUESTS = Entity(
    "pull_requests",
    key=("repo", "number"),
    columns=(
        _c("repo", required=True),
        _c("number", I, required=True),
        _c("created_at", T, required=True),
        _c("merged_at", T, required=True),
        _c("author"),
        _c("first_commit_at", T),
        _c("first_review_at", T),
        _c("approved_at", T),
        _c("merge_sha"),
        _c("reviewers"),
        _c("labels"),
        _c("url"),
    ),
)

REVIEWS = Entity(
    "reviews",
    key=("repo", "number", "review_id"),
    columns=(
        _c("repo", required=True),
        _c("number", I, required=True),
        _c("review_id", required=True),
        _c("reviewer"),
        _c("state"),
        _c("submitted_at", T),
    ),
)

INCIDENTS = Entity(
    "incidents",
    key=("incident_id",),
    columns=(
        _c("incident_id", required=True),
        _c("opened_at", T, required=True),
        _c("resolved_at", T),
        _c("repo"),
        _c("service"),
        _c("team"),
        _c("severity"),
        _c("deployment_id"),
        _c("url"),
    ),
)

INITIATIVES = Entity(
    "initiatives",
    key=("name",),
    columns=(
        _c("name", required=True),
        _c("started_on", D, required=True),
        _c("teams"),
        _c("kind"),
        _c("ramp_weeks", I),
        _c("ended_on", D),
        _c("description"),
        _c("adoption_environment"),
        _c("adoption_workflow"),
        _c("primary_metric"),
        _c("window_weeks", I),
        _c("equivalence_margin", Kind.FLOAT),
    ),
)

TEAMS = Entity(
    "teams",
    key=("repo",),
    columns=(_c("team", required=True), _c("repo", required=True)),
)

# Developer-experience survey results, for "perceived against measured" (warehouse/surveys.py).
# A row is a team's mean score on one question for a date or a period (2026-Q3, 2026-09); a
# row with only a date gets that date as its period, so the key is always whole.
SURVEYS = Entity(
    "surveys",
    key=("team", "question", "period"),
    columns=(
        _c("team", required=True),
        _c("date", D),
        _c("period"),
        _c("question", required=True),
        _c("score", Kind.FLOAT, required=True),
        _c("respondents", I),
        _c("scale"),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (DEPLOYMENTS, CHANGES, PULL_REQUESTS, REVIEWS, INCIDENTS, INITIATIVES, TEAMS, SURVEYS)
}

DEPLOYMENT_STATUSES = ("success", "failure")


def parse_cohorts(teams: str | None, started_on: date) -> list[tuple[date, list[str]]]:
    """The `teams` of an initiative: `a;b;c@2026-05-04` means a and b adopt on started_on and
    c on 4 May 2026 (a later cohort). Raises ValueError on a bad entry or date."""
    by_date: dict[date, list[str]] = {}
    for entry in (teams or "").split(";"):
        if not entry.strip():
            continue
        team, at, when = (part.strip() for part in entry.partition("@"))
        if not team or (at and not when):
            raise ValueError(f"{quote(entry.strip())} is not team or team@YYYY-MM-DD")
        try:
            day = date.fromisoformat(when) if when else started_on
        except ValueError:
            raise ValueError(f"{quote(entry.strip())} has no valid date after @ (YYYY-MM-DD)") from None
        if team not in by_date.setdefault(day, []):
            by_date[day].append(team)
    return sorted(by_date.items())
