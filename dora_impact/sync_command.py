"""The `sync` command: pull from every configured source ([github], [gitlab], [pagerduty]) or
a local repository (--git PATH), through the registry of sources (dora_impact_app/sources.py),
which runs them in order GitHub, GitLab, PagerDuty (incidents last, so the deployments they
name are there) with the after-load step after each. This module only shows progress and
results.

Exit codes: 0 everything synced; 2 bad configuration or a missing/rejected token (one line
naming the variable and the scope needed); 3 partial failure: some repository or resource
failed (each is listed), everything else was synced and stored; 4 the API host could not be
reached (one line naming host and cause): try again later.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from collectors.run import RunOptions
from collectors.secrets import REDACT, install_log_filter
from dora_impact.errors import parse_day
from dora_impact_app.sources import (
    HostUnreachable,  # noqa: F401 - re-exported: the exit codes of `sync`
    PartialFailure,
    Synced,
    not_sharded,
    sync,
)
from warehouse.db import LoadCounts


class RichProgress:
    """collectors/run.py's Progress drawn with rich: one line per scope (repository, project,
    service: the resource being read, rows so far), one for the whole run, and a line for
    every warning and rate-limit wait."""

    def __init__(self, console: Console, title: str) -> None:
        self.console, self.title = console, title
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[scope]}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}
        self.rowcount: dict[str, int] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def scopes(self, names: list[str]) -> None:
        self.overall = self.progress.add_task("", total=len(names), scope=self.title)

    def step(self, scope: str, resource: str) -> None:
        if scope == "*":
            if self.overall is None:
                self.overall = self.progress.add_task("", total=None, scope=self.title)
            self.progress.update(self.overall, description=resource)
            return
        if scope not in self.tasks:
            self.tasks[scope] = self.progress.add_task("", total=None, scope=scope)
        rows = self.rowcount.get(scope, 0)
        self.progress.update(self.tasks[scope], description=f"{resource}  ({rows} rows)")

    def rows(self, scope: str, resource: str, counts: dict[str, LoadCounts]) -> None:
        self.rowcount[scope] = self.rowcount.get(scope, 0) + sum(c.new + c.updated for c in counts.values())

    def scope_done(self, scope: str) -> None:
        if self.overall is not None:
            self.progress.advance(self.overall)
        task = self.tasks.get(scope)
        if task is not None:
            self.progress.update(
                task,
                total=1,
                completed=1,
                description=f"done: {self.rowcount.get(scope, 0)} rows new or updated",
            )

    def warn(self, message: str) -> None:
        self.progress.console.print(f"[yellow]warning:[/] {REDACT(message)}", highlight=False)

    def wait(self, seconds: float, why: str) -> None:
        self.progress.console.print(f"[cyan]waiting {seconds:.0f} s[/]: {REDACT(why)}", highlight=False)


def summary_table(counts: dict[str, LoadCounts]) -> Table:
    table = Table(title="rows", show_edge=False)
    table.add_column("table")
    table.add_column("new", justify="right")
    table.add_column("updated", justify="right")
    for name in sorted(counts):
        table.add_row(name, str(counts[name].new), str(counts[name].updated))
    return table


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_cmd(
        ctx: typer.Context,
        full: Annotated[bool, typer.Option("--full", help="Refetch everything (ignore cursors).")] = False,
        since: Annotated[
            str | None, typer.Option("--since", help="Start of the first backfill, YYYY-MM-DD.")
        ] = None,
        git: Annotated[
            Path | None, typer.Option("--git", help="Read a local git repository instead (no API).")
        ] = None,
        shard: Annotated[
            str | None,
            typer.Option(
                "--shard",
                help="K/N: only the GitHub repositories of shard K of N, with token "
                "DORA_GITHUB_TOKEN_SHARD_K if set (docs/scaling.md).",
            ),
        ] = None,
    ) -> None:
        """Pull deployments, runs, pull requests, commits and incidents, incrementally.

        Exit 0: done. Exit 2: bad configuration, or the GitHub token is missing or rejected.
        Exit 3: some repositories or resources failed (listed); the rest was synced.
        Exit 4: the API host could not be reached (name, refused, TLS, timeout).
        """
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        install_log_filter()
        app_ctx = ctx.obj
        console = Console(stderr=False, highlight=False)
        options = RunOptions(full=full, since=parse_day(since, "--since"), git=git)
        if shard is not None:
            from collectors.shards import Shard

            options.shard = Shard.parse(shard)
            skipped = [f"[{s.name}]" for s in not_sharded(app_ctx.config, options)]
            if skipped:
                console.print(f"shard {options.shard}: {', '.join(skipped)} not synced here "
                              "(a plain `sync` takes them)")
        try:
            sync(app_ctx.open, app_ctx.config, options,
                 lambda source: RichProgress(console, source.title),
                 lambda synced: _show(console, synced))
        except PartialFailure as exc:
            # Each failed resource on its own line, then exit 3: everything else was stored.
            for failure in exc.failures:
                typer.echo(REDACT(f"dora-impact: failed: {failure.line()}"), err=True)
            raise


def _show(console: Console, synced: Synced) -> None:
    result, after = synced.result, synced.after
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {REDACT(warning)}")
    console.print(f"{result.source}:")
    console.print(summary_table(result.counts))
    if result.stats():
        console.print(result.stats())
    if after.incident_line():
        console.print(after.incident_line())
    for warning in after.warnings:
        typer.echo(REDACT(f"dora-impact: warning: {warning}"), err=True)
