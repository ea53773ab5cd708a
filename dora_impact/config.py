"""The configuration model (TOML, validated by pydantic; errors name the key).

Nothing secret lives here: the GitHub token is read from the environment variable that
`github.token_env` names.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dora_impact.errors import UserError

DEFAULT_DB = "dora.duckdb"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_regex(value: str | None) -> str | None:
    """A pattern valid both for Python's re (the collectors) and DuckDB's RE2 (the SQL), which
    disagree on some syntax (look-arounds, back-references)."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        try:
            duckdb.connect().execute("SELECT regexp_matches('', ?)", [value]).fetchall()
        except duckdb.Error as exc:
            reason = str(exc).splitlines()[0].split(": ", 1)[-1]
            raise ValueError(f"not a regular expression DuckDB accepts ({reason})") from None
    return value


_check_regex = check_regex


class MetricsConfig(Strict):
    # Environments whose name matches this (case-insensitive) are production.
    production_environment: str = "^(prod|production)$"
    # A deployment run that itself ended in failure counts as a failed deployment.
    failed_runs_count: bool = True

    _regex = field_validator("production_environment")(_check_regex)


class WorkflowRule(Strict):
    """GitHub Actions runs that count as deployments (every given pattern must match)."""

    name: str | None = None  # regex on the workflow name
    path: str | None = None  # regex on the workflow file path
    branch: str | None = None  # regex on head_branch
    event: str | None = None  # regex on the triggering event
    environment: str = "production"

    _regex = field_validator("name", "path", "branch", "event")(_check_regex)

    @field_validator("environment")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class TagRule(Strict):
    """Tags (or releases) that count as deployments."""

    pattern: str = r"^v\d+"
    environment: str = "production"
    releases: bool = False  # read GitHub releases instead of tags
    prereleases: bool = False  # with releases: count pre-releases too (drafts never count)

    _regex = field_validator("pattern")(_check_regex)


class DeploymentRules(Strict):
    use_deployments_api: bool = True
    # Deployments API: only environments whose name matches this are collected (None: all).
    environments: str | None = None
    workflows: list[WorkflowRule] = Field(default_factory=list)
    tags: list[TagRule] = Field(default_factory=list)
    # A deployment is a hotfix / rollback when its ref, branch, title or description, or a
    # commit it ships, matches these (case-insensitive).
    hotfix_pattern: str = r"\bhot-?fix"
    rollback_pattern: str = r"\b(rollback|roll back|roll-back)\b|^revert\b"

    _regex = field_validator("environments", "hotfix_pattern", "rollback_pattern")(_check_regex)


class IncidentConfig(Strict):
    labels: list[str] = Field(default_factory=lambda: ["incident"])
    # An incident that names no cause is pinned to the last production deployment of its
    # repository within this many hours before it opened; otherwise it stays unattributed.
    window_hours: float = Field(default=48, ge=0)
    # A label matching this gives the incident's severity (its first group, lower-cased):
    # `sev1` -> sev1, `severity:high` -> high, `P2` -> p2.
    severity_label: str = r"^(?:severity[-: ]?)?(sev[-_ ]?\d+|p\d|critical|high|medium|low)$"

    _regex = field_validator("severity_label")(_check_regex)

    @field_validator("labels")
    @classmethod
    def _some_label(cls, labels: list[str]) -> list[str]:
        if not labels or not all(label.strip() for label in labels):
            raise ValueError("needs at least one non-empty label")
        return labels


class GitHubConfig(Strict):
    api_url: str = "https://api.github.com"
    graphql_url: str | None = None  # default: api_url + /graphql
    token_env: str | None = None  # else GITHUB_TOKEN, then GH_TOKEN
    repos: list[str] = Field(default_factory=list)
    orgs: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    since: date | None = None
    # First backfill window when neither `since` nor `sync --since` is given.
    backfill_days: int = Field(default=90, ge=1)
    cache_dir: str = ".cache/dora-impact/git"
    # Pinned REST API version (X-GitHub-Api-Version); older GHES releases need "2022-11-28".
    api_version: str = "2026-03-10"
    # Pull requests through GraphQL (one query per 100 pull requests); false: REST only.
    graphql: bool = True
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=5, ge=0)  # per request, on 5xx and dropped connections
    deployments: DeploymentRules = Field(default_factory=DeploymentRules)
    incidents: IncidentConfig = Field(default_factory=IncidentConfig)

    @field_validator("api_url", "graphql_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("orgs")
    @classmethod
    def _org_names(cls, orgs: list[str]) -> list[str]:
        for org in orgs:
            if not re.fullmatch(r"[\w.-]+", org):
                raise ValueError(f"{org!r} is not an organisation name")
        return orgs

    def graphql_endpoint(self) -> str:
        """graphql_url, else api_url + /graphql (GHES: https://HOST/api/graphql for /api/v3)."""
        if self.graphql_url:
            return self.graphql_url
        if self.api_url.endswith("/api/v3"):
            return self.api_url[: -len("/v3")] + "/graphql"
        return self.api_url + "/graphql"

    @field_validator("repos")
    @classmethod
    def _owner_name(cls, repos: list[str]) -> list[str]:
        for repo in repos:
            if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
                raise ValueError(f"{repo!r} is not owner/name")
        return repos

    def token_variables(self) -> list[str]:
        return [self.token_env] if self.token_env else ["GITHUB_TOKEN", "GH_TOKEN"]

    def token(self) -> tuple[str | None, str]:
        """(token, the variable it came from or the ones that were tried)."""
        names = self.token_variables()
        for name in names:
            value = os.environ.get(name, "").strip()
            if value:
                # A pasted token can carry a stray \r or space; HTTP would then reject the
                # header and echo it in the error, so refuse it here without showing it.
                if not value.isascii() or not value.isprintable() or " " in value:
                    raise UserError(
                        f"environment variable {name}: the token contains spaces or control "
                        "characters; set it to the token alone"
                    )
                return value, name
        return None, " or ".join(names)


class RepoConfig(Strict):
    team: str | None = None
    clone_url: str | None = None  # where to clone from (mirror, GHES, a local path); default from the API


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
    ramp_weeks: int = Field(default=4, ge=0)
    ended_on: date | None = None
    description: str | None = None
    # Which deployments went through the new path (any that matches): regexes on the
    # workflow name/path and on the environment, or a file that marks an adopting repository.
    adoption_workflow: str | None = None
    adoption_environment: str | None = None
    adoption_marker_file: str | None = None

    _adoption_regex = field_validator("adoption_workflow", "adoption_environment")(_check_regex)

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


class Config(Strict):
    db: str | None = None
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    github: GitHubConfig | None = None
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    teams: dict[str, list[str]] = Field(default_factory=dict)  # team -> repo globs
    initiatives: list[InitiativeConfig] = Field(default_factory=list)

    source_path: Path | None = Field(default=None, exclude=True)


def load_config(path: str | Path | None) -> Config:
    """Read and validate a TOML config; no path means defaults. Errors name file and key."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{path}: key {key}: {first['msg']}") from None
    config.source_path = path
    return config
