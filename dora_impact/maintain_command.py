"""The `maintain` command: publish the precomputed tables over every shard, then lake upkeep
(warehouse/maintain.py); `--reshard N` assigns the repositories to N shards anew. Exit 0 when
done, 4 when the lake kept conflicting with other writers (a later run finishes)."""

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
        reshard: Annotated[
            int | None,
            typer.Option(
                "--reshard",
                help="Change the number of shard workers to N: every repository assigned anew "
                "(balanced), the old shard schemas dropped; the next N workers sync them again.",
            ),
        ] = None,
    ) -> None:
        """Publish the precomputed tables over every shard, then lake upkeep: compaction,
        snapshot expiry, orphan cleanup (a checkpoint on a DuckDB file).

        Safe while sync workers write; run it after them so readers get fast tables. Exit 0:
        done. Exit 4: the lake kept conflicting with other writers; run it again.
        """

        from collectors.teams import apply_config_teams
        from warehouse.lake import LakeWarehouse
        from warehouse.maintain import maintain

        if retention_days is not None and retention_days < 0:
            raise UserError(f"--retention-days {retention_days}: must be 0 or more")
        if reshard is not None and reshard < 1:
            raise UserError(f"--reshard {reshard}: the number of shards must be 1 or more")
        context: AppContext = ctx.obj
        if not context.location.exists():
            typer.echo(f"{context.location}: no database yet; nothing to do")
            return
        if reshard is not None and not context.location.is_lake:
            raise UserError(f"--reshard: {context.location} is a DuckDB file, whose shards are "
                            "a hash of the name (nothing stored to change)")
        with context.open(whole=True) as wh:
            if isinstance(wh, LakeWarehouse):
                if reshard is not None:
                    dropped, counts = wh.reshard(reshard)
                    typer.echo(f"shard schemas dropped: {', '.join(dropped) or 'none'}")
                    typer.echo("repositories per shard: " + ", ".join(
                        f"{k}/{reshard}: {c}" for k, c in counts.items()))
                # The config's ownership of every repository, once, in `main`: it covers
                # those no shard owns (configured, never synced), as a file holds them; where
                # a shard wrote a repository's row, readers read the shard's.
                apply_config_teams(wh, context.config, source="config")
            done = maintain(wh, retention_days, cfg=context.config.metrics)
        if done.snapshots_before == done.snapshots_after == 0 and done.steps == [("checkpoint", 1)]:
            typer.echo(f"{context.location}: checkpointed; a DuckDB file needs no other upkeep")
            return
        for what, count in done.steps:
            typer.echo(f"{what}: {count}")
        typer.echo(f"snapshots: {done.snapshots_before} before, {done.snapshots_after} after")
