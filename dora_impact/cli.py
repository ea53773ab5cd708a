"""The `dora-impact` command line: a thin shell over collectors/ and warehouse/.

Exit codes: 0 ok, 1 the job ran and found something (e.g. a regression), 2 bad input or
configuration (one line on stderr, no traceback), 3 any other failure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from collectors.github.secrets import REDACT
from dora_impact import dashboard_command, demo_command, impact_command, sync_command
from dora_impact.context import AppContext
from dora_impact.errors import UserError, parse_day
from dora_impact.output import emit, hours, percent

app = typer.Typer(
    name="dora-impact",
    help="DORA delivery metrics, and whether your platform initiatives made delivery "
    "faster and safer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option("--db", envvar="DORA_IMPACT_DB", help="DuckDB file.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", envvar="DORA_IMPACT_CONFIG", help="TOML config file."),
    ] = None,
) -> None:
    ctx.obj = AppContext.resolve(db, config)


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders of files, to load.")],
    entity_name: Annotated[
        str | None,
        typer.Option("--entity", help="Entity of every file (else taken from each file name)."),
    ] = None,
) -> None:
    """Load canonical CSV / JSON Lines / Parquet files, all-or-nothing."""
    from collectors.importer import check_files, expand, load_files
    from collectors.teams import apply_config_teams

    files = expand(paths)
    check_files(files, entity_name)  # before the database is even opened: bad input writes nothing
    context: AppContext = ctx.obj
    console = Console(stderr=True)
    with context.open() as wh:
        load_files(wh, files, entity_name, on_file=lambda done: console.print(done.describe()))
        owned = apply_config_teams(wh, context.config, source="import")
    if owned.new or owned.updated:
        console.print(f"teams from the config: {owned.new} new, {owned.updated} updated")


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
    from warehouse.metrics import METRIC_KEYS, PERIODS, SCOPES, compute_metrics

    for option, value, allowed in (
        ("--by", by, SCOPES), ("--period", period, PERIODS), ("--format", fmt, FORMATS_OUT),
    ):
        if value not in allowed:
            raise UserError(f"{option} {value!r}: use one of {', '.join(allowed)}")
    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise UserError(f"--since {since} is after --until {until}")
    context: AppContext = ctx.obj
    with context.open(read_only=True) as wh:
        rows = compute_metrics(wh, context.config.metrics, by, period, first, last)
    emit(rows, fmt, METRIC_KEYS, METRIC_TABLE, title=f"DORA metrics by {by} and {period}")


FORMATS_OUT = ("table", "json", "csv")
METRIC_TABLE = [
    ("key", "key"), ("period", "period"), ("deployments", "deploys"),
    ("deployments_per_week", "/week", hours), ("changes", "changes"),
    ("lead_time_median_hours", "lead h", hours), ("lead_time_p90_hours", "p90 h", hours),
    ("failed_deployments", "failed"), ("production_deployments", "of"),
    ("change_fail_rate", "fail %", percent), ("recovery_time_median_hours", "recover h", hours),
    ("rework_rate", "rework %", percent), ("dora_level", "level"),
]

demo_command.register(app)
sync_command.register(app)
impact_command.register(app)
dashboard_command.register(app)


def run() -> None:
    """Entry point: turns UserError into one line and exit 2, anything else into exit 3."""
    try:
        # Without standalone mode click returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        typer.echo(REDACT(f"dora-impact: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, exit 3
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        # A secret seen by this process never reaches the terminal, even in an unexpected error.
        typer.echo(REDACT(f"dora-impact: error: {type(exc).__name__}: {exc}"), err=True)
        sys.exit(3)
