"""The registered sources and the sync over them.

A source is one row of `SOURCES`: its name, the config section that asks for it and its
runner, which takes and returns what collectors/run.py declares for every source (the
options, a progress, one `RunResult` with its `Failure`s). `sync` iterates the registry in
order (GitHub, GitLab, PagerDuty: incidents last, so the deployments they name are there),
runs the after-load step after each source, and reports an unreachable host with what was
stored before it. A local repository (`sync --git PATH`) is a source too, taken instead of
the configured ones. Adding a source: a runner under collectors/ and its row here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from collectors.config import SourcesSettings
from collectors.github.sync import GitHubSync
from collectors.gitlab.sync import GitLabSync
from collectors.http import Unreachable
from collectors.localgit import LocalGitSync
from collectors.pagerduty.sync import PagerDutySync
from collectors.run import Failure, Progress, Runner, RunOptions, RunResult
from dora_impact_app.after_load import AfterLoad, after_load
from warehouse.db import Warehouse
from warehouse.errors import UserError


class PartialFailure(UserError):
    """Some repositories or resources failed; everything else was synced (exit 3)."""

    exit_code = 3

    def __init__(self, failures: list[Failure]) -> None:
        super().__init__(
            f"partial failure: {len(failures)} resource(s) failed; everything else was synced"
        )
        self.failures = failures


class HostUnreachable(UserError):
    """The API host could not be reached: nothing (more) was synced (exit 4)."""

    exit_code = 4


@dataclass(frozen=True)
class Source:
    """One registered source: what it is called, the config section that asks for it (None:
    `sync --git PATH`), and its runner (collectors/run.py)."""

    name: str  # as in `source` columns and cursors
    title: str  # as shown
    runner: Callable[[Warehouse, SourcesSettings, RunOptions, Progress | None], Runner]
    section: str | None
    shardable: bool = False  # `sync --shard` splits its repositories
    counts_incidents: bool = True  # its run can change how incidents are attributed

    def configured(self, config: SourcesSettings, options: RunOptions) -> bool:
        if self.section is None:
            return options.git is not None
        return options.git is None and getattr(config, self.section) is not None


@dataclass
class Synced:
    """One source's run and the after-load step that followed it."""

    result: RunResult
    after: AfterLoad


# In the order they run.
SOURCES: list[Source] = [
    Source("github", "GitHub", GitHubSync, "github", shardable=True),
    Source("gitlab", "GitLab", GitLabSync, "gitlab"),
    Source("pagerduty", "PagerDuty", PagerDutySync, "pagerduty"),
    Source("git", "local git", LocalGitSync, None, counts_incidents=False),
]

Opener = Callable[..., AbstractContextManager[Warehouse]]


def selected(config: SourcesSettings, options: RunOptions) -> list[Source]:
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


def not_sharded(config: SourcesSettings, options: RunOptions) -> list[Source]:
    """Configured sources a shard worker leaves to a plain `sync`."""
    if options.shard is None:
        return []
    return [s for s in SOURCES if not s.shardable and s.configured(config, options)]


def sync(
    open_warehouse: Opener,
    config: SourcesSettings,
    options: RunOptions,
    progress: Callable[[Source], AbstractContextManager[Progress | None]] | None = None,
    on_result: Callable[[Synced], None] | None = None,
) -> list[Synced]:
    """Run every selected source, each in its own write of the warehouse followed by the
    after-load step; `on_result` sees each result as it is ready. Raises HostUnreachable
    (saying what was stored) when a host cannot be reached, PartialFailure (after every
    source ran) when some resource failed."""
    results: list[Synced] = []
    for source in selected(config, options):
        open_options: dict[str, Any] = {}
        if options.shard is not None:
            open_options["shard"] = (options.shard.k, options.shard.n)
        runner: Runner | None = None
        try:
            with open_warehouse(**open_options) as wh, _progress(progress, source) as reporter:
                runner = source.runner(wh, config, options, reporter)
                result = runner.run()
                synced = Synced(result, after_load(wh, config, count_incidents=source.counts_incidents))
        except Unreachable as exc:
            done = [f"{r.result.source} was synced" for r in results]
            if runner is not None and runner.result.stored():
                done.append(f"what {source.title} read before")
            stored = f"{' and '.join(done)}: stored" if done else "nothing was synced"
            raise HostUnreachable(f"{exc}; {stored}") from None
        results.append(synced)
        if on_result is not None:
            on_result(synced)
    failures = [f for r in results for f in r.result.failures]
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
