"""The config file: TOML, read here and validated by the models each room owns for its section.

`[metrics]` belongs to the warehouse (warehouse/config.py), `[[initiatives]]` to the impact
analysis (warehouse/impact/config.py), `[github]` to the GitHub collector
(collectors/github/config.py), `[gitlab]` and `[pagerduty]` to theirs (collectors/gitlab/,
collectors/pagerduty/), `[repos]` and the deployment rules to the collectors
(collectors/config.py), `[alerts]` to the alerts (warehouse/alert_rules.py). This module only
composes them and reports a bad key with its full path.
Nothing secret lives in the file: tokens come from environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from collectors.config import RepoConfig
from collectors.github.config import GitHubConfig
from collectors.gitlab.config import GitLabConfig
from collectors.pagerduty.config import PagerDutyConfig
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
    github: GitHubConfig | None = None
    gitlab: GitLabConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    teams: dict[str, list[str]] = Field(default_factory=dict)  # team -> repo globs
    initiatives: list[InitiativeConfig] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    # `[dashboard]` belongs to the dashboard (dashboards/settings.py), a room beside this one:
    # `dora-impact dashboard` has it validated there (dashboards/auth.py) before serving.
    dashboard: dict[str, Any] = Field(default_factory=dict)

    source_path: Path | None = Field(default=None, exclude=True)

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
