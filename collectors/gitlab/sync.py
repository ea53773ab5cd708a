"""The GitLab sync, through the shared HTTP client: `PRIVATE-TOKEN` auth, `Link` / `X-Next-Page`
pagination (keyset where GitLab offers it: the group project listing), `RateLimit-*` headers.

Per project, each stream keeps an `updated_after` cursor (GitLab's filters are inclusive-ish
and clocks differ, so the edge is re-read; rows are upserts):

* deployments: `/projects/:id/deployments?order_by=updated_at`. `success` -> success, `failed`
  -> failure; created/running/blocked/canceled are not outcomes (a running one is picked up
  when its update moves it past the cursor). Finish time: the deployment's `finished_at`, else
  its job's `finished_at`, else its last status change (`updated_at`), never a later redeploy
  (a redeploy is a new deployment with its own id). Production: GitLab's environment tier
  `production`, else the `[metrics] production_environment` name rule. The deployment listing
  carries no tier: it comes from `/projects/:id/environments`, read with If-None-Match (a 304
  costs nothing); when a tier changes, the project's deployments are read again.
* merge requests: merged ones (`state=merged`), with their commits and approvals (approvers
  become reviewers; GitLab gives no approval time).
* incidents: issues of type incident, or carrying one of `incident_labels`.

Then the commit graph through the same partial clone as GitHub (collectors/git.py) decides
which commits each deployment shipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from collectors.config import DeploymentRules, SourcesSettings
from collectors.git import GitError, auth_env, clone_or_fetch, fetch_commits
from collectors.http import GITLAB_LIMITS, ApiError, AuthError, HttpClient, NextPageHeader
from collectors.run import Failure, Progress, RunOptions, RunResult, Silent
from collectors.shipping import load_rows, ship_and_load
from collectors.signals import parse_time, text_evidence
from collectors.stream import Stream
from collectors.teams import team_rows
from warehouse import attribution
from warehouse.db import Cursor, Warehouse
from warehouse.errors import UserError

SOURCE = "gitlab"
PER_PAGE = 100
DORA_METRICS = (
    "deployment_frequency", "lead_time_for_changes", "time_to_restore_service", "change_failure_rate",
)
STATUSES = {"success": "success", "failed": "failure"}


class Projects(Stream):
    name = "projects"
    path = "/groups/{group}/projects"


class Deployments(Stream):
    name = "deployments"
    path = "/projects/{project}/deployments"
    replication_key = "updated_at"
    parent = Projects


class Environments(Stream):
    name = "environments"
    path = "/projects/{project}/environments"
    parent = Projects


class MergeRequests(Stream):
    name = "merge_requests"
    path = "/projects/{project}/merge_requests"
    primary_keys = ("iid",)
    replication_key = "updated_at"
    parent = Projects


class MergeRequestCommits(Stream):
    name = "merge_request_commits"
    path = "/projects/{project}/merge_requests/{iid}/commits"
    parent = MergeRequests


class Approvals(Stream):
    name = "approvals"
    path = "/projects/{project}/merge_requests/{iid}/approvals"
    parent = MergeRequests


class Incidents(Stream):
    name = "incidents"
    path = "/projects/{project}/issues"
    primary_keys = ("iid",)
    replication_key = "updated_at"
    parent = Projects


def deployment_id(project: str, did: object) -> str:
    return f"gitlab:{project}:deployment:{did}"


@dataclass
class Project:
    id: int
    path: str  # path_with_namespace: the `repo` of every row
    clone_url: str | None
    web_url: str | None


class GitLabSync:
    def __init__(self, wh: Warehouse, config: SourcesSettings, options: RunOptions | None = None,
                 progress: Progress | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, cache_root: Path | None = None) -> None:
        gl = config.gitlab
        if gl is None:
            raise UserError("no [gitlab] section in the config")
        options = options or RunOptions()
        self.wh, self.config, self.gl = wh, config, gl
        self.since, self.full, self.sleep, self.clock = options.since, options.full, sleep, clock
        self.progress = progress or Silent()
        base = cache_root or (config.source_path.parent if config.source_path else Path.cwd())
        self.cache_dir = Path(gl.cache_dir) if Path(gl.cache_dir).is_absolute() else base / gl.cache_dir
        self.rules: DeploymentRules = config.rules.deployment_rules()  # [rules], shared by every source
        self.result = RunResult("GitLab", "projects")

    def run(self) -> RunResult:
        self.token = self.gl.token()
        self.client = HttpClient(
            self.gl.api_url, headers={"PRIVATE-TOKEN": self.token}, secrets=(self.token,),
            pagination=NextPageHeader(per_page=PER_PAGE), limits=GITLAB_LIMITS,
            timeout=self.gl.timeout_seconds,
            max_retries=self.gl.max_retries, sleep=self.sleep, clock=self.clock,
            on_wait=self.progress.wait,
        )
        try:
            if self.full:
                self.wh.clear_cursors(SOURCE)
            now = datetime.fromtimestamp(self.clock(), UTC)
            chosen = self.since or self.gl.since or (now - timedelta(days=self.gl.backfill_days)).date()
            self.window = datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)
            projects = self._projects()
            self.result.scopes = [p.path for p in projects]
            self.progress.scopes(self.result.scopes)
            teams = team_rows(self.config, self.result.scopes)
            self.teams = {r["repo"]: r["team"] for r in teams}
            if teams:
                self.result.add(load_rows(self.wh, {"teams": teams}, None, []))
            for project in projects:
                self._project(project)
                self.progress.scope_done(project.path)
        except AuthError as exc:
            raise UserError(f"GitLab rejected the token in {self.gl.token_env} ({exc})") from None
        finally:
            self.result.cost = self.client.stats
            self.client.close()
        return self.result

    def _fail(self, project: Project, resource: str, exc: Exception) -> None:
        self.result.failures.append(Failure(project.path, resource, str(exc)))
        self.progress.warn(f"{project.path} {resource}: {exc}")

    # -- projects -------------------------------------------------------------------------------
    def _projects(self) -> list[Project]:
        found: dict[str, Project] = {}
        for group in self.gl.groups:
            # Keyset pagination (GitLab's recommended way for large listings): `Link` only.
            params = {"include_subgroups": "true", "archived": "false", "pagination": "keyset",
                      "order_by": "id", "sort": "asc"}
            for page in self.client.pages(Projects.path.format(group=quote(group, safe="")), params):
                for p in page.items:
                    found[p["path_with_namespace"]] = _project(p)
        for path in self.gl.projects:
            p = self.client.get_json(f"/projects/{quote(path, safe='')}").data
            found[p["path_with_namespace"]] = _project(p)
        return [found[k] for k in sorted(found)]

    def _project(self, project: Project) -> None:
        self.tiers: dict[str, str] = {}
        self.tiers_changed = False
        for stream, method in ((Environments, self._environments), (Deployments, self._deployments),
                               (MergeRequests, self._merge_requests), (Incidents, self._incidents)):
            self.progress.step(project.path, stream.name)
            try:
                method(project, stream)
            except AuthError:
                raise
            except (ApiError, KeyError, TypeError, ValueError) as exc:
                self._fail(project, stream.name, exc)
        if project.clone_url:
            self.progress.step(project.path, "changes")
            try:
                dest = self.cache_dir / f"{project.path}.git"
                env = auth_env(project.clone_url, self.token, self.gl.api_url)
                git = clone_or_fetch(project.clone_url, dest, env)
                deployed = attribution.graph_deployments(
                    self.wh, project.path, self.config.metrics.production_environment
                )
                fetch_commits(git, [d["sha"] for d in deployed if d["sha"]])
                shipped = ship_and_load(self.wh, SOURCE, project.path, git, self.window,
                                        self.config.metrics.production_environment, self.rules)
                self.result.add(shipped.counts)
                self.progress.rows(project.path, "changes", shipped.counts)
            except (GitError, OSError) as exc:
                self._fail(project, "changes", exc)

    def _updated_walk(
        self, project: Project, stream: type[Stream], params: dict, rows_of, restart: bool = False
    ) -> None:
        """Walk a listing ordered by the stream's replication key (updated_at) ascending from
        the stored cursor (from the window with `restart`); each page is loaded with the
        newest key it held (Stream.newest), in one transaction. `rows_of` gives a page's rows,
        the deployments whose text evidence it replaces, and that evidence."""
        stored = self.wh.cursor(SOURCE, project.path, stream.name)
        state = json.loads(stored.cursor) if stored.cursor and not restart else {}
        after = state.get("updated_after") or self.window.strftime("%Y-%m-%dT%H:%M:%SZ")
        query = {**params, "order_by": "updated_at", "sort": "asc", "updated_after": after}
        for page in self.client.pages(stream.path.format(project=project.id), query):
            rows, evidenced, evidence = rows_of(page.items)
            after = stream.newest(after, page.items)
            attribution.save_evidence(self.wh, evidenced, attribution.TEXT_KINDS, evidence)
            cursor = Cursor(SOURCE, project.path, stream.name, json.dumps({"updated_after": after}))
            counts = load_rows(self.wh, rows, SOURCE, [cursor])
            self.result.add(counts)
            self.progress.rows(project.path, stream.name, counts)

    # -- streams --------------------------------------------------------------------------------
    def _environments(self, project: Project, stream: type[Stream]) -> None:
        """Environment name -> tier. The stored map and its ETag answer a 304; the map is saved
        after the deployments are read with it (a sync killed in between reads them again)."""
        stored = self.wh.cursor(SOURCE, project.path, stream.name)
        known = json.loads(stored.cursor) if stored.cursor else None
        tiers: dict[str, str] = {}
        etag = None
        for n, page in enumerate(self.client.pages(
            stream.path.format(project=project.id), etag=stored.etag if known is not None else None
        )):
            if page.not_modified:
                self.tiers = known or {}
                return
            if n == 0:
                etag = page.etag
            tiers |= {str(e["name"]): str(e.get("tier") or "") for e in page.items if e.get("name")}
        self.tiers, self.tiers_changed = tiers, tiers != known
        self.tiers_cursor = Cursor(SOURCE, project.path, stream.name, json.dumps(tiers, sort_keys=True), etag)

    def _deployments(self, project: Project, stream: type[Stream]) -> None:
        def rows_of(items: list[dict]) -> tuple[dict, list[str], list[dict]]:
            rows, evidence = [], []
            for d in items:
                status = STATUSES.get(str(d.get("status")))
                if status is None:
                    continue
                job = d.get("deployable") or {}
                env = d.get("environment") or {}
                finished = parse_time(d.get("finished_at")) or parse_time(job.get("finished_at")) \
                    or parse_time(d.get("updated_at"))
                did = deployment_id(project.path, d["id"])
                rows.append({
                    "deployment_id": did, "repo": project.path,
                    "environment": str(env.get("name") or "unknown"), "status": status,
                    "started_at": parse_time(job.get("started_at") or d.get("created_at")),
                    "finished_at": finished, "sha": d.get("sha"), "team": self.teams.get(project.path),
                    "is_production": True if (self.tiers.get(str(env.get("name"))) or env.get("tier"))
                    == "production" else None,
                    "workflow": job.get("name"), "workflow_path": ".gitlab-ci.yml" if job else None,
                    "url": job.get("web_url") or (f"{project.web_url}/-/environments/{env.get('id')}"
                                                  if project.web_url and env.get("id") else None),
                })
                evidence += text_evidence(did, SOURCE, self.rules, d.get("ref"), job.get("name"), at=finished)
            return {"deployments": rows}, [r["deployment_id"] for r in rows], evidence

        self._updated_walk(project, stream, {}, rows_of, restart=self.tiers_changed)
        if self.tiers_changed:
            self.wh.load({}, cursors=[self.tiers_cursor])

    def _merge_requests(self, project: Project, stream: type[Stream]) -> None:
        def rows_of(items: list[dict]) -> tuple[dict, list[str], list[dict]]:
            prs, changes = [], []
            for mr in items:
                if not mr.get("merged_at"):
                    continue
                iid = int(mr["iid"])
                base = f"/projects/{project.id}/merge_requests/{iid}"
                commits = [c for page in self.client.pages(f"{base}/commits") for c in page.items]
                approvals = self.client.get_json(f"{base}/approvals").data or {}
                approved_by = approvals.get("approved_by") or []
                approvers = sorted({(a.get("user") or {}).get("username") for a in approved_by} - {None})
                author = (mr.get("author") or {}).get("username")
                firsts = [parse_time(c.get("authored_date") or c.get("committed_date")) for c in commits]
                prs.append({
                    "repo": project.path, "number": iid, "created_at": parse_time(mr.get("created_at")),
                    "merged_at": parse_time(mr.get("merged_at")), "author": author,
                    "first_commit_at": min((t for t in firsts if t), default=None),
                    # A squash merged with a merge commit has both: the squash commit is the
                    # one that stands for the request's commits (the merge is plumbing).
                    "merge_sha": mr.get("squash_commit_sha") or mr.get("merge_commit_sha") or mr.get("sha"),
                    "reviewers": ";".join(a for a in approvers if a != author) or None,
                    "labels": ";".join(sorted(mr.get("labels") or [])) or None,
                    "url": mr.get("web_url"),
                })
                for c in commits:
                    changes.append({
                        "repo": project.path, "sha": c["id"],
                        "committed_at": parse_time(c.get("committed_date")),
                        "authored_at": parse_time(c.get("authored_date")),
                        "author": c.get("author_name"), "pr_number": iid, "url": c.get("web_url"),
                    })
            return {"pull_requests": prs, "changes": changes}, [], []

        self._updated_walk(project, stream, {"state": "merged"}, rows_of)

    def _incidents(self, project: Project, stream: type[Stream]) -> None:
        wanted = set(self.gl.incident_labels)

        def rows_of(items: list[dict]) -> tuple[dict, list[str], list[dict]]:
            rows = []
            for issue in items:
                if issue.get("issue_type") != "incident" and not wanted & set(issue.get("labels") or []):
                    continue
                rows.append({
                    "incident_id": f"gitlab:{project.path}#{issue['iid']}",
                    "opened_at": parse_time(issue.get("created_at")),
                    "resolved_at": parse_time(issue.get("closed_at"))
                    if issue.get("state") == "closed"
                    else None,
                    "repo": project.path, "team": self.teams.get(project.path), "url": issue.get("web_url"),
                })
            return {"incidents": rows}, [], []

        # Without extra labels GitLab filters by type itself; with them, every issue is read.
        self._updated_walk(project, stream, {} if wanted else {"issue_type": "incident"}, rows_of)


def gitlab_dora(
    client: HttpClient, project: int | str, start: date, end: date
) -> dict[str, float | None]:
    """GitLab's own DORA metrics for a project over [start, end] (`interval=all`; Ultimate
    tier): deployment_frequency (deployments), lead_time_for_changes and
    time_to_restore_service (median seconds), change_failure_rate (incidents / deployments)."""
    out: dict[str, float | None] = {}
    key = quote(str(project), safe="")
    for metric in DORA_METRICS:
        params = {"metric": metric, "start_date": start.isoformat(), "end_date": end.isoformat(),
                  "interval": "all"}
        page = client.get_json(f"/projects/{key}/dora/metrics", params)
        rows = page.data if isinstance(page.data, list) else []
        out[metric] = rows[0].get("value") if rows else None
    return out


def _project(p: dict) -> Project:
    return Project(int(p["id"]), p["path_with_namespace"], p.get("http_url_to_repo"), p.get("web_url"))
