"""The GitHub sync: repositories, then per repository the git clone, every enabled stream and
the commit graph (incident attribution and team ownership are the after-load step's, which
every caller runs).

Every batch a stream yields is loaded with its cursor in one transaction, so a sync killed at
any moment resumes where it stopped. A failing resource is recorded and the rest carries on
(the command exits 3 when anything failed); a rejected token stops everything (exit 2).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from collectors.config import SourcesSettings
from collectors.git import GitError, auth_env, clone_or_fetch, fetch_commits, tag_deployments
from collectors.github import repos as repo_discovery
from collectors.github.client import AuthError, GitHubClient, GitHubError, Unreachable
from collectors.github.pulls import PullRequests
from collectors.github.streams import (
    Batch,
    Context,
    Deployments,
    Incidents,
    Releases,
    RepoInfo,
    Stream,
    WorkflowRuns,
)
from collectors.run import Failure, Progress, RunOptions, RunResult, Silent
from collectors.shards import repos_of
from collectors.shipping import load_rows, ship_and_load
from collectors.teams import team_rows
from warehouse import attribution
from warehouse.db import Cursor, LoadCounts, Warehouse
from warehouse.errors import UserError

log = logging.getLogger(__name__)

SOURCE = "github"
STREAMS: tuple[type[Stream], ...] = (Deployments, WorkflowRuns, Releases, PullRequests, Incidents)
SCOPES_HINT = (
    "a classic token needs the `repo` scope (and `read:org` for orgs); a fine-grained token needs "
    "read access to Metadata, Contents, Deployments, Actions, Issues and Pull requests"
)


RATE_LIMIT_SCOPE = "rate-limit"  # sync_state rows: resource -> {"remaining", "reset_at"}


def window_start(
    wh: Warehouse, config: SourcesSettings, since: date | None, full: bool, today: date
) -> datetime:
    """The first-backfill window: --since, else github.since, else the one chosen by the first
    sync (kept, so the graph's first deployment is bounded the same way on every run)."""
    stored = wh.cursor(SOURCE, "*", "window").cursor
    gh = config.github
    chosen = since or (gh.since if gh else None)
    if chosen is None and stored and not full:
        chosen = date.fromisoformat(stored)
    if chosen is None:
        chosen = today - timedelta(days=gh.backfill_days if gh else 90)
    return datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)


