"""The `impact` command (registered on the CLI app by cli.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("impact")
    def impact_cmd(ctx: typer.Context) -> None:
        """Not built yet."""
        raise typer.Exit(3)
