"""The `[github]` config section, owned by the GitHub collector.

Nothing secret lives here: the token is read from the environment variable that `token_env`
names.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import Field, field_validator

from collectors.config import DeploymentRules
from collectors.secrets import env_token
from warehouse.validation import HttpUrl, Strict, check_regex


class IncidentConfig(Strict):
    labels: list[str] = Field(default_factory=lambda: ["incident"])
    # An incident that names no cause is pinned to the last production deployment of its
    # repository within this many hours before it opened; otherwise it stays unattributed.
    window_hours: float = Field(default=48, ge=0)
    # A label matching this gives the incident's severity (its first group, lower-cased):
    # `sev1` -> sev1, `severity:high` -> high, `P2` -> p2.
    severity_label: str = r"^(?:severity[-: ]?)?(sev[-_ ]?\d+|p\d|critical|high|medium|low)$"

    _regex = field_validator("severity_label")(check_regex)

    @field_validator("labels")
    @classmethod
    def _some_label(cls, labels: list[str]) -> list[str]:
        if not labels or not all(label.strip() for label in labels):
            raise ValueError("needs at least one non-empty label")
        return labels


class GitHubConfig(Strict):
    api_url: HttpUrl = "https://api.github.com"
    graphql_url: HttpUrl | None = None  # default: api_url + /graphql
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
            value = env_token(name)
            if value:
                return value, name
        return None, " or ".join(names)
