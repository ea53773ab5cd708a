"""A fake GitHub for tests and benchmarks: a real local HTTP server (pytest-httpserver)
speaking GitHub's REST and GraphQL shapes, with payloads built from GitHub's documented example
responses (tests/fixtures/github-api-examples) and only the fields a scenario needs overridden.

It does what the client must cope with: `Link` pagination, ETags and 304s (free), primary
rate-limit headers and an exhausted limit, secondary limits with or without `retry-after`,
502s, dropped connections, malformed payloads, GraphQL errors with status 200, and GraphQL
point costs computed from the query by GitHub's documented formula. Its clock is injectable so
that waiting for a reset costs no real time.

Also here: `GitRepo`, real git repositories built in a test (commits at fixed times, merges,
squash merges, rebase merges, reverts, tags), served to the sync by path as `clone_url`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from werkzeug.wrappers import Request, Response

# GitHub's documented example responses (from its OpenAPI description; see the README in the
# folder), kept with the tests so that they run from any checkout.
EXAMPLES = Path(
    os.environ.get("DORA_GITHUB_EXAMPLES")
    or Path(__file__).resolve().parent / "fixtures" / "github-api-examples"
)
TOKEN = "ghp_FAKEtoken0123456789abcdefTOPSECRET"
_cache: dict[str, Any] = {}


def example(name: str) -> Any:
    """A fresh copy of one documented example response."""
    if name not in _cache:
        if not EXAMPLES.is_dir():
            raise RuntimeError(
                f"GitHub's example responses are not at {EXAMPLES}; "
                "set DORA_GITHUB_EXAMPLES to their folder"
            )
        _cache[name] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return copy.deepcopy(_cache[name])


def iso(ts: str) -> str:
    return ts if ts.endswith("Z") else ts + "Z"


# -- GraphQL cost, by GitHub's documented formula ------------------------------------------------

_TOKEN = re.compile(r"(\.\.\.\s*on\s+\w+|\w+)\s*(\([^)]*\))?\s*(\{)?|(\})")


def graphql_cost(query: str, variables: dict) -> int:
    """Add up the requests each connection needs (every parent assumed full to its `first`),
    divide by 100, round to nearest; at least 1 (GitHub's "calculating a rate limit score")."""
    requests = 0
    stack: list[int] = []
    for m in _TOKEN.finditer(query):
        name, args, opens, closes = m.groups()
        if closes:
            stack.pop()
            continue
        if not opens:
            continue
        if not stack:  # the operation itself: `query Name($first: Int!) {`
            stack.append(1)
            continue
        size = None
        if args:
            a = re.search(r"\b(?:first|last)\s*:\s*(\$\w+|\d+)", args)
            if a:
                ref = a.group(1)
                size = int(variables[ref[1:]]) if ref.startswith("$") else int(ref)
        if size is not None:
            requests += stack[-1]
            stack.append(stack[-1] * size)
        else:
            stack.append(stack[-1])
    return max(1, int(requests / 100 + 0.5))


# -- the fake server -------------------------------------------------------------------------------


@dataclass
class Fault:
    pattern: str  # regex on "METHOD /path?query"
    kind: str  # 502 drop secondary secondary-no-retry-after exhaust malformed not-json graphql-error forbidden notfound 401
    times: int = 1
    retry_after: int = 3
    reset_in: int = 5


@dataclass
class Logged:
    method: str
    target: str
    status: int
    counted: bool
    resource: str


@dataclass
class FakeRepo:
    full_name: str
    default_branch: str = "main"
    archived: bool = False
    size: int = 108
    clone_url: str | None = None
    deployments: list[dict] = field(default_factory=list)
    statuses: dict[int, list[dict]] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    workflows: dict[str, dict] = field(default_factory=dict)  # path -> workflow (from add_run)
    releases: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)
    pulls: list[dict] = field(default_factory=list)  # internal PR records (see add_pull)


