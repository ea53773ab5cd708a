"""The `[alerts]` config section, owned by the alerts (warehouse/alerts.py): `[[alerts.rules]]`,
`[[alerts.routes]]` (a team's own webhook and mentions), the opt-in weekly digest and the
dashboard link that messages carry. Kept apart from the detection so that the config model
imports nothing but pydantic."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warehouse import catalog
from warehouse.validation import HttpUrl

ALERT_METRICS = ("deployment_frequency", "lead_time", "change_fail_rate", "recovery_time")
# The direction that is bad for each: against the metric's own (the catalog's `better`).
BAD_DIRECTION = {m: "fall" if catalog.by_name()[m].better > 0 else "rise" for m in ALERT_METRICS}
# The change each rule is designed to detect (the CUSUM's alternative). Failure rates and
# recovery times are sparse and noisy: only a large change is worth a message.
DEFAULT_MIN_CHANGE = {"deployment_frequency": 0.25, "lead_time": 0.25, "change_fail_rate": 0.5,
                      "recovery_time": 0.5}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal["deployment_frequency", "lead_time", "change_fail_rate", "recovery_time"]
    scope: Literal["org", "team", "repo"] = "team"
    # The change to detect, relative (0.25: a 25% fall or rise); default per metric.
    min_change: float | None = Field(default=None, gt=0, lt=10)
    # fall / rise; default: the direction that is bad for the metric.
    direction: Literal["fall", "rise"] | None = None
    # The frozen baseline: at least these weeks (26 or more: a season of the team's noise), up to
    # 52 (or these, if more) when the history holds them.
    baseline_weeks: int = Field(default=26, ge=26, le=104)
    # Override of the CUSUM threshold (log-likelihood units); default: the calibrated one.
    threshold: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _defaults(self) -> AlertRule:
        if self.direction is None:
            self.direction = BAD_DIRECTION[self.metric]
        if self.min_change is None:
            self.min_change = DEFAULT_MIN_CHANGE[self.metric]
        if self.direction == "fall" and self.min_change >= 1:
            raise ValueError("min_change: a fall must be under 1 (100%)")
        return self

    @property
    def ratio(self) -> float:
        """The alternative as a ratio to the baseline (0.75: a 25% fall)."""
        change = float(self.min_change or 0)
        return 1 - change if self.direction == "fall" else 1 + change

    @property
    def name(self) -> str:
        return f"{self.metric}-{self.direction}-{self.scope}"


class AlertRoute(BaseModel):
    """A team's own channel: its messages go to the webhook in `webhook_env` (Slack or JSON)."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1)
    webhook_env: str  # the NAME of the environment variable that holds the URL, never the URL
    kind: Literal["slack", "webhook"] = "slack"
    mentions: list[str] = Field(default_factory=list)  # e.g. "<!subteam^S0123>", "<@U0456>"
    # Also send the team's messages to the org-wide channels (SLACK_WEBHOOK_URL, ...).
    also_default: bool = False

    @field_validator("webhook_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable (letters, digits, _), not a URL")
        return value


class DigestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    weeks: int = Field(default=4, ge=1, le=26)  # the last week against the mean of the weeks before


class AlertsConfig(BaseModel):
    """`[alerts]` in the config."""

    model_config = ConfigDict(extra="forbid")

    rules: list[AlertRule] = Field(default_factory=list)
    routes: list[AlertRoute] = Field(default_factory=list)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    dashboard_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        names = [r.name for r in self.rules]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"rules: {name} is given twice")
        teams = [r.team for r in self.routes]
        for team in teams:
            if teams.count(team) > 1:
                raise ValueError(f"routes: team {team!r} is given twice")
        return self

    def effective_rules(self) -> list[AlertRule]:
        """The configured rules, else the defaults: deployment frequency falling and lead time
        rising, per team (change fail rate, recovery time and the org scope are opt-in)."""
        if self.rules:
            return self.rules
        return [AlertRule(metric=m) for m in ("deployment_frequency", "lead_time")]
