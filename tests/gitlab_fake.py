"""A local GitLab REST API v4 (pytest-httpserver) answering with the shapes of GitLab's
documented examples (docs.gitlab.com/api: projects, deployments, merge requests, merge request
commits and approvals, issues, DORA metrics): `PRIVATE-TOKEN` auth, offset pagination that
sends only `X-Next-Page` (as GitLab does on large listings), keyset pagination with `Link` on
the group project listing, `RateLimit-*` headers and a 429 fault."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from werkzeug import Request, Response

TOKEN = "glpat-test-0123456789abcdef"


@dataclass
class FakeGitLab:
    token: str = TOKEN
    clock: float = 0.0
    projects: dict[int, dict] = field(default_factory=dict)
    groups: dict[str, list[int]] = field(default_factory=dict)
    deployments: dict[int, list[dict]] = field(default_factory=dict)
    environments: dict[int, dict[str, dict]] = field(default_factory=dict)  # project -> name -> env
    merge_requests: dict[int, list[dict]] = field(default_factory=dict)
    issues: dict[int, list[dict]] = field(default_factory=dict)
    dora: dict[tuple[int, str], list[dict]] = field(default_factory=dict)  # (project, metric) -> rows
    faults: list[str] = field(default_factory=list)  # path regexes answered 429 once
    log: list[tuple[str, int]] = field(default_factory=list)
    url: str = ""

    def attach(self, httpserver: Any) -> FakeGitLab:
        self.url = httpserver.url_for("").rstrip("/")
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        return self

    # -- building --------------------------------------------------------------------------------
    def add_project(self, pid: int, path: str, clone_url: str, group: str) -> None:
        self.projects[pid] = {
            "id": pid, "description": None, "name": path.rsplit("/", 1)[1],
            "name_with_namespace": path.replace("/", " / "), "path": path.rsplit("/", 1)[1],
            "path_with_namespace": path, "created_at": "2026-01-01T00:00:00.000Z", "default_branch": "main",
            "ssh_url_to_repo": f"git@gitlab.example.com:{path}.git", "http_url_to_repo": clone_url,
            "web_url": f"https://gitlab.example.com/{path}", "archived": False,
            "namespace": {"id": 2, "name": group, "path": group, "kind": "group", "full_path": group},
        }
        self.groups.setdefault(group, []).append(pid)
        for store in (self.deployments, self.merge_requests, self.issues):
            store.setdefault(pid, [])
        self.environments.setdefault(pid, {})

    def add_deployment(self, pid: int, did: int, sha: str, env: str, status: str, created: str,
                       finished: str | None, *, tier: str = "production", job_finished: str | None = None,
                       updated: str | None = None) -> None:
        path = self.projects[pid]["path_with_namespace"]
        envs = self.environments[pid]
        envs.setdefault(env, {"id": 9 if env == "production" else 10 + len(envs), "name": env, "slug": env,
                              "external_url": "https://about.gitlab.com", "state": "available",
                              "tier": tier})
        self.deployments[pid].append({
            "id": did, "iid": did, "ref": "main", "sha": sha, "created_at": created,
            "updated_at": updated or finished or job_finished or created, "finished_at": finished,
            "status": status,
            "user": {"id": 1, "name": "Administrator", "username": "root", "state": "active"},
            # The listing's environment has no `tier` (GET /projects/:id/environments has it).
            "environment": {"id": envs[env]["id"], "name": env, "slug": env,
                            "external_url": "https://about.gitlab.com"},
            "deployable": {
                "id": 1000 + did, "status": status, "stage": "deploy", "name": f"deploy-{env}",
                "ref": "main", "tag": False, "created_at": created, "started_at": created,
                "finished_at": job_finished or finished,
                "web_url": f"https://gitlab.example.com/{path}/-/jobs/{1000 + did}",
                "pipeline": {"id": 2000 + did, "sha": sha, "ref": "main", "status": status},
            },
        })

    def add_merge_request(self, pid: int, iid: int, author: str, created: str, merged: str, merge_sha: str,
                          commits: list[dict], approvers: list[str], squash_sha: str | None = None) -> None:
        path = self.projects[pid]["path_with_namespace"]
        self.merge_requests[pid].append({
            "id": 100 + iid, "iid": iid, "project_id": pid, "title": f"MR {iid}", "state": "merged",
            "created_at": created, "updated_at": merged, "merged_at": merged, "closed_at": None,
            "target_branch": "main", "source_branch": f"feature-{iid}",
            "author": {"id": 3, "username": author, "name": author},
            "labels": ["feature"], "sha": commits[-1]["id"], "merge_commit_sha": merge_sha,
            "squash_commit_sha": squash_sha, "squash": squash_sha is not None, "web_url": f"https://gitlab.example.com/{path}/-/merge_requests/{iid}",
            "_commits": commits, "_approvers": approvers,
        })

    def add_incident(self, pid: int, iid: int, created: str, closed: str | None) -> None:
        path = self.projects[pid]["path_with_namespace"]
        self.issues[pid].append({
            "id": 500 + iid, "iid": iid, "project_id": pid, "title": "Checkout down", "issue_type": "incident",
            "type": "INCIDENT", "state": "closed" if closed else "opened", "created_at": created,
            "updated_at": closed or created, "closed_at": closed, "labels": [],
            "web_url": f"https://gitlab.example.com/{path}/-/issues/{iid}",
        })

    # -- serving ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        target = request.full_path.rstrip("?")
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return self._answer(target, 401, {"message": "401 Unauthorized"})
        for n, pattern in enumerate(self.faults):
            if re.search(pattern, target):
                del self.faults[n]
                return self._answer(target, 429, {"message": "Retry later"},
                                    {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(self.clock) + 5)})
        path = unquote(request.path)
        args = request.args
        m = re.fullmatch(r"/groups/(.+)/projects", path)
        if m:
            group = m.group(1)
            ids = sorted(p for g, ps in self.groups.items() if g == group or g.startswith(group + "/") for p in ps)
            after = int(args.get("id_after", 0))
            per = int(args.get("per_page", 20))
            chunk = [self.projects[i] for i in ids if i > after][:per]
            headers = {}
            if chunk and any(i > chunk[-1]["id"] for i in ids):
                query = {k: v for k, v in args.items() if k != "id_after"} | {"id_after": chunk[-1]["id"]}
                headers["Link"] = f'<{self.url}{request.path}?{urlencode(query)}>; rel="next"'
            return self._answer(target, 200, chunk, headers)
        m = re.fullmatch(r"/projects/(\d+)(/.*)?", path) or re.fullmatch(r"/projects/(.+)", path)
        if not m:
            return self._answer(target, 404, {"message": "404 Not Found"})
        key = m.group(1)
        pid = int(key) if key.isdigit() else next(
            (i for i, p in self.projects.items() if p["path_with_namespace"] == key), None)
        rest = (m.group(2) if m.lastindex and m.lastindex >= 2 else "") or ""
        if pid not in self.projects:
            return self._answer(target, 404, {"message": "404 Project Not Found"})
        if rest == "":
            return self._answer(target, 200, self.projects[pid])
        if rest == "/environments":
            body = list(self.environments[pid].values())
            etag = f'W/"{hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]}"'
            if request.headers.get("If-None-Match") == etag:
                self.log.append((target, 304))
                return Response(status=304, headers={"ETag": etag})
            response = self._offset(request, target, body)
            response.headers["ETag"] = etag
            return response
        if rest == "/deployments":
            return self._offset(request, target, self._updated(self.deployments[pid], args))
        if rest == "/merge_requests":
            mrs = [{k: v for k, v in mr.items() if not k.startswith("_")} for mr in self.merge_requests[pid]
                   if args.get("state") in (None, mr["state"])]
            return self._offset(request, target, self._updated(mrs, args))
        m = re.fullmatch(r"/merge_requests/(\d+)/(commits|approvals)", rest)
        if m:
            mr = next((x for x in self.merge_requests[pid] if x["iid"] == int(m.group(1))), None)
            if mr is None:
                return self._answer(target, 404, {"message": "404 Not found"})
            if m.group(2) == "commits":
                return self._offset(request, target, mr["_commits"])
            return self._answer(target, 200, {
                "id": mr["id"], "iid": mr["iid"], "project_id": pid, "approved": bool(mr["_approvers"]),
                "approvals_required": 1, "approvals_left": 0,
                "approved_by": [{"user": {"id": 9, "username": u, "name": u}} for u in mr["_approvers"]],
            })
        if rest == "/issues":
            issues = [i for i in self.issues[pid] if args.get("issue_type") in (None, i["issue_type"])]
            return self._offset(request, target, self._updated(issues, args))
        if rest == "/dora/metrics":
            return self._answer(target, 200, self.dora.get((pid, args.get("metric", "")), []))
        return self._answer(target, 404, {"message": "404 Not Found"})

    @staticmethod
    def _updated(items: list[dict], args: Any) -> list[dict]:
        after = args.get("updated_after")
        chosen = [i for i in items if after is None or i["updated_at"] >= after]
        if args.get("order_by") == "updated_at":
            chosen.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=args.get("sort") == "desc")
        return chosen

    def _offset(self, request: Request, target: str, items: list[dict]) -> Response:
        """GitLab's offset pagination as sent on large listings: X-Next-Page, no Link."""
        per = int(request.args.get("per_page", 20))
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * per: page * per]
        more = page * per < len(items)
        return self._answer(target, 200, chunk, {"X-Page": str(page), "X-Per-Page": str(per),
                                                 "X-Next-Page": str(page + 1) if more else ""})

    def _answer(self, target: str, status: int, body: Any, headers: dict | None = None) -> Response:
        self.log.append((target, status))
        return Response(json.dumps(body), status=status, headers={
            "Content-Type": "application/json", "RateLimit-Limit": "2000", "RateLimit-Remaining": "1999",
            "RateLimit-Reset": str(int(self.clock) + 60), **(headers or {})})
