"""The `[gitlab]` config section, owned by the GitLab collector. The token is read from the
environment variable `token_env` names (default GITLAB_TOKEN), never from the file."""

from __future__ import annotations

import re
from datetime import date

from pydantic import Field, field_validator

from collectors.secrets import env_token
from warehouse.errors import UserError
from warehouse.validation import HttpUrl, Strict


class GitLabConfig(Strict):
    api_url: HttpUrl = "https://gitlab.com/api/v4"  # self-managed: https://HOST/api/v4
    token_env: str = "GITLAB_TOKEN"
    since: date | None = None
    backfill_days: int = Field(default=90, ge=1)
    groups: list[str] = Field(default_factory=list)  # full paths; subgroups included
    projects: list[str] = Field(default_factory=list)  # group/name (any depth)
    # Issues carrying one of these labels are incidents too (issues of type incident always are).
    incident_labels: list[str] = Field(default_factory=list)
    cache_dir: str = ".cache/dora-impact/gitlab"
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=5, ge=0)

    @field_validator("projects")
    @classmethod
    def _paths(cls, projects: list[str]) -> list[str]:
        for p in projects:
            if not re.fullmatch(r"[\w.-]+(/[\w.-]+)+", p):
                raise ValueError(f"{p!r} is not group/name")
        return projects

    def token(self) -> str:
        value = env_token(self.token_env)
        if not value:
            raise UserError(f"no GitLab token: set {self.token_env} (a token with the read_api scope)")
        return value