class FakeClock:
    def __init__(self, start: float | None = None):
        self.now = start if start is not None else time.time()
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class RequestLog(list):
    """The fake's request log; a test can wait for an entry to arrive instead of polling."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    def append(self, entry: Logged) -> None:
        with self.arrived:
            super().append(entry)
            self.arrived.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 120, stop: Any = None) -> bool:
        """Whether a request matching `pattern` arrives (at index `after` or later) within the
        timeout, or before `stop()` is true (a process that ended)."""
        def seen() -> bool:
            hit = any(re.search(pattern, f"{e.method} {e.target}") for e in self[after:])
            return hit or (stop is not None and stop())

        with self.arrived:
            # The wake-up interval only bounds how late `stop` is noticed.
            deadline = time.monotonic() + timeout
            while not seen():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(min(left, 0.5))
        return any(re.search(pattern, f"{e.method} {e.target}") for e in self[after:])


class FakeGitHub:
    def __init__(
        self,
        token: str = TOKEN,
        clock: FakeClock | None = None,
        core_limit: int = 5000,
        graphql_limit: int = 5000,
        delay: float = 0.0,
    ):
        self.token = token
        self.clock = clock or FakeClock()
        self.repos: dict[str, FakeRepo] = {}
        self.orgs: dict[str, list[str]] = {}
        self.faults: list[Fault] = []
        self.log = RequestLog()
        self.limits = {"core": core_limit, "graphql": graphql_limit}
        self.used = {"core": 0, "graphql": 0}
        self.reset_at = {"core": self.clock.time() + 3600, "graphql": self.clock.time() + 3600}
        self.delay = delay
        self.url = ""
        self._lock = threading.Lock()

    # -- building a scenario --------------------------------------------------------------------
    def repo(self, full_name: str, **kw: Any) -> FakeRepo:
        self.repos[full_name] = FakeRepo(full_name, **kw)
        return self.repos[full_name]

    def add_deployment(
        self,
        repo: str,
        did: int,
        sha: str,
        environment: str,
        created_at: str,
        statuses: list[tuple[str, str]],
        ref: str = "main",
        description: str = "",
        production: bool | None = None,
    ) -> None:
        d = example("deployment-items")[0]
        r = self.repos[repo]
        d.update(
            id=did,
            sha=sha,
            ref=ref,
            environment=environment,
            original_environment=environment,
            description=description,
            created_at=iso(created_at),
            updated_at=iso(created_at),
            production_environment=environment == "production" if production is None else production,
            url=f"{self.url}/repos/{repo}/deployments/{did}",
        )
        r.deployments.append(d)
        r.statuses[did] = []
        for i, (state, at) in enumerate(statuses):
            self.add_status(repo, did, state, at, sid=did * 100 + i)

    def add_status(self, repo: str, did: int, state: str, at: str, sid: int | None = None) -> None:
        s = example("deployment-status-items")[0]
        r = self.repos[repo]
        env = next(d["environment"] for d in r.deployments if d["id"] == did)
        s.update(
            id=sid or did * 100 + len(r.statuses[did]),
            state=state,
            created_at=iso(at),
            updated_at=iso(at),
            environment=env,
        )
        r.statuses[did].append(s)

    def add_run(
        self,
        repo: str,
        rid: int,
        name: str,
        sha: str,
        created_at: str,
        updated_at: str,
        status: str = "completed",
        conclusion: str | None = "success",
        branch: str = "main",
        event: str = "push",
        path: str | None = None,
        title: str = "",
    ) -> dict:
        run = example("workflow-run-paginated")["workflow_runs"][0]
        run.update(
            id=rid,
            name=name,
            head_sha=sha,
            head_branch=branch,
            event=event,
            status=status,
            conclusion=conclusion,
            created_at=iso(created_at),
            updated_at=iso(updated_at),
            run_started_at=iso(created_at),
            display_title=title or name,
            path=path or f".github/workflows/{name.lower()}.yml@{branch}",
            html_url=f"https://github.com/{repo}/actions/runs/{rid}",
        )
        r = self.repos[repo]
        file = run["path"].split("@", 1)[0]
        if file not in r.workflows:
            r.workflows[file] = {
                "id": 161335 + len(r.workflows), "node_id": "MDg6V29ya2Zsb3cxNjEzMzU=", "name": name,
                "path": file, "state": "active", "created_at": run["created_at"],
                "updated_at": run["created_at"], "url": f"{self.url}/repos/{repo}/actions/workflows/{file}",
                "html_url": f"https://github.com/{repo}/blob/main/{file}",
                "badge_url": f"https://github.com/{repo}/workflows/{name}/badge.svg",
            }
        run["workflow_id"] = r.workflows[file]["id"]
        r.runs.append(run)
        return run

    def add_release(
        self,
        repo: str,
        rid: int,
        tag: str,
        published_at: str | None,
        draft: bool = False,
        prerelease: bool = False,
    ) -> None:
        rel = example("release-items")[0]
        rel.update(
            id=rid,
            tag_name=tag,
            name=tag,
            draft=draft,
            prerelease=prerelease,
            created_at=iso(published_at or "2026-01-01T00:00:00"),
            published_at=iso(published_at) if published_at else None,
        )
        self.repos[repo].releases.append(rel)

    def add_issue(
        self,
        repo: str,
        number: int,
        title: str,
        created_at: str,
        closed_at: str | None,
        labels: list[str],
        body: str,
        updated_at: str | None = None,
        is_pull: bool = False,
    ) -> dict:
        issue = example("issue-items")[0]
        template_label = issue["labels"][0]
        issue.update(
            number=number,
            id=number,
            title=title,
            body=body,
            created_at=iso(created_at),
            closed_at=iso(closed_at) if closed_at else None,
            state="closed" if closed_at else "open",
            updated_at=iso(updated_at or closed_at or created_at),
            labels=[{**template_label, "name": n} for n in labels],
        )
        if not is_pull:
            issue.pop("pull_request", None)
        else:
            issue["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{number}"}
        self.repos[repo].issues.append(issue)
        return issue

    def add_pull(
        self,
        repo: str,
        number: int,
        author: str,
        created_at: str,
        merged_at: str,
        merge_sha: str,
        commits: list[dict],
        reviews: list[dict] = (),
        requested: list[str] = (),
        labels: list[str] = (),
        base: str = "main",
        updated_at: str | None = None,
    ) -> None:
        """commits: {sha, committed_at, authored_at, author}; reviews: {id, reviewer, state, at}."""
        self.repos[repo].pulls.append(
            {
                "number": number,
                "author": author,
                "created_at": iso(created_at),
                "merged_at": iso(merged_at),
                "updated_at": iso(updated_at or merged_at),
                "merge_sha": merge_sha,
                "base": base,
                "commits": list(commits),
                "reviews": list(reviews),
                "requested": list(requested),
                "labels": list(labels),
            }
        )

    # -- serving ----------------------------------------------------------------------------------
    def attach(self, httpserver: Any) -> FakeGitHub:
        self.url = httpserver.url_for("").rstrip("/")
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        return self

    def requests(self, pattern: str = ".*") -> list[Logged]:
        return [e for e in self.log if re.search(pattern, f"{e.method} {e.target}")]

    def counted(self) -> int:
        return sum(1 for e in self.log if e.counted)

    def fault(self, pattern: str, kind: str, times: int = 1, **kw: Any) -> None:
        self.faults.append(Fault(pattern, kind, times, **kw))

    def _take_fault(self, target: str) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and re.search(f.pattern, target):
                f.times -= 1
                return f
        return None

    def handle(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            return self._handle(request)

    def _headers(self, resource: str) -> dict[str, str]:
        now = self.clock.time()
        if now >= self.reset_at[resource]:
            self.used[resource] = 0
            self.reset_at[resource] = now + 3600
        return {
            "x-ratelimit-limit": str(self.limits[resource]),
            "x-ratelimit-remaining": str(max(0, self.limits[resource] - self.used[resource])),
            "x-ratelimit-used": str(self.used[resource]),
            "x-ratelimit-reset": str(int(self.reset_at[resource])),
            "x-ratelimit-resource": resource,
        }

    def _respond(
        self,
        request: Request,
        resource: str,
        status: int,
        body: Any,
        points: int = 1,
        extra: dict | None = None,
        etag: bool = True,
    ) -> Response:
        target = request.full_path.rstrip("?")
        text = json.dumps(body)
        headers = {"Content-Type": "application/json; charset=utf-8", **(extra or {})}
        tag = None
        if etag and status == 200 and request.method == "GET":
            tag = 'W/"' + hashlib.sha1(text.encode()).hexdigest() + '"'
            headers["ETag"] = tag
        if tag and request.headers.get("If-None-Match") == tag:
            self.log.append(Logged(request.method, target, 304, False, resource))
            return Response(status=304, headers={**headers, **self._headers(resource)})
        self.used[resource] += points
        self.log.append(Logged(request.method, target, status, True, resource))
        return Response(text, status=status, headers={**headers, **self._headers(resource)})

    def _handle(self, request: Request) -> Response:
        target = f"{request.method} {request.full_path.rstrip('?')}"
        resource = "graphql" if request.path.endswith("/graphql") else "core"
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.log.append(Logged(request.method, target, 401, False, resource))
            return Response(
                json.dumps({"message": "Bad credentials"}),
                status=401,
                headers={"Content-Type": "application/json"},
            )
        if request.headers.get("X-GitHub-Api-Version") is None:
            return self._respond(request, resource, 400, {"message": "missing X-GitHub-Api-Version"})
        headers = self._headers(resource)
        if headers["x-ratelimit-remaining"] == "0":
            self.log.append(Logged(request.method, target, 403, False, resource))
            return Response(
                json.dumps({"message": "API rate limit exceeded for user."}),
                status=403,
                headers={"Content-Type": "application/json", **headers},
            )
        fault = self._take_fault(target)
        if fault is not None:
            response = self._fault(request, fault, resource)
            if response is not None:
                return response
        if resource == "graphql":
            return self._graphql(request)
        return self._rest(request)

    def _fault(self, request: Request, fault: Fault, resource: str) -> Response | None:
        target = request.full_path.rstrip("?")
        if fault.kind == "502":
            self.log.append(Logged(request.method, target, 502, False, resource))
            return Response("<html>502 Bad Gateway</html>", status=502)
        if fault.kind == "drop":
            self.log.append(Logged(request.method, target, 0, False, resource))
            sock = request.environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            return Response("", status=500)
        if fault.kind in ("secondary", "secondary-no-retry-after"):
            self.log.append(Logged(request.method, target, 403, False, resource))
            extra = {"retry-after": str(fault.retry_after)} if fault.kind == "secondary" else {}
            return Response(
                json.dumps(
                    {
                        "message": "You have exceeded a secondary rate limit. Please wait a "
                        "few minutes before you try again."
                    }
                ),
                status=403,
                headers={"Content-Type": "application/json", **self._headers(resource), **extra},
            )
        if fault.kind == "exhaust":
            # The limit is spent now and resets shortly (the client must wait, not fail).
            self.used[resource] = self.limits[resource]
            self.reset_at[resource] = self.clock.time() + fault.reset_in
            self.log.append(Logged(request.method, target, 403, False, resource))
            return Response(
                json.dumps({"message": "API rate limit exceeded for user."}),
                status=403,
                headers={"Content-Type": "application/json", **self._headers(resource)},
            )
        if fault.kind == "malformed":
            return self._respond(request, resource, 200, {"unexpected": "shape"}, etag=False)
        if fault.kind == "not-json":
            # A body cut short (a proxy that dropped the connection mid-answer), sent as JSON.
            self.log.append(Logged(request.method, target, 200, True, resource))
            return Response(
                '[{"id": 1, "full_na', status=200,
                headers={"Content-Type": "application/json; charset=utf-8", **self._headers(resource)},
            )
        if fault.kind == "graphql-error":
            return self._respond(
                request,
                resource,
                200,
                {
                    "data": None,
                    "errors": [
                        {"type": "SOMETHING", "message": "Something went wrong while executing your query."}
                    ],
                },
            )
        if fault.kind == "notfound":
            return self._respond(request, resource, 404, {"message": "Not Found"})
        if fault.kind == "forbidden":
            # What GitHub answers a fine-grained token that lacks a permission: the header
            # names the permission the endpoint accepts.
            return self._respond(
                request, resource, 403, {"message": "Resource not accessible by personal access token"},
                extra={"X-Accepted-GitHub-Permissions": "actions=read"},
            )
        if fault.kind == "401":
            return self._respond(request, resource, 401, {"message": "Bad credentials"})
        return None

    # -- REST -------------------------------------------------------------------------------------
    def _paged(self, request: Request, items: list, wrap: str | None = None) -> Response:
        args = request.args
        per_page = int(args.get("per_page", 30))
        page = int(args.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        extra = {}
        last = max(1, -(-len(items) // per_page))
        base = f"{self.url}{request.path}"
        query = {k: v for k, v in parse_qs(urlsplit(request.full_path).query).items()}
        links = []
        if page < last:
            links.append(f'<{base}?{urlencode({**query, "page": [page + 1]}, doseq=True)}>; rel="next"')
            links.append(f'<{base}?{urlencode({**query, "page": [last]}, doseq=True)}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": [1]}, doseq=True)}>; rel="first"')
        if links:
            extra["Link"] = ", ".join(links)
        body = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return self._respond(request, "core", 200, body, extra=extra)

    def _not_found(self, request: Request) -> Response:
        return self._respond(
            request,
            "core",
            404,
            {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
        )

    def _repo_payload(self, r: FakeRepo) -> dict:
        owner, name = r.full_name.split("/")
        meta = example("full-repository-default-response")
        meta.update(
            full_name=r.full_name,
            name=name,
            default_branch=r.default_branch,
            archived=r.archived,
            size=r.size,
            clone_url=r.clone_url or f"https://github.invalid/{r.full_name}.git",
        )
        meta["owner"]["login"] = owner
        return meta

    def _rest(self, request: Request) -> Response:
        path = request.path
        args = request.args
        m = re.fullmatch(r"/orgs/([\w.-]+)/repos", path)
        if m:
            if m.group(1) not in self.orgs:
                return self._not_found(request)
            return self._paged(
                request, [self._repo_payload(self.repos[n]) for n in self.orgs[m.group(1)] if n in self.repos]
            )
        m = re.fullmatch(r"/repos/([\w.-]+/[\w.-]+)(/.*)?", path)
        if not m or m.group(1) not in self.repos:
            return self._not_found(request)
        r = self.repos[m.group(1)]
        rest = m.group(2) or ""
        if rest == "":
            return self._respond(request, "core", 200, self._repo_payload(r))
        if rest == "/commits":
            if r.size == 0:
                return self._respond(request, "core", 409, {"message": "Git Repository is empty."})
            return self._paged(request, example("commit-items"))
        if rest == "/deployments":
            return self._paged(request, sorted(r.deployments, key=lambda d: -d["id"]))
        m = re.fullmatch(r"/deployments/(\d+)/statuses", rest)
        if m:
            statuses = r.statuses.get(int(m.group(1)))
            if statuses is None:
                return self._not_found(request)
            return self._paged(
                request, sorted(statuses, key=lambda s: (s["created_at"], s["id"]), reverse=True)
            )
        if rest == "/actions/runs":
            return self._paged(
                request,
                sorted(r.runs, key=lambda x: (x["created_at"], x["id"]), reverse=True),
                wrap="workflow_runs",
            )
        if rest == "/actions/workflows":
            return self._paged(request, sorted(r.workflows.values(), key=lambda w: w["id"]), wrap="workflows")
        m = re.fullmatch(r"/actions/workflows/(\d+)/runs", rest)
        if m:
            wid = int(m.group(1))
            if not any(w["id"] == wid for w in r.workflows.values()):
                return self._not_found(request)
            return self._paged(
                request,
                sorted((x for x in r.runs if x["workflow_id"] == wid), key=lambda x: (x["created_at"], x["id"]),
                       reverse=True),
                wrap="workflow_runs",
            )
        if rest == "/releases":
            return self._paged(request, sorted(r.releases, key=lambda x: x["created_at"], reverse=True))
        if rest == "/issues":
            return self._paged(request, self._issues(r, args))
        if rest == "/pulls":
            return self._paged(request, self._rest_pulls(request, r, args))
        m = re.fullmatch(r"/pulls/(\d+)/(reviews|commits)", rest)
        if m:
            pr = next((p for p in r.pulls if p["number"] == int(m.group(1))), None)
            if pr is None:
                return self._not_found(request)
            return self._paged(
                request, self._rest_reviews(pr) if m.group(2) == "reviews" else self._rest_commits(pr)
            )
        m = re.fullmatch(r"/issues/(\d+)/events", rest)
        if m:
            pr = next((p for p in r.pulls if p["number"] == int(m.group(1))), None)
            events = (
                [{"id": 1, "event": "merged", "commit_id": pr["merge_sha"], "created_at": pr["merged_at"]}]
                if pr
                else []
            )
            return self._paged(request, events)
        return self._not_found(request)

    @staticmethod
    def _issues(r: FakeRepo, args: Any) -> list[dict]:
        wanted = [x for x in (args.get("labels") or "").split(",") if x]
        since = args.get("since")
        out = []
        for issue in r.issues:
            names = {lb["name"] for lb in issue["labels"]}
            if wanted and not all(w in names for w in wanted):
                continue
            if since and issue["updated_at"] < since:
                continue
            state = args.get("state", "open")
            if state != "all" and issue["state"] != state:
                continue
            out.append(issue)
        reverse = args.get("direction", "desc") == "desc"
        return sorted(
            out, key=lambda i: (i[args.get("sort", "created") + "_at"], i["number"]), reverse=reverse
        )

    def _rest_pulls(self, request: Request, r: FakeRepo, args: Any) -> list[dict]:
        out = []
        for pr in sorted(r.pulls, key=lambda p: p["updated_at"], reverse=True):
            if args.get("base") and pr["base"] != args.get("base"):
                continue
            item = example("pull-request-simple-items")[0]
            item.update(
                number=pr["number"],
                state="closed",
                created_at=pr["created_at"],
                updated_at=pr["updated_at"],
                closed_at=pr["merged_at"],
                merged_at=pr["merged_at"],
                merge_commit_sha=pr["merge_sha"],
                html_url=f"https://github.com/{r.full_name}/pull/{pr['number']}",
                requested_teams=[],
                labels=[{**item["labels"][0], "name": n} for n in pr["labels"]],
            )
            item["user"]["login"] = pr["author"]
            item["requested_reviewers"] = [
                {**item["requested_reviewers"][0], "login": n} for n in pr["requested"]
            ]
            item["base"]["ref"] = pr["base"]
            if request.headers.get("X-GitHub-Api-Version", "") >= "2026-03-10":
                item.pop("merge_commit_sha", None)  # removed in API version 2026-03-10
                item.pop("assignee", None)
            out.append(item)
        return out

    @staticmethod
    def _rest_reviews(pr: dict) -> list[dict]:
        out = []
        for rv in pr["reviews"]:
            item = example("pull-request-review-items")[0]
            item.update(id=rv["id"], state=rv["state"], submitted_at=iso(rv["at"]))
            item["user"]["login"] = rv["reviewer"]
            out.append(item)
        return out

    @staticmethod
    def _rest_commits(pr: dict) -> list[dict]:
        out = []
        for c in pr["commits"]:
            item = example("commit-items")[0]
            item["sha"] = c["sha"]
            item["commit"]["author"].update(name=c["author"], date=iso(c["authored_at"]))
            item["commit"]["committer"].update(date=iso(c["committed_at"]))
            item["author"]["login"] = c["author"]
            out.append(item)
        return out

    # -- GraphQL ------------------------------------------------------------------------------------
    def _graphql(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError):
            return self._respond(request, "graphql", 400, {"message": "Problems parsing JSON"})
        cost = graphql_cost(query, variables)
        rate = {
            "cost": cost,
            "remaining": self.limits["graphql"] - self.used["graphql"] - cost,
            "resetAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.reset_at["graphql"])),
        }
        repo = self.repos.get(f"{variables.get('owner')}/{variables.get('name')}")
        if repo is None:
            return self._respond(
                request,
                "graphql",
                200,
                {
                    "data": {"rateLimit": rate, "repository": None},
                    "errors": [
                        {
                            "type": "NOT_FOUND",
                            "path": ["repository"],
                            "message": "Could not resolve to a Repository.",
                        }
                    ],
                },
                points=cost,
            )
        if "query MergedPullRequests" in query:
            data = self._gql_pulls(repo, variables)
        elif "query PullRequestTimeline" in query:
            pr = next(p for p in repo.pulls if p["number"] == int(variables["number"]))
            data = {"pullRequest": {"timelineItems": self._gql_timeline(pr, variables.get("after"))}}
        else:
            return self._respond(
                request, "graphql", 200, {"errors": [{"message": "unknown query"}]}, points=cost
            )
        return self._respond(
            request, "graphql", 200, {"data": {"rateLimit": rate, "repository": data}}, points=cost
        )

    @staticmethod
    def _cursor(i: int) -> str:
        return base64.b64encode(f"cursor:{i}".encode()).decode()

    @staticmethod
    def _offset(cursor: str | None) -> int:
        return int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0

    def _gql_pulls(self, repo: FakeRepo, v: dict) -> dict:
        prs = sorted(
            (p for p in repo.pulls if p["base"] == v["base"]),
            key=lambda p: (p["updated_at"], p["number"]),
            reverse=True,
        )
        start = self._offset(v.get("after"))
        chunk = prs[start : start + int(v["first"])]
        end = start + len(chunk)
        return {
            "pullRequests": {
                "pageInfo": {
                    "hasNextPage": end < len(prs),
                    "endCursor": self._cursor(end) if chunk else None,
                },
                "nodes": [
                    {
                        "number": p["number"],
                        "createdAt": p["created_at"],
                        "mergedAt": p["merged_at"],
                        "updatedAt": p["updated_at"],
                        "url": f"https://github.com/{repo.full_name}/pull/{p['number']}",
                        "author": {"login": p["author"]},
                        "mergeCommit": {"oid": p["merge_sha"]},
                        "labels": {"nodes": [{"name": n} for n in p["labels"][:20]]},
                        "timelineItems": self._gql_timeline(p, None),
                    }
                    for p in chunk
                ],
            }
        }

    def _gql_timeline(self, p: dict, after: str | None) -> dict:
        items = [
            (
                c["authored_at"],
                {
                    "__typename": "PullRequestCommit",
                    "commit": {
                        "oid": c["sha"],
                        "committedDate": iso(c["committed_at"]),
                        "authoredDate": iso(c["authored_at"]),
                        "author": {"name": c["author"], "user": {"login": c["author"]}},
                    },
                },
            )
            for c in p["commits"]
        ]
        items += [
            (p["created_at"], {"__typename": "ReviewRequestedEvent", "requestedReviewer": {"login": n}})
            for n in p["requested"]
        ]
        items += [
            (
                rv["at"],
                {
                    "__typename": "PullRequestReview",
                    "databaseId": rv["id"],
                    "author": {"login": rv["reviewer"]},
                    "state": rv["state"],
                    "submittedAt": iso(rv["at"]),
                },
            )
            for rv in p["reviews"]
        ]
        items.sort(key=lambda t: iso(t[0]))
        start = self._offset(after)
        chunk = [i for _, i in items[start : start + 100]]
        end = start + len(chunk)
        return {"pageInfo": {"hasNextPage": end < len(items), "endCursor": self._cursor(end)}, "nodes": chunk}


# -- real git repositories built in a test ---------------------------------------------------------


class GitRepo:
    """A working repository with commits at fixed times (author date = committer date unless
    given), for the commit-graph tests and as `clone_url` for the sync."""

    def __init__(self, path: Path, branch: str = "main"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)
        self.git("config", "user.name", "Test")
        self.git("config", "user.email", "test@example.com")
        self.git("config", "uploadpack.allowFilter", "true")
        self.git("config", "uploadpack.allowAnySHA1InWant", "true")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")
        self._n = 0

    def git(
        self, *args: str, at: str | None = None, authored: str | None = None, author: str | None = None
    ) -> str:
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
        if at:
            env["GIT_COMMITTER_DATE"] = iso(at)
            env["GIT_AUTHOR_DATE"] = iso(authored or at)
        if author:
            env["GIT_AUTHOR_NAME"] = author
            env["GIT_AUTHOR_EMAIL"] = f"{author}@example.com"
        done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def commit(self, message: str, at: str, author: str = "dev", authored: str | None = None) -> str:
        self._n += 1
        (self.path / f"file{self._n}.txt").write_text(f"{message}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, at=at, authored=authored, author=author)
        return self.git("rev-parse", "HEAD")

    def checkout(self, branch: str, new: bool = False, start: str | None = None) -> None:
        self.git("checkout", "-q", *(["-b", branch] if new else [branch]), *([start] if start else []))

    def merge(self, branch: str, message: str, at: str) -> str:
        self.git("merge", "-q", "--no-ff", "-m", message, branch, at=at)
        return self.git("rev-parse", "HEAD")

    def squash(self, branch: str, message: str, at: str, author: str = "dev") -> str:
        self.git("merge", "-q", "--squash", branch)
        self.git("commit", "-q", "-m", message, at=at, author=author)
        return self.git("rev-parse", "HEAD")

    def cherry_pick(self, sha: str, at: str) -> str:
        """A rebase-merge copy: new sha and committer date, author date kept."""
        env_at = iso(at)
        done = subprocess.run(
            ["git", "-C", str(self.path), "cherry-pick", sha],
            capture_output=True,
            text=True,
            env={**os.environ, "GIT_COMMITTER_DATE": env_at},
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return self.git("rev-parse", "HEAD")

    def revert(self, sha: str, at: str) -> str:
        self.git("revert", "--no-edit", sha, at=at)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, sha: str, at: str | None = None, annotated: bool = False) -> None:
        if annotated:
            self.git("tag", "-a", name, sha, "-m", name, at=at)
        else:
            self.git("tag", name, sha)

    def delete_branch(self, branch: str) -> None:
        self.git("branch", "-q", "-D", branch)


# -- the end-to-end scenario (small enough to compute every metric by hand) ------------------------


@dataclass
class Scenario:
    fake: FakeGitHub
    config_path: Path
    db: Path
    sha: dict[str, str]
    api: GitRepo
    web: GitRepo


CONFIG = """
db = "{db}"

