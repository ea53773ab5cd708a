"""The weekly digest (`[alerts.digest] enabled = true`): the org's and each team's four DORA
metrics for the last complete week against the mean of the weeks before it, as one message."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from warehouse.alert_rules import DigestConfig
from warehouse.alerts import Event, last_complete_monday, team_link, week_label
from warehouse.db import Warehouse
from warehouse.metrics import compute_metrics

if TYPE_CHECKING:
    from warehouse.metrics import MetricsConfig

COLUMNS = {"deployment_frequency": "deployments_per_week", "lead_time": "lead_time_median_hours",
           "change_fail_rate": "change_fail_rate", "recovery_time": "recovery_time_median_hours"}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def digest(wh: Warehouse, cfg: MetricsConfig | None, settings: DigestConfig, today: date,
           dashboard_url: str | None) -> Event:
    """The digest of the last complete week before `today`'s."""
    last = last_complete_monday(today)
    first = last - timedelta(weeks=settings.weeks)
    rows_out = []
    for scope in ("org", "team"):
        rows = compute_metrics(wh, cfg, scope, "week", first, last + timedelta(days=6))  # type: ignore[arg-type]
        for key in sorted({r["key"] for r in rows}):
            mine = [r for r in rows if r["key"] == key]
            now = next((r for r in mine if r["period_start"] == last), None)
            before = [r for r in mine if r["period_start"] < last]
            row: dict = {"scope": scope, "key": key}
            for metric, column in COLUMNS.items():
                row[metric] = None if now is None else now[column]
                row[f"{metric}_before"] = _mean([r[column] for r in before])
            rows_out.append(row)
    label = f"{week_label(first)}..{week_label(last - timedelta(weeks=1))}"
    return Event("digest", "digest", "all", "", "org", week_label(last), None, week_label(last), label,
                 None, None, None, team_link(dashboard_url, "org", "org"), {"rows": rows_out})
