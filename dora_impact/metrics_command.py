"""The `metrics` command: DORA metrics per org, team or repository and per period."""

from __future__ import annotations

from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact.errors import UserError, parse_day
from dora_impact.output import emit, hours, percent

FORMATS_OUT = ("table", "json", "csv")
METRIC_TABLE = [
    ("key", "key"), ("period", "period"), ("period_days", "days", hours), ("deployments", "deploys"),
    ("deployments_per_week", "/week", hours), ("changes", "changes"),
    ("lead_time_median_hours", "lead h", hours), ("lead_time_p90_hours", "p90 h", hours),
    ("failed_deployments", "failed"), ("production_deployments", "of"),
    ("change_fail_rate", "fail %", percent), ("recovery_time_median_hours", "recover h", hours),
    ("rework_rate", "rework %", percent), ("dora_level", "level"),
]


def no_rows(wh, since: str | None, until: str | None) -> str:
    """The one line for a range that holds no production deployment: which range, and where
    the data is."""
    from warehouse.compare import data_span

    asked = f"from {since or 'the start'} to {until or 'today'}"
    first, last = data_span(wh)
    if first is None:
        return "no data: the database holds no deployments yet (import, sync or demo first)"
    return (f"no production deployments {asked} (the data runs from {first.isoformat()} to "
            f"{last.isoformat()})")


def print_metrics(
    context: AppContext,
    by: str = "org",
    period: str = "month",
    since: str | None = None,
    until: str | None = None,
    fmt: str = "table",
) -> None:
    """Check the options, compute the metrics read-only and print them in the chosen format."""
    from warehouse.metrics import PERIODS, SCOPES, compute_metrics
    from warehouse.metrics_sql import metric_keys

    for option, value, allowed in (
        ("--by", by, SCOPES), ("--period", period, PERIODS), ("--format", fmt, FORMATS_OUT),
    ):
        if value not in allowed:
            raise UserError(f"{option} {value!r}: use one of {', '.join(allowed)}")
    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise UserError(f"--since {since} is after --until {until}")
    with context.open(read_only=True) as wh:
        rows = compute_metrics(wh, context.config.metrics, by, period, first, last)
        if not rows:  # an empty table with exit 0 reads as "zero deployments", which it is not
            raise UserError(no_rows(wh, since, until))
    caption = None
    if fmt == "table" and any(not r["complete"] for r in rows):
        # A partial period's rate is per covered day; the mark keeps it from reading as a fall.
        rows = [{**r, "period": r["period"] + ("" if r["complete"] else "*")} for r in rows]
        caption = "* partial period: the data covers only part of it; rates are per covered day"
    # The catalog's columns (warehouse/catalog.py), any added metric's included.
    emit(rows, fmt, metric_keys(), METRIC_TABLE, title=f"DORA metrics by {by} and {period}", caption=caption)


def register(app: typer.Typer) -> None:
    @app.command("metrics")
    def metrics_cmd(
        ctx: typer.Context,
        by: Annotated[str, typer.Option(help="org, team or repo.")] = "org",
        period: Annotated[str, typer.Option(help="week, month or quarter.")] = "month",
        since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD, UTC).")] = None,
        until: Annotated[str | None, typer.Option(help="Last day, inclusive (YYYY-MM-DD).")] = None,
        fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    ) -> None:
        """DORA metrics per org, team or repository and per week, month or quarter."""
        print_metrics(ctx.obj, by, period, since, until, fmt)
