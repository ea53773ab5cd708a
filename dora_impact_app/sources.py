"""The registered sources and the sync over them.

A source is one adapter here: whether the config asks for it, how it opens the warehouse,
and its run turned into the one result shape (`SourceResult`, failures as `SourceFailure`).
`sync` iterates the registry in order (GitHub, GitLab, PagerDuty: incidents last, so the
deployments they name are there), runs the after-load step after each source, and reports
an unreachable host with what was stored before it. A local repository (`sync --git PATH`)
is a source too, taken instead of the configured ones. Adding a source: a runner under
collectors/, and one adapter and registry entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from collectors.config import SourcesSettings
from collectors.http import Unreachable
from collectors.shards import Shard
from dora_impact_app.after_load import AfterLoad, after_load
from warehouse.db import LoadCounts, Warehouse
from warehouse.errors import UserError


class PartialFailure(UserError):
    """Some repositories or resources failed; everything else was synced (exit 3)."""

    exit_code = 3

    def __init__(self, failures: list[SourceFailure]) -> None:
        super().__init__(
            f"partial failure: {len(failures)} resource(s) failed; everything else was synced"
        )
        self.failures = failures


class HostUnreachable(UserError):
    """The API host could not be reached: nothing (more) was synced (exit 4)."""

    exit_code = 4


@dataclass
class SyncOptions:
    full: bool = False  # refetch everything (cursors cleared)
    since: date | None = None  # start of the first backfill
    shard: Shard | None = None  # only this shard's repositories (GitHub)
    git: Path | None = None  # a local repository instead of the configured sources


@dataclass
class SourceFailure:
    scope: str  # the repository, project or service
    resource: str  # what of it could not be read
    message: str

    def line(self) -> str:
        return f"{self.scope} {self.resource}: {self.message}".replace("  ", " ")


@dataclass
class SourceResult:
    source: str  # the source's title
    counts: dict[str, LoadCounts] = field(default_factory=dict)
    failures: list[SourceFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: str = ""  # one line of what the run cost (requests, waits)
    after: AfterLoad | None = None


class Progress(Protocol):
    """What a front end is told while a source runs (GitHub tells all of it, others less)."""

    def repos(self, names: list[str]) -> None: ...
    def step(self, repo: str, resource: str) -> None: ...
    def rows(self, repo: str, resource: str, counts: dict[str, LoadCounts]) -> None: ...
    def repo_done(self, repo: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def wait(self, seconds: float, why: str) -> None: ...


class Source(Protocol):
    name: str  # as in `source` columns and cursors
    title: str  # as shown
    shardable: bool  # `sync --shard` splits its repositories
    counts_incidents: bool  # its run can change how incidents are attributed

    def configured(self, config: SourcesSettings, options: SyncOptions) -> bool: ...
    def run(self, wh: Warehouse, config: SourcesSettings, options: SyncOptions,
            progress: Progress | None) -> SourceResult: ...


class GitHubSource:
    name, title, shardable, counts_incidents = "github", "GitHub", True, True

    def configured(self, config: SourcesSettings, options: SyncOptions) -> bool:
        return options.git is None and config.github is not None

    def run(self, wh, config, options, progress) -> SourceResult:
        from collectors.github.sync import GitHubSync

        sync = GitHubSync(wh, config, full=options.full, since=options.since, reporter=progress,
                          shard=options.shard)
        try:
            result = sync.run()
        except Unreachable as exc:
            stored = any(c.new or c.updated for c in sync.result.counts.values())
            raise HostUnreachable(
                f"{exc}; {'what was synced before is stored' if stored else 'nothing was synced'}"
            ) from None
        return SourceResult(
            self.title, result.counts,
            [SourceFailure(f.repo, f.resource, f.message) for f in result.failures],
            list(result.warnings),
            f"repositories: {len(result.repos)}   requests: {result.requests}   "
            f"rate-limit points used: {result.points} "
            f"(REST {result.rest_points}, GraphQL {result.graphql_points})"
            f"   304 not modified: {result.not_modified}   waited: {result.waited_seconds:.0f} s",
        )


class GitLabSource:
    name, title, shardable, counts_incidents = "gitlab", "GitLab", False, True

    def configured(self, config, options) -> bool:
        return options.git is None and config.gitlab is not None

    def run(self, wh, config, options, progress) -> SourceResult:
        from collectors.gitlab.sync import GitLabSync

        result = GitLabSync(wh, config, full=options.full, since=options.since).run()
        return SourceResult(
            self.title, result.counts,
            [SourceFailure(project, stream, message) for project, stream, message in result.failures],
            stats=f"GitLab projects: {len(result.projects)}   requests: {result.requests}   "
            f"waited: {result.waited_seconds:.0f} s",
        )


class PagerDutySource:
    name, title, shardable, counts_incidents = "pagerduty", "PagerDuty", False, True

    def configured(self, config, options) -> bool:
        return options.git is None and config.pagerduty is not None

    def run(self, wh, config, options, progress) -> SourceResult:
        from collectors.pagerduty.sync import PagerDutySync

        result = PagerDutySync(wh, config, full=options.full, since=options.since).run()
        return SourceResult(
            self.title, result.counts,
            [SourceFailure("pagerduty service", service, message) for service, message in result.failures],
            stats=f"PagerDuty services: {len(config.pagerduty.services)}   requests: {result.requests}",
        )


class LocalGitSource:
    name, title, shardable, counts_incidents = "git", "local git", False, False

    def configured(self, config, options) -> bool:
        return options.git is not None

    def run(self, wh, config, options, progress) -> SourceResult:
        from collectors.localgit import sync_local

        result = sync_local(wh, config, options.git, since=options.since, full=options.full)
        return SourceResult(result.repo, result.counts, warnings=list(result.warnings))


# In the order they run.
SOURCES: list[Source] = [GitHubSource(), GitLabSource(), PagerDutySource(), LocalGitSource()]

Opener = Callable[..., AbstractContextManager[Warehouse]]


def selected(config: SourcesSettings, options: SyncOptions) -> list[Source]:
    """The sources this sync runs; a UserError when there are none or the options conflict."""
    chosen = [s for s in SOURCES if s.configured(config, options)]
    if options.shard is not None:
        if options.git is not None:
            raise UserError("--shard splits the [github] repositories; it cannot be combined with --git")
        if not any(s.shardable for s in chosen):
            raise UserError("--shard: no [github] section in the config: nothing to shard")
        return [s for s in chosen if s.shardable]
    if not chosen:
        raise UserError(
            "nothing to sync: add a [github], [gitlab] or [pagerduty] section to the config, "
            "or pass --git PATH"
        )
    return chosen


def not_sharded(config: SourcesSettings, options: SyncOptions) -> list[Source]:
    """Configured sources a shard worker leaves to a plain `sync`."""
    if options.shard is None:
        return []
    return [s for s in SOURCES if not s.shardable and s.configured(config, options)]


def sync(
    open_warehouse: Opener,
    config: SourcesSettings,
    options: SyncOptions,
    progress: Callable[[Source], AbstractContextManager[Progress | None]] | None = None,
    on_result: Callable[[SourceResult], None] | None = None,
) -> list[SourceResult]:
    """Run every selected source, each in its own write of the warehouse followed by the
    after-load step; `on_result` sees each result as it is ready. Raises HostUnreachable
    (saying what was stored) when a host cannot be reached, PartialFailure (after every
    source ran) when some resource failed."""
    results: list[SourceResult] = []
    for source in selected(config, options):
        open_options: dict[str, Any] = {}
        if options.shard is not None:
            open_options["shard"] = (options.shard.k, options.shard.n)
        try:
            with open_warehouse(**open_options) as wh, _progress(progress, source) as reporter:
                result = source.run(wh, config, options, reporter)
                result.after = after_load(wh, config, count_incidents=source.counts_incidents)
        except Unreachable as exc:
            ran = [r.source for r in results]
            done = f"{' and '.join(ran)} was synced and is stored" if ran else "nothing was synced"
            raise HostUnreachable(f"{exc}; {done}") from None
        except HostUnreachable as exc:
            if results:
                ran = " and ".join(r.source for r in results)
                raise HostUnreachable(f"{exc}; {ran} was synced and is stored") from None
            raise
        results.append(result)
        if on_result is not None:
            on_result(result)
    failures = [f for r in results for f in r.failures]
    if failures:
        raise PartialFailure(failures)
    return results


@contextmanager
def _progress(factory, source: Source) -> Iterator[Progress | None]:
    if factory is None:
        yield None
        return
    with factory(source) as reporter:
        yield reporter
