"""The `dora-impact` command line: a thin shell over collectors/ and warehouse/.

Exit codes: 0 ok, 1 the job ran and found something (e.g. a regression), 2 bad input,
configuration or usage (one line on stderr, no traceback; usage errors add the usage line),
3 any other failure, 4 nothing was done and a later run may succeed (the API host is
unreachable, or another command held the database past the wait).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from collectors.secrets import REDACT
from dora_impact import (
    alert_command,
    compare_command,
    dashboard_command,
    demo_command,
    impact_command,
    maintain_command,
    metrics_command,
    report_command,
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


def _version(value: bool) -> None:
    if value:
        from dora_impact import __version__

        typer.echo(f"dora-impact {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
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
    # readable=False: the importer checks each path itself and names it in one line (exit 2).
    paths: Annotated[
        list[Path], typer.Argument(help="Files, or folders of files, to load.", readable=False)
    ],
    entity_name: Annotated[
        str | None,
        typer.Option("--entity", help="Entity of every file (else taken from each file name)."),
    ] = None,
) -> None:
    """Load canonical CSV / JSON Lines / Parquet files, all-or-nothing."""
    from dora_impact_app.workflows import import_files

    context: AppContext = ctx.obj
    console = Console(stderr=True)
    after = import_files(context.open, context.config, paths, entity_name,
                         on_file=lambda done: console.print(done.describe())).after
    for warning in after.warnings:
        console.print(f"dora-impact: warning: {warning}", highlight=False)
    if after.incident_line():
        console.print(after.incident_line())
    if after.teams.new or after.teams.updated:
        console.print(f"teams from the config: {after.teams.new} new, {after.teams.updated} updated")


metrics_command.register(app)
demo_command.register(app)
sync_command.register(app)
impact_command.register(app)
compare_command.register(app)
alert_command.register(app)
report_command.register(app)
dashboard_command.register(app)
maintain_command.register(app)
webhooks_command.register(app)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage-type exceptions, aborts) of the click that parses the command line: typer
    >= 0.29 raises those of its vendored copy (subclasses of typer.TyperException), older
    typer those of click itself; both are handled."""
    usage: list[type] = [typer.TyperException]
    aborts: list[type] = [typer.Abort]
    try:
        import click

        usage.append(click.exceptions.ClickException)
        aborts.append(click.exceptions.Abort)
    except ImportError:  # pragma: no cover - typer without click
        pass
    return tuple(usage), tuple(aborts)


def run() -> None:
    """Entry point: UserError becomes one line and its exit code (2 by default), a usage error
    click's message with the usage line and exit 2, anything else one line and exit 3."""
    usage, aborts = _click_exceptions()
    try:
        # Without standalone mode click returns (not raises) the code of a typer.Exit.
        code = app(prog_name="dora-impact", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        typer.echo(REDACT(f"dora-impact: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except aborts:
        sys.exit(130)
    except usage as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # Bare `dora-impact`: the help is what was asked for, not an error.
            typer.echo(exc.format_message())
            sys.exit(0)
        if hasattr(exc, "show"):
            exc.show()
        else:  # a bare TyperException
            typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, exit 3
        # A secret seen by this process never reaches the terminal, even in an unexpected error.
        typer.echo(REDACT(f"dora-impact: error: {type(exc).__name__}: {exc}"), err=True)
        sys.exit(3)
