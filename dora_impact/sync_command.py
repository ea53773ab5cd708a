"""The `sync` command: pull from every configured source ([github], [pagerduty]) or a local
repository (--git PATH). Sources run in order GitHub, GitLab, PagerDuty (incidents last, so
the deployments they name are there).

Exit codes: 0 everything synced; 2 bad configuration or a missing/rejected token (one line
naming the variable and the scope needed); 3 partial failure: some repository or resource
failed (each is listed), everything else was synced and stored; 4 the API host could not be
reached (one line naming host and cause): try again later.
"""

from __future__ import annotations

import logging
from datetime import date
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

from collectors.secrets import REDACT, install_log_filter
from dora_impact.errors import UserError, parse_day
from warehouse.db import LoadCounts


class PartialFailure(UserError):
    """Some repositories or resources failed; everything else was synced (exit 3)."""

    exit_code = 3


class HostUnreachable(UserError):
    """The API host could not be reached: nothing (more) was synced (exit 4)."""

    exit_code = 4


class RichReporter:
    """One progress line per repository (the resource being read, rows so far), one for the
    whole run, and a line for every warning and rate-limit wait."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[repo]}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}
        self.rowcount: dict[str, int] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def repos(self, names: list[str]) -> None:
        self.overall = self.progress.add_task("", total=len(names), repo="repositories")

    def step(self, repo: str, resource: str) -> None:
        if repo == "*":
            if self.overall is not None:
                self.progress.update(self.overall, description=resource)
            return
        if repo not in self.tasks:
            self.tasks[repo] = self.progress.add_task("", total=None, repo=repo)
        self.progress.update(self.tasks[repo], description=f"{resource}  ({self.rowcount.get(repo, 0)} rows)")

    def rows(self, repo: str, resource: str, counts: dict[str, LoadCounts]) -> None:
        self.rowcount[repo] = self.rowcount.get(repo, 0) + sum(c.new + c.updated for c in counts.values())

    def repo_done(self, repo: str) -> None:
        if self.overall is not None:
            self.progress.advance(self.overall)
        task = self.tasks.get(repo)
        if task is not None:
            self.progress.update(
                task,
                total=1,
                completed=1,
                description=f"done: {self.rowcount.get(repo, 0)} rows new or updated",
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
        day = parse_day(since, "--since")
        console = Console(stderr=False, highlight=False)
        if shard is not None:
            _sync_shard(app_ctx, shard, full, day, git, console)
            return
        if git is not None:
            _sync_git(app_ctx, git, day, full, console)
            return
        config = app_ctx.config
        if config.github is None and config.gitlab is None and config.pagerduty is None:
            raise UserError(
                "nothing to sync: add a [github], [gitlab] or [pagerduty] section to the config, "
                "or pass --git PATH"
            )
        from collectors.http import Unreachable

        failures: list[str] = []
        ran: list[str] = []  # sources that completed before a host turned out unreachable
        try:
            if config.github is not None:
                failures += _sync_github(app_ctx, full, day, console)
                ran.append("GitHub")
            if config.gitlab is not None:
                failures += _sync_gitlab(app_ctx, full, day, console)
                ran.append("GitLab")
            if config.pagerduty is not None:
                failures += _sync_pagerduty(app_ctx, full, day, console)
                ran.append("PagerDuty")
        except Unreachable as exc:
            done = f"{' and '.join(ran)} was synced and is stored" if ran else "nothing was synced"
            raise HostUnreachable(f"{exc}; {done}") from None
        _report_failures(failures)


def _sync_shard(app_ctx, text: str, full: bool, day: date | None, git: Path | None, console: Console) -> None:
    """One shard worker: GitHub only (GitLab and PagerDuty are not sharded: one plain `sync`
    job takes them), writing its own shard's rows."""
    from collectors.http import Unreachable
    from collectors.shards import Shard

    shard = Shard.parse(text)
    config = app_ctx.config
    if git is not None:
        raise UserError("--shard splits the [github] repositories; it cannot be combined with --git")
    if config.github is None:
        raise UserError("--shard: no [github] section in the config: nothing to shard")
    skipped = [f"[{name}]" for name in ("gitlab", "pagerduty") if getattr(config, name) is not None]
    if skipped:
        console.print(f"shard {shard}: {', '.join(skipped)} not synced here (a plain `sync` takes them)")
    try:
        failures = _sync_github(app_ctx, full, day, console, shard)
    except Unreachable as exc:
        raise HostUnreachable(f"{exc}; nothing was synced") from None
    _report_failures(failures)


