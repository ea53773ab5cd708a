"""The `[alerts]` config section, owned by the alerts (warehouse/alerts.py): `[[alerts.rules]]`
and the dashboard link that messages carry. Kept apart from the detection so that the config
model imports nothing but pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warehouse.validation import HttpUrl

ALERT_METRICS = ("deployment_frequency", "lead_time")
BAD_DIRECTION = {"deployment_frequency": "fall", "lead_time": "rise"}


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Literal["deployment_frequency", "lead_time"]
    scope: Literal["org", "team", "repo"] = "team"
    recent_weeks: int = Field(default=4, ge=1, le=26)
    baseline_weeks: int = Field(default=12, ge=4, le=104)
    min_change: float = Field(default=0.2, gt=0, lt=10)
    # fall / rise; default: the direction that is bad for the metric.
    direction: Literal["fall", "rise"] | None = None

    @model_validator(mode="after")
    def _direction(self) -> AlertRule:
        if self.direction is None:
            self.direction = BAD_DIRECTION[self.metric]
        return self

    @property
    def name(self) -> str:
        return f"{self.metric}-{self.direction}-{self.scope}-{self.recent_weeks}v{self.baseline_weeks}"


class AlertsConfig(BaseModel):
    """`[alerts]` in the config: `[[alerts.rules]]` and the dashboard link for messages."""

    model_config = ConfigDict(extra="forbid")

    rules: list[AlertRule] = Field(default_factory=list)
    dashboard_url: HttpUrl | None = None

    def effective_rules(self) -> list[AlertRule]:
        """The configured rules, else the defaults: deployment frequency falling and lead time
        rising, per team and for the org, 4 recent weeks against 12, by at least 20%."""
        if self.rules:
            return self.rules
        return [AlertRule(metric=m, scope=s) for m in ALERT_METRICS for s in ("team", "org")]
