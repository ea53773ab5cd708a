"""The `dora-impact` command line: a thin shell over collectors/ and warehouse/.

Exit codes: 0 ok, 1 the job ran and found something (e.g. a regression), 2 bad input or
configuration (one line on stderr, no traceback), 3 any other failure.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dora_impact import impact_command, sync_command
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


sync_command.register(app)
impact_command.register(app)


def run() -> None:
    """Entry point: turns UserError into one line and exit 2, anything else into exit 3."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        typer.echo(f"dora-impact: {exc}", err=True)
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
        typer.echo(f"dora-impact: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(3)