def _report_failures(failures: list[str]) -> None:
    """Each failed resource on its own line, then exit 3: everything else was stored."""
    if failures:
        for line in failures:
            typer.echo(REDACT(f"dora-impact: failed: {line}"), err=True)
        raise PartialFailure(
            f"partial failure: {len(failures)} resource(s) failed; everything else was synced"
        )


def _sync_github(app_ctx, full: bool, day: date | None, console: Console, shard=None) -> list[str]:
    from collectors.github.sync import GitHubSync
    from collectors.http import Unreachable

    options = {"shard": (shard.k, shard.n)} if shard else {}
    with app_ctx.open(**options) as wh, RichReporter(console) as reporter:
        sync = GitHubSync(wh, app_ctx.config, full=full, since=day, reporter=reporter, shard=shard)
        try:
            result = sync.run()
        except Unreachable as exc:
            stored = any(c.new or c.updated for c in sync.result.counts.values())
            raise HostUnreachable(
                f"{exc}; {'what was synced before is stored' if stored else 'nothing was synced'}"
            ) from None
    console.print(summary_table(result.counts))
    a = result.attribution
    console.print(
        f"repositories: {len(result.repos)}   requests: {result.requests}   "
        f"rate-limit points used: {result.points} "
        f"(REST {result.rest_points}, GraphQL {result.graphql_points})"
        f"   304 not modified: {result.not_modified}   waited: {result.waited_seconds:.0f} s"
    )
    if a:
        console.print(
            f"incidents attributed by named cause: {a.get('cause', 0)}, by time window: "
            f"{a.get('window', 0)}, unattributed: {a.get('unattributed', 0)}"
        )
    return [f"{f.repo} {f.resource}: {f.message}" for f in result.failures]


def _sync_gitlab(app_ctx, full: bool, day: date | None, console: Console) -> list[str]:
    from collectors.gitlab.sync import GitLabSync

    with app_ctx.open() as wh, console.status("GitLab projects"):
        result = GitLabSync(wh, app_ctx.config, full=full, since=day).run()
    console.print("GitLab:")
    console.print(summary_table(result.counts))
    console.print(f"GitLab projects: {len(result.projects)}   requests: {result.requests}   "
                  f"waited: {result.waited_seconds:.0f} s")
    return [f"{project} {stream}: {message}" for project, stream, message in result.failures]


def _sync_pagerduty(app_ctx, full: bool, day: date | None, console: Console) -> list[str]:
    from collectors.pagerduty.sync import PagerDutySync

    with app_ctx.open() as wh, console.status("PagerDuty incidents"):
        result = PagerDutySync(wh, app_ctx.config, full=full, since=day).run()
    console.print("PagerDuty:")
    console.print(summary_table(result.counts))
    services = len(app_ctx.config.pagerduty.services)
    console.print(f"PagerDuty services: {services}   requests: {result.requests}")
    return [f"pagerduty service {service}: {message}" for service, message in result.failures]


def _sync_git(app_ctx, path: Path, day: date | None, full: bool, console: Console) -> None:
    from collectors.localgit import sync_local

    with app_ctx.open() as wh:
        with console.status(f"reading {path}"):
            result = sync_local(wh, app_ctx.config, path, since=day, full=full)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"{result.repo}:")
    console.print(summary_table(result.counts))