[metrics]
production_environment = "^(prod|production)$"
failed_runs_count = true

[github]
api_url = "{url}"
repos = ["acme/api", "acme/web", "acme/legacy", "acme/ghost", "acme/empty"]
since = 2026-01-01
cache_dir = "{cache}"

[[github.deployments.workflows]]
name = "^Deploy$"
branch = "^main$"

[[github.deployments.tags]]
pattern = '^v\\d+\\.\\d+\\.\\d+$'

[github.incidents]
labels = ["incident"]
window_hours = 48

[teams]
payments = ["acme/api"]
web = ["acme/w*"]

[repos."acme/web"]
team = "frontend"
clone_url = "{web}"

[repos."acme/api"]
clone_url = "{api}"
"""


def build_scenario(tmp: Path, fake: FakeGitHub, extra_config: str = "") -> Scenario:
    """acme/api (deployments API + Actions runs, merge / squash / rebase merges, a revert,
    incidents), acme/web (tag deployments), and three repositories to skip."""
    api = GitRepo(tmp / "src" / "api")
    s: dict[str, str] = {}
    s["r0"] = api.commit("Initial commit", "2025-12-01T09:00:00")
    api.checkout("feature", new=True)
    s["a1"] = api.commit("Add endpoint", "2026-01-05T10:00:00", author="alice")
    s["a2"] = api.commit("Add tests", "2026-01-05T12:00:00", author="alice")
    api.checkout("main")
    s["m1"] = api.merge("feature", "Merge pull request #1 from acme/feature", "2026-01-06T10:00:00")
    api.delete_branch("feature")
    api.checkout("search", new=True)
    s["b1"] = api.commit("Start search", "2026-01-07T09:00:00", author="bob")
    s["b2"] = api.commit("Finish search", "2026-01-07T15:00:00", author="bob")
    api.checkout("main")
    s["s2"] = api.squash("search", "Add search (#2)", "2026-01-08T10:00:00", author="bob")
    api.delete_branch("search")
    s["h3"] = api.commit("hotfix: fix search crash", "2026-01-09T08:00:00", author="bob")
    s["f4"] = api.commit("Add caching", "2026-01-10T09:00:00", author="alice")
    api.checkout("cache", new=True)
    s["c1"] = api.commit("Refactor cache", "2026-01-11T09:00:00", author="carol")
    s["c2"] = api.commit("Tune cache", "2026-01-11T11:00:00", author="carol")
    api.checkout("main")
    s["g5"] = api.commit("Bump deps", "2026-01-11T20:00:00", author="dave")
    s["c1r"] = api.cherry_pick(s["c1"], "2026-01-12T10:00:00")
    s["c2r"] = api.cherry_pick(s["c2"], "2026-01-12T10:00:00")
    api.delete_branch("cache")
    s["rv"] = api.revert(s["c2r"], "2026-01-13T09:00:00")

    web = GitRepo(tmp / "src" / "web")
    s["w1"] = web.commit("Landing page", "2026-01-02T09:00:00", author="erin")
    web.tag("v1.0.0", s["w1"], at="2026-01-03T09:00:00", annotated=True)
    s["w2"] = web.commit("New header", "2026-01-10T09:00:00", author="erin")
    web.tag("nightly-7", s["w2"])
    web.tag("v1.1.0", s["w2"], at="2026-01-15T09:00:00", annotated=True)

    fake.repo("acme/api", clone_url=str(api.path))
    fake.repo("acme/web", clone_url=str(web.path))
    fake.repo("acme/legacy", archived=True)
    fake.repo("acme/empty", size=0)

    a = "acme/api"
    fake.add_deployment(
        a,
        101,
        s["m1"],
        "production",
        "2026-01-06T11:00:00",
        [
            ("in_progress", "2026-01-06T11:00:00"),
            ("success", "2026-01-06T12:00:00"),
            ("inactive", "2026-01-08T12:30:00"),
        ],
    )
    fake.add_deployment(
        a,
        102,
        s["s2"],
        "production",
        "2026-01-08T11:00:00",
        [("queued", "2026-01-08T11:00:00"), ("success", "2026-01-08T12:00:00")],
    )
    fake.add_deployment(
        a, 103, s["s2"], "staging", "2026-01-08T10:30:00", [("success", "2026-01-08T10:45:00")]
    )
    fake.add_deployment(
        a,
        104,
        s["c2r"],
        "production",
        "2026-01-12T11:00:00",
        [("in_progress", "2026-01-12T11:00:00"), ("success", "2026-01-12T12:00:00")],
    )
    # A push-triggered run's title is its head commit's subject (GitHub's display_title).
    fake.add_run(
        a, 9001, "Deploy", s["h3"], "2026-01-09T11:00:00", "2026-01-09T12:00:00", title="hotfix: fix search crash"
    )
    fake.add_run(a, 9002, "CI", s["h3"], "2026-01-09T08:05:00", "2026-01-09T08:20:00")
    fake.add_run(
        a, 9003, "Deploy", s["f4"], "2026-01-10T09:30:00", "2026-01-10T10:00:00", conclusion="failure"
    )
    fake.add_run(
        a, 9004, "Deploy", s["f4"], "2026-01-10T10:05:00", "2026-01-10T10:10:00", conclusion="cancelled"
    )
    fake.add_run(a, 9005, "Deploy", s["f4"], "2026-01-10T10:30:00", "2026-01-10T11:00:00")
    fake.add_run(a, 9006, "Deploy", s["rv"], "2026-01-13T10:00:00", "2026-01-13T10:30:00")
    fake.add_run(
        a,
        9007,
        "Deploy",
        s["rv"],
        "2026-01-14T09:00:00",
        "2026-01-14T09:01:00",
        status="in_progress",
        conclusion=None,
    )
    fake.add_run(
        a, 9008, "Deploy", s["rv"], "2026-01-14T08:00:00", "2026-01-14T08:30:00", branch="experiment"
    )

    def commit(key: str, author: str) -> dict:
        at = {
            "a1": "2026-01-05T10:00:00",
            "a2": "2026-01-05T12:00:00",
            "b1": "2026-01-07T09:00:00",
            "b2": "2026-01-07T15:00:00",
            "c1": "2026-01-11T09:00:00",
            "c2": "2026-01-11T11:00:00",
        }[key]
        return {"sha": s[key], "committed_at": at, "authored_at": at, "author": author}

    fake.add_pull(
        a,
        1,
        "alice",
        "2026-01-05T12:30:00",
        "2026-01-06T10:00:00",
        s["m1"],
        [commit("a1", "alice"), commit("a2", "alice")],
        reviews=[
            {"id": 501, "reviewer": "bob", "state": "COMMENTED", "at": "2026-01-05T15:00:00"},
            {"id": 502, "reviewer": "bob", "state": "APPROVED", "at": "2026-01-06T09:00:00"},
        ],
        requested=["bob", "carol"],
        labels=["feature"],
    )
    fake.add_pull(
        a,
        2,
        "bob",
        "2026-01-07T16:00:00",
        "2026-01-08T10:00:00",
        s["s2"],
        [commit("b1", "bob"), commit("b2", "bob")],
        reviews=[{"id": 503, "reviewer": "alice", "state": "APPROVED", "at": "2026-01-08T09:00:00"}],
        requested=["alice"],
    )
    fake.add_pull(
        a,
        3,
        "carol",
        "2026-01-11T12:00:00",
        "2026-01-12T10:00:00",
        s["c2r"],
        [commit("c1", "carol"), commit("c2", "carol")],
        reviews=[
            {"id": 504, "reviewer": "alice", "state": "CHANGES_REQUESTED", "at": "2026-01-11T14:00:00"},
            {"id": 505, "reviewer": "carol", "state": "COMMENTED", "at": "2026-01-11T14:30:00"},
            {"id": 506, "reviewer": "alice", "state": "APPROVED", "at": "2026-01-12T09:30:00"},
        ],
        labels=["refactor", "perf"],
    )
    fake.add_pull(a, 4, "dave", "2026-01-11T12:00:00", "2026-01-11T13:00:00", s["g5"], [], base="release")

    fake.add_issue(
        a,
        10,
        "Search returns 500",
        "2026-01-08T20:00:00",
        "2026-01-09T14:00:00",
        ["incident", "sev2"],
        "Search is down.\n\nCaused by #2",
    )
    fake.add_issue(
        a,
        11,
        "Stale cache",
        "2026-01-10T12:00:00",
        "2026-01-10T15:00:00",
        ["incident"],
        "Users see stale data.",
    )
    fake.add_issue(a, 12, "Latency spike", "2026-01-20T10:00:00", None, ["incident", "sev3"], "p99 doubled.")
    fake.add_issue(
        a,
        13,
        "Fix incident tooling",
        "2026-01-09T10:00:00",
        "2026-01-09T11:00:00",
        ["incident"],
        "a pull request",
        is_pull=True,
    )
    fake.add_issue(a, 14, "Typo", "2026-01-09T10:00:00", None, ["bug"], "caused by #1")
    fake.add_issue(
        a,
        15,
        "Cache misses",
        "2026-01-12T13:00:00",
        "2026-01-12T18:00:00",
        ["incident"],
        f"Regressed by {s['c2r'][:10]}, see graphs.",
    )

    config = tmp / "dora.toml"
    db = tmp / "dora.duckdb"
    config.write_text(
        CONFIG.format(db=db, url=fake.url, cache=tmp / "cache", web=web.path, api=api.path) + extra_config
    )
    return Scenario(fake, config, db, s, api, web)


def github_config(path: Path, fake: FakeGitHub, repos: list[str], extra: str = "") -> Path:
    """A config whose [github] points at the fake: these repositories since 2026-01-01, the
    clone cache beside the file, then any further TOML (`extra`, e.g. deployment rules)."""
    path.write_text(
        f'[github]\napi_url = "{fake.url}"\nrepos = {json.dumps(repos)}\nsince = 2026-01-01\n'
        f'cache_dir = "{path.parent / "cache"}"\n{extra}'
    )
    return path
