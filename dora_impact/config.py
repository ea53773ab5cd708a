"""The config model and its read live in the application layer (dora_impact_app/config.py),
shared with the dashboard; the names are kept here for the shell's modules."""

from dora_impact_app.config import DEFAULT_DB, Config, load_config

__all__ = ["DEFAULT_DB", "Config", "load_config"]
