"""The `maintain` command: lake upkeep (warehouse/maintain.py). Exit 0 when done."""

from __future__ import annotations

from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("maintain")
    def maintain_cmd(
        ctx: typer.Context,
        retention_days: Annotated[
            float | None,
            typer.Option(
                "--retention-days",
                help="Keep snapshots (time travel) this many days; default 7 or "
                "DORA_IMPACT_LAKE_RETENTION_DAYS.",
            ),
        ] = None,
    ) -> None:
        """Lake upkeep: compaction, snapshot expiry, orphan cleanup (a checkpoint on a DuckDB file).

        Safe while sync workers write. Exit 0: done.
        """

        from warehouse.maintain import maintain

        if retention_days is not None and retention_days < 0:
            raise UserError(f"--retention-days {retention_days}: must be 0 or more")
        context: AppContext = ctx.obj
        if not context.location.exists():
            typer.echo(f"{context.location}: no database yet; nothing to do")
            return
        with context.open() as wh:
            done = maintain(wh, retention_days)
        if done.snapshots_before == done.snapshots_after == 0 and done.steps == [("checkpoint", 1)]:
            typer.echo(f"{context.location}: checkpointed; a DuckDB file needs no other upkeep")
            return
        for what, count in done.steps:
            typer.echo(f"{what}: {count}")
        typer.echo(f"snapshots: {done.snapshots_before} before, {done.snapshots_after} after")
