"""The `[pagerduty]` config section, owned by the PagerDuty collector. The token is read from
the environment variable `token_env` names (default PAGERDUTY_TOKEN), never from the file."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from collectors.secrets import env_token
from warehouse.errors import UserError
from warehouse.validation import HttpUrl, Strict


class PagerDutyService(Strict):
    id: str  # the service id, e.g. PIJ90N7
    repos: list[str] = Field(default_factory=list)  # owner/name (or group/name) it serves
    team: str | None = None  # else the team of its repositories

    @model_validator(mode="after")
    def _maps_somewhere(self) -> PagerDutyService:
        if not self.repos and not self.team:
            raise ValueError(f"service {self.id!r} needs `repos` or `team`")
        return self


class PagerDutyConfig(Strict):
    api_url: HttpUrl = "https://api.pagerduty.com"
    token_env: str = "PAGERDUTY_TOKEN"
    since: date | None = None
    backfill_days: int = Field(default=90, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=5, ge=0)
    services: list[PagerDutyService] = Field(default_factory=list)

    def token(self) -> str:
        value = env_token(self.token_env)
        if not value:
            raise UserError(f"no PagerDuty token: set {self.token_env} (a read-only REST API key)")
        return value
