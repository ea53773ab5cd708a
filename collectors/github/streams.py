"""The REST streams, as small declarative classes.

A stream names its endpoint, primary key, replication key and parent; its `sync` walks the
endpoint through the shared client and yields `Batch`es: canonical rows plus the cursor state
that covers them, which the runner loads in ONE warehouse transaction. A sync killed between
two batches resumes from the last stored state; rows are upserts, so a page read twice is
harmless and none is skipped.

State is a small JSON object per (repository, stream); see each stream for its fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.causes import github_deployment_id as deployment_id
from collectors.causes import parse_cause
from collectors.config import TagRule
from collectors.github import rules
from collectors.github.client import GitHubClient, Page
from collectors.github.config import GitHubConfig
from collectors.stream import Stream as BaseStream

PENDING_DAYS = 14  # a deployment with no terminal status after this long is given up on


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RepoInfo:
    full_name: str
    default_branch: str
    clone_url: str | None = None


@dataclass
class Context:
    client: GitHubClient
    repo: RepoInfo
    config: GitHubConfig
    since: datetime  # the window: nothing older is collected on a first backfill
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    sha_of_tag: Any = None  # callable(tag) -> sha | None, from the git clone (releases)
    team: str | None = None  # the repository's team ([teams] / [repos."owner/name"] team)


@dataclass
class Batch:
    rows: dict[str, list[dict]]  # entity name -> rows (every row of an entity has the same keys)
    state: dict
    etag: str | None = None
    causes: list[dict] = field(default_factory=list)  # incident causes, saved before the rows
    evidence: list[dict] = field(default_factory=list)  # hotfix/rollback evidence, saved before the rows
    evidenced: list[str] = field(default_factory=list)  # deployments whose text evidence it replaces
    resource: str | None = None  # cursor resource when a stream keeps several (labels)


def evidence_of(rows: list[dict], ctx: Context) -> list[dict]:
    """The text evidence of each deployment row (its `_texts`, removed from the row)."""
    out = []
    for row in rows:
        out += rules.text_evidence(
            row["deployment_id"], "github", ctx.config.deployments, *row.pop("_texts"), at=row["finished_at"]
        )
    return out


def deployments_batch(rows: list[dict], ctx: Context, state: dict, etag: str | None) -> Batch:
    return Batch(
        {"deployments": rows},
        state,
        etag,
        evidence=evidence_of(rows, ctx),
        evidenced=[r["deployment_id"] for r in rows],
    )


class Stream(BaseStream):
    """A GitHub stream: per repository, enabled by the config, with one or more cursors."""

    @classmethod
    def enabled(cls, config: GitHubConfig) -> bool:
        return True

    @classmethod
    def resources(cls, config: GitHubConfig) -> list[str]:
        """Cursor resources this stream keeps per repository (one, or one per label)."""
        return [cls.name]

    @classmethod
    def endpoint(cls, ctx: Context, **parts: object) -> str:
        return cls.path.format(repo=ctx.repo.full_name, **parts)

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        raise NotImplementedError

    @classmethod
    def walk(
        cls, ctx: Context, walk: dict | None, etag: str | None, params: dict | None = None
    ) -> Iterator[tuple[Page, str | None]]:
        """The pages of a newest-first listing, resumed at a walk in progress (its `next` URL).

        Yields (page, the ETag to store once the walk ends): the first page's ETag when the
        walk began in this sync, else the stored one. Stops at a 304 (nothing new).
        """
        pages = ctx.client.pages(
            cls.endpoint(ctx),
            params,
            etag=None if walk else etag,
            items_key=cls.items_key,
            start_url=walk.get("next") if walk else None,
        )
        first_etag = etag
        for number, page in enumerate(pages):
            if number == 0 and not walk:
                first_etag = page.etag
            if page.not_modified:
                return
            yield page, first_etag


# -- deployments (Deployments API) + their statuses ----------------------------------------------


class DeploymentStatuses(Stream):
    name = "deployment_statuses"
    path = "/repos/{repo}/deployments/{id}/statuses"
    parent = None  # set below (forward reference)

    @classmethod
    def fetch(
        cls, ctx: Context, deployment: int, etag: str | None = None
    ) -> tuple[list[dict], str | None, bool]:
        """All statuses of one deployment: (statuses, etag of the first page, not modified)."""
        statuses: list[dict] = []
        first_etag = None
        for i, page in enumerate(ctx.client.pages(cls.endpoint(ctx, id=deployment), etag=etag)):
            if i == 0:
                first_etag = page.etag
            if page.not_modified:
                return [], first_etag or etag, True
            statuses.extend(page.items)
        return statuses, first_etag, False


class Deployments(Stream):
    """State: hw (highest deployment id fully handled), pass (a walk in progress: next page
    URL and the highest id it saw), pending (deployments with no terminal status yet:
    id -> what is needed to finish them later, and the ETag of their statuses)."""

    name = "deployments"
    path = "/repos/{repo}/deployments"
    replication_key = "created_at"

    @classmethod
    def enabled(cls, config: GitHubConfig) -> bool:
        return config.deployments.use_deployments_api

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        hw = int(state.get("hw") or 0)
        walk = state.get("pass")
        pending: dict[str, dict] = dict(state.get("pending") or {})
        top = int(walk["top"]) if walk else hw
        fresh: set[str] = set()  # statuses just read: no need to ask again in this sync
        env_rule = ctx.config.deployments.environments
        first_etag = etag
        for page, first_etag in self.walk(ctx, walk, etag):
            rows, done = [], False
            for d in page.items:
                did = int(d["id"])
                created = rules.parse_time(d.get("created_at"))
                if did <= hw or (created is not None and created < ctx.since):
                    done = True
                    break
                top = max(top, did)
                if env_rule and not re.search(env_rule, str(d.get("environment", ""))):
                    continue
                meta = deployment_meta(d)
                row, status_etag = self._finish(ctx, did, meta, None)
                if row:
                    rows.append(row)
                    pending.pop(str(did), None)
                else:
                    pending[str(did)] = {**meta, "etag": status_etag}
                    fresh.add(str(did))
            more = page.next_url is not None and not done
            new_state = (
                {"hw": hw, "pass": {"next": page.next_url, "top": top}, "pending": pending}
                if more
                else {"hw": top, "pass": None, "pending": pending}
            )
            yield deployments_batch(rows, ctx, new_state, first_etag if not more else etag)
            if not more:
                break
        yield from self._recheck_pending(ctx, top, pending, first_etag, fresh)

    def _recheck_pending(
        self, ctx: Context, top: int, pending: dict, etag: str | None, fresh: set[str]
    ) -> Iterator[Batch]:
        """Deployments that had no terminal status: ask again (a 304 costs nothing)."""
        for did, meta in sorted(pending.items()):
            if did in fresh:
                continue
            created = rules.parse_time(meta.get("created_at"))
            if created is not None and ctx.now - created > timedelta(days=PENDING_DAYS):
                rest = {k: v for k, v in pending.items() if k != did}
                pending = rest
                yield deployments_batch([], ctx, {"hw": top, "pass": None, "pending": rest}, etag)
                continue
            row, status_etag = self._finish(ctx, int(did), meta, meta.get("etag"))
            if row:
                pending = {k: v for k, v in pending.items() if k != did}
                yield deployments_batch([row], ctx, {"hw": top, "pass": None, "pending": pending}, etag)
            elif status_etag != meta.get("etag"):
                pending = {**pending, did: {**meta, "etag": status_etag}}
                yield deployments_batch([], ctx, {"hw": top, "pass": None, "pending": pending}, etag)

    def _finish(self, ctx: Context, did: int, meta: dict, etag: str | None) -> tuple[dict | None, str | None]:
        statuses, status_etag, unchanged = DeploymentStatuses.fetch(ctx, did, etag)
        if unchanged:
            return None, status_etag
        return deployment_row(ctx.repo.full_name, did, meta, statuses), status_etag


def deployment_row(repo: str, did: int, meta: dict, statuses: list[dict]) -> dict | None:
    """A deployments row once a deployment has a terminal status (sync and the
    deployment_status webhook); None while it has none."""
    terminal = rules.first_terminal(statuses)
    if terminal is None:
        return None
    status, finished = terminal
    return {
        "deployment_id": deployment_id(repo, "deployment", did),
        "repo": repo,
        "environment": meta["environment"],
        "status": status,
        "started_at": rules.parse_time(meta.get("created_at")),
        "finished_at": finished,
        "sha": meta.get("sha"),
        # GitHub's own flag: production whatever the environment is called (else the
        # name rule decides).
        "is_production": True if meta.get("production") else None,
        # Where the deployment's log lives (the status's log or target URL), if it says.
        "url": next((s.get("log_url") or s.get("target_url") for s in statuses
                     if s.get("log_url") or s.get("target_url")), None),
        "_texts": (meta.get("ref"), meta.get("description")),
    }


DeploymentStatuses.parent = Deployments


def deployment_meta(d: dict) -> dict:
    return {
        "environment": str(d.get("environment") or "unknown"),
        "sha": d.get("sha"),
        "ref": d.get("ref"),
        "description": d.get("description"),
        "created_at": d.get("created_at"),
        "production": bool(d.get("production_environment")),
    }


# -- GitHub Actions workflow runs ---------------------------------------------------------------


class Workflows(Stream):
    """The repository's workflows (one page for almost every repository; its ETag makes a
    re-read free). Not a cursor resource of its own: WorkflowRuns keeps its result."""

    name = "workflows"
    path = "/repos/{repo}/actions/workflows"
    items_key = "workflows"

    @classmethod
    def matching(
        cls, ctx: Context, etag: str | None, known: list[dict] | None
    ) -> tuple[list[dict], str | None]:
        """(workflows that some rule's name/path may match, the listing's ETag); `known` is
        the stored answer, returned again on a 304."""
        found: list[dict] = []
        first_etag = etag
        for number, page in enumerate(
            ctx.client.pages(cls.endpoint(ctx), etag=etag if known is not None else None,
                             items_key=cls.items_key)
        ):
            if number == 0:
                first_etag = page.etag
            if page.not_modified:
                return list(known or []), etag
            for w in page.items:
                wf = {"id": int(w["id"]), "name": w.get("name"), "path": w.get("path")}
                if rules.workflow_may_match(ctx.config.deployments.workflows, wf):
                    found.append(wf)
        return sorted(found, key=lambda w: w["id"]), first_etag


class WorkflowRuns(Stream):
    """Runs that a [[github.deployments.workflows]] rule matches, read per matching workflow
    (`/actions/workflows/{id}/runs`), so that a repository whose CI runs outnumber its deploy
    runs pays for the deploy runs only. The stream's ETag is the workflow listing's.

    State: workflows (the matching ones, as of the listing's ETag) and runs, per workflow id:
    floor (runs created at or after it are read again: the oldest run still in progress,
    else the newest seen), pass (next page URL, newest created_at seen, oldest in-progress
    seen) and etag (of the first page of its runs)."""

    name = "workflow_runs"
    path = "/repos/{repo}/actions/workflows/{id}/runs"
    replication_key = "created_at"
    items_key = "workflow_runs"
    parent = Workflows

    @classmethod
    def enabled(cls, config: GitHubConfig) -> bool:
        return bool(config.deployments.workflows)

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        if "runs" not in state:
            state = {}  # a cursor from the all-runs walk: start each workflow from the window
        workflows, list_etag = Workflows.matching(ctx, etag, state.get("workflows"))
        runs_state: dict[str, dict] = {
            str(w["id"]): dict((state.get("runs") or {}).get(str(w["id"])) or {}) for w in workflows
        }
        base = {"workflows": workflows, "runs": runs_state}
        yield deployments_batch([], ctx, base, list_etag)
        for wf in workflows:
            yield from self._workflow(ctx, wf, base, list_etag)

    def _workflow(self, ctx: Context, wf: dict, base: dict, list_etag: str | None) -> Iterator[Batch]:
        key = str(wf["id"])
        mine = base["runs"][key]
        floor = rules.parse_time(mine.get("floor")) or ctx.since
        walk = mine.get("pass") or {}
        top = walk.get("top")
        oldest_running = walk.get("running")
        pages = ctx.client.pages(
            self.endpoint(ctx, id=wf["id"]),
            {"exclude_pull_requests": "true"},
            etag=None if walk else mine.get("etag"),
            items_key=self.items_key,
            start_url=walk.get("next"),
        )
        run_etag = mine.get("etag")
        for number, page in enumerate(pages):
            if number == 0 and not walk:
                run_etag = page.etag
            if page.not_modified:
                return
            rows, done = [], False
            for run in page.items:
                created = rules.parse_time(run.get("created_at"))
                if created is None:
                    continue
                if created < floor:
                    done = True
                    break
                top = max(top or iso(created), iso(created))
                run = {**run, "path": run.get("path") or wf["path"], "name": run.get("name") or wf["name"]}
                rule = rules.workflow_rule(ctx.config.deployments.workflows, run)
                if rule is None:
                    continue
                if run.get("status") != "completed":
                    if ctx.now - created <= timedelta(days=PENDING_DAYS):  # a stuck run stops holding it
                        oldest_running = min(oldest_running or iso(created), iso(created))
                    continue
                row = self._row(ctx, run, rule.environment, wf)
                if row:
                    rows.append(row)
            more = page.next_url is not None and not done
            if more:
                mine = {"floor": iso(floor), "etag": mine.get("etag"),
                        "pass": {"next": page.next_url, "top": top, "running": oldest_running}}
            else:
                mine = {"floor": oldest_running or top or iso(floor), "pass": None, "etag": run_etag}
            base["runs"][key] = mine
            yield deployments_batch(rows, ctx, {**base, "runs": dict(base["runs"])}, list_etag)
            if not more:
                return

    @staticmethod
    def _row(ctx: Context, run: dict, environment: str, wf: dict) -> dict | None:
        return run_row(ctx.repo.full_name, run, environment, wf)


def run_row(repo: str, run: dict, environment: str, wf: dict) -> dict | None:
    """A deployments row of a completed Actions run (sync and the workflow_run webhook)."""
    status = rules.RUN_CONCLUSIONS.get(run.get("conclusion") or "")
    if status is None:
        return None  # cancelled / skipped / neutral: not a deployment outcome
    return {
        "deployment_id": deployment_id(repo, "run", run["id"]),
        "repo": repo,
        "environment": environment,
        "status": status,
        "started_at": rules.parse_time(run.get("run_started_at") or run.get("created_at")),
        "finished_at": rules.parse_time(run.get("updated_at")),
        "sha": run.get("head_sha"),
        "workflow": wf.get("name") or run.get("name"),
        "workflow_path": (wf.get("path") or run.get("path") or "").split("@", 1)[0] or None,
        "url": run.get("html_url"),
        "_texts": (run.get("head_branch"), run.get("display_title")),
    }


# -- releases ---------------------------------------------------------------------------------------


def tag_rule(tag_rules: list[TagRule], tag: str, releases: bool) -> TagRule | None:
    for rule in tag_rules:
        if rule.releases == releases and re.search(rule.pattern, tag):
            return rule
    return None


class Releases(Stream):
    """Published releases whose tag a `releases = true` tag rule matches. State: none beyond
    the ETag of the first page (releases are few; the window bounds the walk)."""

    name = "releases"
    path = "/repos/{repo}/releases"
    replication_key = "published_at"

    @classmethod
    def enabled(cls, config: GitHubConfig) -> bool:
        return any(r.releases for r in config.deployments.tags)

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        rows: list[dict] = []
        read: str | None | bool = False  # the ETag to store; False while no page came (a 304)
        repo = ctx.repo.full_name
        for page, first_etag in self.walk(ctx, None, etag):
            read = first_etag
            done = False
            for rel in page.items:
                published = rules.parse_time(rel.get("published_at"))
                created = rules.parse_time(rel.get("created_at"))
                if (
                    created is not None
                    and created < ctx.since
                    and (published is None or published < ctx.since)
                ):
                    done = True
                    break
                if rel.get("draft") or published is None:
                    continue
                tag = str(rel.get("tag_name") or "")
                rule = tag_rule(ctx.config.deployments.tags, tag, releases=True)
                if rule is None or (rel.get("prerelease") and not rule.prereleases):
                    continue
                rows.append(
                    {
                        "deployment_id": deployment_id(repo, "release", tag),
                        "repo": repo,
                        "environment": rule.environment,
                        "status": "success",
                        "started_at": created,
                        "finished_at": published,
                        "sha": ctx.sha_of_tag(tag) if ctx.sha_of_tag else None,
                        "_texts": (tag, rel.get("name")),
                    }
                )
            if done or not page.next_url:
                break
        if read is not False:
            yield deployments_batch(rows, ctx, {}, read)


# -- incidents (labelled issues) -----------------------------------------------------------------


class Incidents(Stream):
    """Issues carrying an incident label, oldest update first. One cursor per label; state:
    since (the newest updated_at loaded; `since` is inclusive so the edge is read again)."""

    name = "incidents"
    path = "/repos/{repo}/issues"
    replication_key = "updated_at"

    @classmethod
    def resources(cls, config: GitHubConfig) -> list[str]:
        return [f"incidents:{label}" for label in config.incidents.labels]

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        label = resource.split(":", 1)[1]
        since = state.get("since") or iso(ctx.since)
        while True:
            params = {"labels": label, "state": "all", "sort": "updated", "direction": "asc", "since": since}
            moved = since
            for page, first_etag in self.walk(ctx, None, etag, params):
                incidents, causes = self.rows(ctx, page)
                moved = self.newest(moved, page.items)
                # The cursor moves with every page. The ETag belongs to the first page of the
                # URL for the stored `since`, so it is kept only when `since` did not move.
                yield Batch(
                    {"incidents": incidents},
                    {"since": moved},
                    first_etag if moved == since and page.next_url is None else None,
                    causes=causes,
                    resource=resource,
                )
                if page.next_url is None:
                    break
            if moved == since:
                return
            # `since` moved: read its first page once more, so that the next sync of an
            # unchanged repository can ask conditionally (and get a free 304).
            since, etag = moved, None

    @staticmethod
    def rows(ctx: Context, page: Page) -> tuple[list[dict], list[dict]]:
        repo = ctx.repo.full_name
        incidents, causes = [], []
        for issue in page.items:
            if "pull_request" in issue:
                continue  # the issues endpoint lists pull requests too
            labels = [
                lb.get("name", "") if isinstance(lb, dict) else str(lb) for lb in issue.get("labels", [])
            ]
            iid = f"github:{repo}#{issue['number']}"
            incidents.append(
                {
                    "incident_id": iid,
                    "opened_at": rules.parse_time(issue.get("created_at")),
                    "resolved_at": rules.parse_time(issue.get("closed_at"))
                    if issue.get("state") == "closed"
                    else None,
                    "repo": repo,
                    "severity": rules.severity(labels, ctx.config.incidents.severity_label),
                    "team": ctx.team,
                }
            )
            cause = parse_cause(issue.get("body"), repo)
            causes.append(
                {
                    "incident_id": iid,
                    "repo": repo,
                    "cause_kind": cause.kind if cause else None,
                    "cause_ref": cause.ref if cause else None,
                    "cause_repo": cause.repo if cause else None,
                }
            )
        return incidents, causes
