"""The config sections the dashboard reads: the metric rules and the initiatives.

The dashboard is a room of its own beside the shell, so it reads the config file through the
warehouse's loader into this model rather than importing the shell. Other sections are
ignored here: `dora-impact dashboard` has already validated the whole file before serving.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from warehouse.config import MetricsConfig
from warehouse.impact.config import InitiativeConfig
from warehouse.validation import read_toml_config


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    initiatives: list[InitiativeConfig] = Field(default_factory=list)


def load_settings(path: str | None) -> DashboardSettings:
    return read_toml_config(Path(path), DashboardSettings) if path else DashboardSettings()
