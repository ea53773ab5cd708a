"""The `[metrics]` config section: the rules the metric SQL applies."""

from __future__ import annotations

from pydantic import Field, field_validator

from warehouse.validation import Strict, check_regex


class MetricsConfig(Strict):
    # Environments whose name matches this (case-insensitive) are production.
    production_environment: str = "^(prod|production)$"
    # A deployment run that itself ended in failure counts as a failed deployment.
    failed_runs_count: bool = True
    # A hotfix, revert or rollback blames a deployment only when it came within this many hours
    # of it ("needed immediate intervention"; docs/metrics.md says why 14 days).
    failure_window_hours: float = Field(default=336, ge=0)
    # An incident naming no deployment is attributed to the last successful production
    # deployment of its repository (or service) that finished this many hours before it opened.
    incident_window_hours: float = Field(default=48, ge=0)

    _regex = field_validator("production_environment")(check_regex)
