"""The PagerDuty sync: incidents of each configured service, through the shared HTTP client.

`/incidents` filters by creation time (`since`/`until`, at most six months apart) and pages
with `offset`/`limit`/`more`; PagerDuty refuses offsets past 10,000, so a window that holds
more is cut in halves until each half fits. Per service the cursor holds where the next
window starts and the incidents still open, which are read again (`/incidents/{id}`) until
they resolve. Resolution: the incident's `resolved_at`, else (older accounts, merged
incidents) the `resolve_log_entry` among its log entries.

Cause: an incident that names a deployment (`deployment_id: <id>` in its title or
description, or a GitHub deployment or Actions run link) is stored with it; otherwise
`deployment_id` stays NULL and the shared attribution rule of the warehouse decides.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from collectors.causes import github_deployment_id, parse_cause
from collectors.config import SourcesSettings
from collectors.http import PAGERDUTY_LIMITS, ApiError, AuthError, HttpClient, OffsetMore, Page
from collectors.pagerduty.config import PagerDutyConfig, PagerDutyService
from collectors.run import Failure, Progress, RunOptions, RunResult, Silent
from collectors.shipping import load_rows
from collectors.signals import parse_time
from collectors.stream import Stream
from collectors.teams import team_rows
from warehouse.db import Cursor, Warehouse
from warehouse.errors import UserError

SOURCE = "pagerduty"
WINDOW = timedelta(days=180)  # PagerDuty: since/until at most six months apart
OFFSET_CAP = 10_000  # PagerDuty refuses offset + limit beyond this
PAGE = 100
_NAMED_DEPLOYMENT = re.compile(r"deployment[_ ]id\s*[:=]\s*(?P<id>[\w.:/#@-]+)", re.IGNORECASE)


class Incidents(Stream):
    name = "incidents"
    path = "/incidents"
    replication_key = "created_at"
    items_key = "incidents"


class Incident(Stream):
    """One incident, re-read while it is open."""

    name = "incident"
    path = "/incidents/{id}"
    parent = Incidents


class LogEntries(Stream):
    name = "log_entries"
    path = "/incidents/{id}/log_entries"
    items_key = "log_entries"
    parent = Incidents


def client_for(
    config: PagerDutyConfig,
    token: str,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_wait=None,
) -> HttpClient:
    return HttpClient(
        config.api_url,
        headers={
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        },
        secrets=(token,),
        pagination=OffsetMore(limit=PAGE),
        limits=PAGERDUTY_LIMITS,
        timeout=config.timeout_seconds,
        max_retries=config.max_retries,
        sleep=sleep,
        clock=clock,
        on_wait=on_wait,
    )


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutySync:
    def __init__(self, wh: Warehouse, config: SourcesSettings, options: RunOptions | None = None,
                 progress: Progress | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        pd = config.pagerduty
        if pd is None:
            raise UserError("no [pagerduty] section in the config")
        options = options or RunOptions()
        self.wh, self.config, self.pd = wh, config, pd
        self.since, self.full, self.clock, self.sleep = options.since, options.full, clock, sleep
        self.progress = progress or Silent()
        self.result = RunResult("PagerDuty", "services")

    def run(self) -> RunResult:
        token = self.pd.token()
        self.client = client_for(self.pd, token, self.sleep, self.clock, self.progress.wait)
        try:
            if self.full:
                self.wh.clear_cursors(SOURCE)
            self.result.scopes = [service.id for service in self.pd.services]
            self.progress.scopes(self.result.scopes)
            for service in self.pd.services:
                self.progress.step(service.id, Incidents.name)
                try:
                    self._service(service)
                except AuthError as exc:
                    raise UserError(f"PagerDuty rejected the token in {self.pd.token_env} ({exc})") from None
                except (ApiError, KeyError, TypeError, ValueError) as exc:
                    self.result.failures.append(Failure(service.id, Incidents.name, str(exc)))
                    self.progress.warn(f"{service.id} {Incidents.name}: {exc}")
                self.progress.scope_done(service.id)
        finally:
            self.result.cost = self.client.stats
            self.client.close()
        return self.result

    # -- one service ---------------------------------------------------------------------------
    def _start(self, now: datetime) -> datetime:
        chosen = self.since or self.pd.since
        if chosen is None:
            return now - timedelta(days=self.pd.backfill_days)
        return datetime(chosen.year, chosen.month, chosen.day, tzinfo=UTC)

    def _service(self, service: PagerDutyService) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        stored = self.wh.cursor(SOURCE, service.id, Incidents.name)
        state = json.loads(stored.cursor) if stored.cursor else {}
        start = parse_time(state.get("since")) or self._start(now)
        open_ids: set[str] = set(state.get("open") or [])
        self.team = service.team or next(
            (r["team"] for r in team_rows(self.config, service.repos)), None
        )
        # Incidents still open at the last sync: read each again.
        for iid in sorted(open_ids):
            page = self.client.get_json(Incident.path.format(id=iid))
            incident = page.data.get("incident") if isinstance(page.data, dict) else None
            if incident and incident.get("status") == "resolved":
                open_ids.discard(iid)
            if incident:
                self._save(service, [incident], {"since": iso(start), "open": sorted(open_ids)})
        while start < now:
            until = min(start + WINDOW, now)
            for incidents in self._window(service, start, until):
                for i in incidents:
                    (open_ids.discard if i.get("status") == "resolved" else open_ids.add)(str(i["id"]))
                self._save(service, incidents, {"since": iso(start), "open": sorted(open_ids)})
            start = until
            self._save(service, [], {"since": iso(start), "open": sorted(open_ids)})

    def _window(self, service: PagerDutyService, since: datetime, until: datetime) -> Iterator[list[dict]]:
        """Pages of incidents created in [since, until); a window past the offset cap is halved."""
        params = {"since": iso(since), "until": iso(until), "service_ids[]": service.id,
                  "time_zone": "UTC", "sort_by": "created_at:asc", "total": "false"}
        pages: Iterator[Page] = self.client.pages(Incidents.path, params, items_key=Incidents.items_key)
        for page in pages:
            if page.next_url and _offset(page.next_url) + PAGE > OFFSET_CAP:
                if until - since <= timedelta(seconds=1):
                    raise ApiError(f"more than {OFFSET_CAP} incidents created within one second")
                middle = since + (until - since) / 2
                yield from self._window(service, since, middle)
                yield from self._window(service, middle, until)
                return
            yield page.items

    def _save(self, service: PagerDutyService, incidents: list[dict], state: dict) -> None:
        # An incident that names no deployment is loaded without the column, so that what the
        # shared attribution rule wrote there is not reset by the next sync.
        named = [self._row(service, i) for i in incidents]
        with_cause = [r for r in named if r["deployment_id"]]
        without = [
            {k: v for k, v in r.items() if k != "deployment_id"} for r in named if not r["deployment_id"]
        ]
        cursor = Cursor(SOURCE, service.id, Incidents.name, json.dumps(state, sort_keys=True))

        def save() -> list:
            with self.wh.transaction():
                return [load_rows(self.wh, {"incidents": rows}, SOURCE, cursors)
                        for rows, cursors in ((with_cause, []), (without, [cursor]))]

        # Counted once it committed: a retried save (it lost a race) is not counted twice.
        for counts in self.wh.retried(save, f"saving the incidents of {service.id}"):
            self.result.add(counts)
            self.progress.rows(service.id, Incidents.name, counts)

    def _row(self, service: PagerDutyService, incident: dict) -> dict:
        resolved = None
        if incident.get("status") == "resolved":
            resolved = parse_time(incident.get("resolved_at")) or self._resolved_from_log(incident)
        priority = (incident.get("priority") or {}).get("summary")
        return {
            "incident_id": f"pagerduty:{incident['id']}",
            "opened_at": parse_time(incident.get("created_at")),
            "resolved_at": resolved,
            "repo": service.repos[0] if len(service.repos) == 1 else None,
            "service": (incident.get("service") or {}).get("summary") or service.id,
            "team": self.team,
            "severity": (priority or incident.get("urgency") or "").lower() or None,
            "deployment_id": named_deployment(incident, service),
            "url": incident.get("html_url"),
        }

    def _resolved_from_log(self, incident: dict) -> datetime | None:
        path = LogEntries.path.format(id=incident["id"])
        times = [
            parse_time(e.get("created_at"))
            for page in self.client.pages(path, {"is_overview": "true"}, items_key=LogEntries.items_key)
            for e in page.items
            if e.get("type") == "resolve_log_entry"
        ]
        return max((t for t in times if t), default=None)


def _offset(url: str) -> int:
    m = re.search(r"[?&]offset=(\d+)", url)
    return int(m.group(1)) if m else 0


def named_deployment(incident: dict, service: PagerDutyService) -> str | None:
    """The deployment an incident names: `deployment_id: <canonical id>`, or a GitHub
    deployment or Actions run link, in its title or description."""
    text = "\n".join(str(incident.get(k) or "") for k in ("title", "description", "summary"))
    m = _NAMED_DEPLOYMENT.search(text)
    if m:
        return m.group("id").rstrip(".,;)")
    repo = service.repos[0] if service.repos else ""
    cause = parse_cause(text, repo)
    if cause and cause.kind in ("deployment", "run"):
        return github_deployment_id(cause.repo, cause.kind, cause.ref)
    return None
