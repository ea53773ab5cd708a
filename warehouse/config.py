"""The `[metrics]` config section: the rules the metric SQL applies."""

from __future__ import annotations

from pydantic import field_validator

from warehouse.validation import Strict, check_regex


class MetricsConfig(Strict):
    # Environments whose name matches this (case-insensitive) are production.
    production_environment: str = "^(prod|production)$"
    # A deployment run that itself ended in failure counts as a failed deployment.
    failed_runs_count: bool = True

    _regex = field_validator("production_environment")(check_regex)
