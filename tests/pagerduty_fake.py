"""A local PagerDuty REST API v2 (pytest-httpserver) serving the documented response shapes
(tests/fixtures/pagerduty-api-examples): `/incidents` filtered by service and created-at window
with classic offset/limit/more pagination and the 10,000-offset cap (configurable here),
`/incidents/{id}`, `/incidents/{id}/log_entries`, token auth, 429 with `ratelimit-reset`
and 5xx faults."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug import Request, Response

FIXTURES = Path(__file__).parent / "fixtures" / "pagerduty-api-examples"
TOKEN = "pd-test-token-u+abcdefghij"


def example(name: str) -> Any:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


@dataclass
class FakePagerDuty:
    token: str = TOKEN
    offset_cap: int = 10_000
    incidents: list[dict] = field(default_factory=list)
    log_entries: dict[str, list[dict]] = field(default_factory=dict)
    faults: list[tuple[str, str]] = field(default_factory=list)  # (path regex, "429" | "500")
    log: list[tuple[str, int]] = field(default_factory=list)  # (path?query, status)
    url: str = ""

    def attach(self, httpserver: Any) -> FakePagerDuty:
        self.url = httpserver.url_for("").rstrip("/")
        httpserver.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        return self

    def add_incident(self, iid: str, service: str, created: str, *, status: str = "resolved",
                     resolved: str | None = None, title: str = "The server is on fire.",
                     priority: str | None = "P2", log_resolved: str | None = None) -> dict:
        i = example("incident")
        i.update(id=iid, title=title, description=title, summary=f"[#{len(self.incidents) + 1}] {title}",
                 created_at=created, updated_at=resolved or created, status=status,
                 resolved_at=resolved, last_status_change_at=resolved or created,
                 html_url=f"https://subdomain.pagerduty.com/incidents/{iid}",
                 self=f"{self.url}/incidents/{iid}", incident_number=len(self.incidents) + 1)
        i["service"].update(id=service, summary=f"service {service}")
        if priority is None:
            i["priority"] = None
        else:
            i["priority"]["summary"] = priority
        if log_resolved:
            entry = example("log-entries")["log_entries"][0]
            entry.update(created_at=log_resolved)
            entry["incident"]["id"] = iid
            self.log_entries[iid] = [entry]
        self.incidents.append(i)
        return i

    def handle(self, request: Request) -> Response:
        target = request.full_path.rstrip("?")
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return self._answer(target, 401, {"error": {"message": "Unauthorized", "code": 2006}})
        for n, (pattern, kind) in enumerate(self.faults):
            if re.search(pattern, target):
                del self.faults[n]
                if kind == "429":
                    return self._answer(target, 429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
                                        {"ratelimit-limit": "960", "ratelimit-remaining": "0",
                                         "ratelimit-reset": "7"})
                return self._answer(target, 500, {"error": {"message": "Internal Server Error"}})
        if request.path == "/incidents":
            return self._list(request, target)
        m = re.fullmatch(r"/incidents/(\w+)(/log_entries)?", request.path)
        if m:
            found = next((i for i in self.incidents if i["id"] == m.group(1)), None)
            if found is None:
                return self._answer(target, 404, {"error": {"message": "Not Found", "code": 2100}})
            if m.group(2):
                entries = self.log_entries.get(found["id"], [])
                return self._answer(target, 200, {"log_entries": entries, "limit": 25, "offset": 0,
                                                  "more": False, "total": None})
            return self._answer(target, 200, {"incident": found})
        return self._answer(target, 404, {"error": {"message": "Not Found", "code": 2100}})

    def _list(self, request: Request, target: str) -> Response:
        args = request.args
        since, until = args.get("since"), args.get("until")
        services = args.getlist("service_ids[]")
        limit, offset = int(args.get("limit", 25)), int(args.get("offset", 0))
        if offset + limit > self.offset_cap:
            return self._answer(target, 400, {"error": {
                "message": "Invalid Input Provided", "code": 2001,
                "errors": [f"Offset must be less than {self.offset_cap}."]}})
        chosen = sorted(
            (i for i in self.incidents
             if (not services or i["service"]["id"] in services)
             and (since is None or i["created_at"] >= since) and (until is None or i["created_at"] < until)),
            key=lambda i: (i["created_at"], i["id"]),
        )
        chunk = chosen[offset: offset + limit]
        return self._answer(target, 200, {"incidents": chunk, "limit": limit, "offset": offset,
                                          "total": None, "more": offset + limit < len(chosen)},
                            {"ratelimit-limit": "960", "ratelimit-remaining": "900", "ratelimit-reset": "30"})

    def _answer(self, target: str, status: int, body: Any, headers: dict | None = None) -> Response:
        self.log.append((target, status))
        return Response(json.dumps(body), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})