class GitHubSync:
    def __init__(
        self,
        wh: Warehouse,
        config: SourcesSettings,
        options: RunOptions | None = None,
        progress: Progress | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        cache_root: Path | None = None,
    ) -> None:
        if config.github is None:
            raise UserError("no [github] section in the config: nothing to sync from GitHub")
        self.wh = wh
        self.config = config
        self.gh = config.github
        options = options or RunOptions()
        self.full = options.full
        self.since = options.since
        self.progress = progress or Silent()
        self.sleep = sleep
        self.clock = clock
        base = cache_root or (config.source_path.parent if config.source_path else Path.cwd())
        self.cache_dir = (
            Path(self.gh.cache_dir) if Path(self.gh.cache_dir).is_absolute() else base / self.gh.cache_dir
        )
        self.shard = options.shard  # only this shard's repositories (collectors/shards.py)
        self.result = RunResult("GitHub")
        self.bounds: dict[str, list] = {}  # repo -> tags older than the window (they bound the graph)

    # -- entry -------------------------------------------------------------------------------------
    def run(self) -> RunResult:
        token, variable = self.shard.token() if self.shard else (None, "")
        if not token:
            token, variable = self.gh.token()
        if not token:
            raise UserError(f"no GitHub token: set {variable} ({SCOPES_HINT})")
        self.token, self.variable = token, variable
        self.client = GitHubClient(
            self.gh.api_url,
            token,
            graphql_url=self.gh.graphql_endpoint(),
            api_version=self.gh.api_version,
            timeout=self.gh.timeout_seconds,
            max_retries=self.gh.max_retries,
            sleep=self.sleep,
            clock=self.clock,
            on_wait=self.progress.wait,
        )
        try:
            return self._run()
        except AuthError as exc:
            raise UserError(f"GitHub rejected the token in {variable} ({exc}); {SCOPES_HINT}") from None
        finally:
            self.result.cost = self.client.stats
            self.client.close()

    def _run(self) -> RunResult:
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        self.window = window_start(self.wh, self.config, self.since, self.full, today)
        # Cursors change only once GitHub has answered: a sync that reached nothing (no
        # network, a wrong host) leaves them, and a new database, as they were.
        repos, listing = self._discover()

        def start() -> None:
            with self.wh.transaction():
                if self.full:
                    self.wh.clear_cursors(SOURCE)
                self.wh.load({}, cursors=[
                    Cursor(SOURCE, "*", "window", self.window.date().isoformat()),
                    Cursor(SOURCE, "*", "repos", json.dumps(listing, sort_keys=True)),
                ])

        self.wh.retried(start, "saving the window and the repository listing")
        self.result.scopes = [r.full_name for r in repos]
        self.progress.scopes(self.result.scopes)
        teams = team_rows(self.config, self.result.scopes)
        self.teams = {row["repo"]: row["team"] for row in teams}
        if teams:
            self.result.add(load_rows(self.wh, {"teams": teams}, None, []))
        for repo in repos:
            self._sync_repo(repo)
            self.progress.scope_done(repo.full_name)
        self._save_rate_limits()
        self.progress.step("*", "done")
        return self.result

    def _save_rate_limits(self) -> None:
        """The rate limit GitHub last reported per resource (core, graphql, search): what the
        Data health page shows as the state at the last sync."""
        cursors = [
            Cursor(SOURCE, RATE_LIMIT_SCOPE, resource, json.dumps(
                {"remaining": remaining, "reset_at": datetime.fromtimestamp(reset, UTC).isoformat()}))
            for resource, (remaining, reset) in sorted(self.client.spent.items())
        ]
        if cursors:
            self.wh.load({}, cursors=cursors)

    def _discover(self) -> tuple[list[RepoInfo], dict]:
        """(repositories, the new listing cache to store); --full ignores the stored one."""
        cursor = self.wh.cursor(SOURCE, "*", "repos")
        cache = json.loads(cursor.cursor) if cursor.cursor and not self.full else {}
        repos, new_cache = repo_discovery.discover(
            self.client, self.config, cache, self._warn, self._fail
        )
        if self.shard is not None:
            owned = set(repos_of(self.wh, [r.full_name for r in repos], self.shard))
            repos = [r for r in repos if r.full_name in owned]
        if not repos and not self.result.warnings and not self.result.failures:
            self._warn("no repositories selected: set [github] repos or orgs")
        return repos, new_cache

    def _warn(self, message: str) -> None:
        self.result.warnings.append(message)
        self.progress.warn(message)

    def _fail(self, repo: str, resource: str, exc: Exception) -> None:
        message = str(exc)
        log.debug("%s %s failed: %s", repo, resource, message)  # the progress shows it
        self.result.failures.append(Failure(repo, resource, message))
        self.progress.warn(f"{repo} {resource}: {message}")

    # -- one repository ----------------------------------------------------------------------------
    def _sync_repo(self, repo: RepoInfo) -> None:
        name = repo.full_name
        git = None
        self.progress.step(name, "git")
        try:
            git = self._clone(repo)
        except (GitError, OSError) as exc:
            self._fail(name, "git", exc)
        ctx = Context(
            self.client,
            repo,
            self.gh,
            self.window,
            now=datetime.fromtimestamp(self.clock(), UTC),
            sha_of_tag=git.resolve if git else None,
            team=self.teams.get(name),
        )
        if git is not None and any(not r.releases for r in self.gh.deployments.tags):
            self.progress.step(name, "tags")
            rows, evidence, self.bounds[name] = tag_deployments(
                name, git, self.gh.deployments.tags, self.window, SOURCE, self.gh.deployments
            )
            attribution.save_evidence(
                self.wh, [r["deployment_id"] for r in rows], attribution.TEXT_KINDS, evidence
            )
            counts = load_rows(self.wh, {"deployments": rows}, SOURCE, [])
            self.result.add(counts)
            self.progress.rows(name, "tags", counts)
        for stream_cls in STREAMS:
            if not stream_cls.enabled(self.gh):
                continue
            for resource in stream_cls.resources(self.gh):
                self.progress.step(name, resource)
                try:
                    self._sync_stream(ctx, stream_cls(), resource)
                except (AuthError, Unreachable):
                    raise
                except (GitHubError, GitError, KeyError, TypeError, ValueError) as exc:
                    if isinstance(exc, (KeyError, TypeError, ValueError)):
                        exc = GitHubError(f"unexpected payload ({type(exc).__name__}: {exc})")
                    self._fail(name, resource, exc)
        if git is not None:
            self.progress.step(name, "changes")
            try:
                self._ship(repo, git)
            except GitError as exc:
                self._fail(name, "changes", exc)
            if any(f.scope == name and f.resource == PullRequests.name for f in self.result.failures):
                # Squash and rebase merges were walked without their pull requests: the next
                # sync walks the graph again from the start, as docs/github.md promises.
                self.wh.load({}, cursors=[Cursor(SOURCE, name, "changes", None)])

    def _clone(self, repo: RepoInfo):
        if not repo.clone_url:
            raise GitError(f"{repo.full_name}: no clone URL")
        dest = self.cache_dir / f"{repo.full_name}.git"
        return clone_or_fetch(repo.clone_url, dest, auth_env(repo.clone_url, self.token, self.gh.api_url))

    def _sync_stream(self, ctx: Context, stream: Stream, resource: str) -> None:
        name = ctx.repo.full_name
        stored = self.wh.cursor(SOURCE, name, resource)
        state = json.loads(stored.cursor) if stored.cursor else {}
        total: dict[str, LoadCounts] = {}
        batch: Batch
        for batch in stream.sync(ctx, resource, state, stored.etag):
            # Side evidence first, then the rows with their cursor (one transaction).
            attribution.save_causes(self.wh, batch.causes)
            attribution.save_evidence(self.wh, batch.evidenced, attribution.TEXT_KINDS, batch.evidence)
            counts = load_rows(
                self.wh,
                batch.rows,
                SOURCE,
                [
                    Cursor(
                        SOURCE,
                        name,
                        batch.resource or resource,
                        json.dumps(batch.state, sort_keys=True),
                        batch.etag,
                    ),
                ],
            )
            for entity, c in counts.items():
                total.setdefault(entity, LoadCounts())
                total[entity] += c
        self.result.add(total)
        self.progress.rows(name, resource, total)

    def _ship(self, repo: RepoInfo, git) -> None:
        # Deployed commits that no branch or tag holds (deleted branches) are fetched by sha.
        deployments = attribution.graph_deployments(
            self.wh, repo.full_name, self.config.metrics.production_environment
        )
        fetch_commits(git, [d["sha"] for d in deployments if d["sha"]])
        shipped = ship_and_load(
            self.wh,
            SOURCE,
            repo.full_name,
            git,
            self.window,
            self.config.metrics.production_environment,
            self.gh.deployments,
            self.bounds.get(repo.full_name, []),
        )
        self.result.add(shipped.counts)
        self.progress.rows(repo.full_name, "changes", shipped.counts)
        if shipped.missing:
            self._warn(
                f"{repo.full_name}: {len(shipped.missing)} deployment(s) name a commit the clone "
                "does not have; their changes are unknown"
            )
