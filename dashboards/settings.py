"""The config the dashboard reads: the one model of the whole file and its single read
(dora_impact_app/config.py), so the dashboard and the CLI see the same metric rules, legacy
keys mapped alike, and every section validated; `[dashboard]`'s own model is
dora_impact_app/dashboard_settings.py."""

from __future__ import annotations

from dora_impact_app.config import Config, load_config
from dora_impact_app.dashboard_settings import AuthSettings, DashboardSection

__all__ = ["AuthSettings", "DashboardSection", "DashboardSettings", "load_settings"]

DashboardSettings = Config


def load_settings(path: str | None) -> Config:
    return load_config(path)
