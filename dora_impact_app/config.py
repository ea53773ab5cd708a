"""The config file: TOML, read once here for both front ends (the CLI and the dashboard), and
validated by the models each room owns for its section.

`[metrics]` belongs to the warehouse (warehouse/config.py), `[[initiatives]]` to the impact
analysis (warehouse/impact/config.py), `[github]` to the GitHub collector
(collectors/github/config.py), `[gitlab]` and `[pagerduty]` to theirs (collectors/gitlab/,
collectors/pagerduty/), `[repos]` and the deployment rules to the collectors
(collectors/config.py), `[alerts]` to the alerts (warehouse/alert_rules.py), `[dashboard]`
to the dashboard (its model is here, below the dashboard: dashboard_settings.py). This module
composes them, maps legacy keys onto their current place once, and reports a bad key with
its full path. Nothing secret lives in the file: tokens come from environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from collectors.config import ChangeRules, RepoConfig
from collectors.github.config import GitHubConfig
from collectors.gitlab.config import GitLabConfig
from collectors.pagerduty.config import PagerDutyConfig
from dora_impact_app.dashboard_settings import DashboardSection
from warehouse.alert_rules import AlertsConfig
from warehouse.config import MetricsConfig
from warehouse.impact.config import InitiativeConfig
from warehouse.validation import Strict, read_toml_config

DEFAULT_DB = "dora.duckdb"


class Config(Strict):
    db: str | None = None
    # Where a DuckLake (`db = "ducklake:postgres:..."`) keeps its Parquet files: a folder or an
    # s3:// URL; needed when the lake is created (env DORA_IMPACT_LAKE_DATA_PATH otherwise).
    lake_data_path: str | None = None
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    rules: ChangeRules = Field(default_factory=ChangeRules)
    github: GitHubConfig | None = None
    gitlab: GitLabConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    teams: dict[str, list[str]] = Field(default_factory=dict)  # team -> repo globs
    initiatives: list[InitiativeConfig] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)

    source_path: Path | None = Field(default=None, exclude=True)
    # One line per legacy key read (old place -> new place), for the front ends to show.
    _deprecations: list[str] = PrivateAttr(default_factory=list)

    @property
    def deprecations(self) -> list[str]:
        return self._deprecations

    @model_validator(mode="wrap")
    @classmethod
    def _legacy_rules(cls, data: Any, handler: Any) -> Config:
        # `[github.deployments] hotfix_pattern` / `rollback_pattern` predate `[rules]`, which
        # every source reads: an old key moves to `[rules]` unless that sets it already, and
        # leaves a deprecation line.
        lines: list[str] = []
        old = data.get("github", {}).get("deployments") if isinstance(data, dict) else None
        if isinstance(data.get("github") if isinstance(data, dict) else None, dict) and isinstance(old, dict):
            moved = {k: old[k] for k in ("hotfix_pattern", "rollback_pattern") if k in old}
            if moved:
                rules = data.get("rules") if isinstance(data.get("rules"), dict) else {}
                kept = {k: v for k, v in old.items() if k not in moved}
                data = {**data, "github": {**data["github"], "deployments": kept},
                        "rules": {**moved, **rules}}
                lines = [f"[github.deployments] {k} is read as [rules] {k}; move it there" for k in moved]
        config = handler(data)
        config._deprecations.extend(lines)
        return config

    @model_validator(mode="after")
    def _shared_rules(self) -> Config:
        # GitHub's code reads its patterns from its deployment rules: they are [rules]'.
        if self.github is not None:
            self.github.deployments.hotfix_pattern = self.rules.hotfix_pattern
            self.github.deployments.rollback_pattern = self.rules.rollback_pattern
        return self

    @model_validator(mode="after")
    def _incident_window(self) -> Config:
        # `[github.incidents] window_hours` predates `[metrics] incident_window_hours` (the one
        # rule for every source): when only the former is given, it sets the latter.
        gh = self.github
        if (
            gh is not None
            and "window_hours" in gh.incidents.model_fields_set
            and "incident_window_hours" not in self.metrics.model_fields_set
        ):
            self.metrics.incident_window_hours = gh.incidents.window_hours
        return self


def load_config(path: str | Path | None) -> Config:
    """Read and validate a TOML config; no path means defaults. Errors name file and key."""
    if path is None:
        return Config()
    config = read_toml_config(Path(path), Config)
    config.source_path = Path(path)
    return config
