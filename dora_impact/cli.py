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

from collectors.secrets import REDACT
from dora_impact import (
    dashboard_command,
    demo_command,
    impact_command,
    metrics_command,
    sync_command,
    webhooks_command,
)
from dora_impact.context import AppContext
from dora_impact.errors import UserError

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


metrics_command.register(app)
demo_command.register(app)
sync_command.register(app)
impact_command.register(app)
dashboard_command.register(app)
webhooks_command.register(app)


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
