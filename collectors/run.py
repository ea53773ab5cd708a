"""What every source's run takes, tells and returns, the same for all of them (GitHub, GitLab,
PagerDuty, a local repository): the options of a sync, the progress a front end is told, one
result and one failure shape. A runner is a class built as `Runner(wh, config, options,
progress)` whose `run()` returns a `RunResult`; its `result` holds what was done so far when
`run()` raises (a host that could not be reached), so the caller can say what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from collectors.http import Stats
from collectors.shards import Shard
from warehouse.db import LoadCounts


@dataclass
class RunOptions:
    full: bool = False  # refetch everything (cursors cleared)
    since: date | None = None  # start of the first backfill
    shard: Shard | None = None  # only this shard's repositories (a source that splits them)
    git: Path | None = None  # a local repository instead of the configured sources


@dataclass
class Failure:
    """One resource that could not be read; everything else of the run went on."""

    scope: str  # the repository, project or service
    resource: str  # what of it could not be read
    message: str

    def line(self) -> str:
        return f"{self.scope} {self.resource}: {self.message}".replace("  ", " ")


@dataclass
class RunResult:
    source: str  # as shown: the source's title, or the repository a local run read
    scope_kind: str = "repositories"  # what `scopes` are, as shown (projects, services)
    scopes: list[str] = field(default_factory=list)  # what the run read
    counts: dict[str, LoadCounts] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cost: Stats | None = None  # what the API calls cost (None: no API)

    def add(self, counts: dict[str, LoadCounts]) -> None:
        for name, c in counts.items():
            self.counts.setdefault(name, LoadCounts())
            self.counts[name] += c

    def stored(self) -> bool:
        return any(c.new or c.updated for c in self.counts.values())

    def stats(self) -> str:
        """One line of what the run cost; "" for a run without API calls."""
        if self.cost is None:
            return ""
        c = self.cost
        points = f"rate-limit points used: {c.points}"
        if c.graphql_points:
            points += f" (REST {c.rest_points}, GraphQL {c.graphql_points})"
        return (
            f"{self.scope_kind}: {len(self.scopes)}   requests: {c.requests}   {points}   "
            f"304 not modified: {c.not_modified}   waited: {c.waited_seconds:.0f} s"
        )


class Progress(Protocol):
    """What a front end is told while a source runs. A scope is a repository, project or
    service; `step(scope, ...)` with scope "*" is about the whole run."""

    def scopes(self, names: list[str]) -> None: ...
    def step(self, scope: str, resource: str) -> None: ...
    def rows(self, scope: str, resource: str, counts: dict[str, LoadCounts]) -> None: ...
    def scope_done(self, scope: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def wait(self, seconds: float, why: str) -> None: ...


class Silent:
    """Progress told to nobody (tests, library use)."""

    def scopes(self, names: list[str]) -> None: ...
    def step(self, scope: str, resource: str) -> None: ...
    def rows(self, scope: str, resource: str, counts: dict[str, LoadCounts]) -> None: ...
    def scope_done(self, scope: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def wait(self, seconds: float, why: str) -> None: ...


class Runner(Protocol):
    result: RunResult

    def run(self) -> RunResult: ...
