"""The one HTTP client every GitHub source uses.

It owns everything about talking to GitHub, so that a stream only says *what* it wants:
authentication from an environment variable, the pinned API version, `Link` pagination with
`per_page=100`, conditional requests (ETag / If-None-Match: a 304 costs nothing against the
primary limit), the primary rate limit (read from `x-ratelimit-*`, paused until reset with
the wait reported), secondary limits (403/429 with `retry-after`, else back off from 60 s,
doubling), retries with backoff on 5xx and dropped connections, and GraphQL errors that come
back with status 200. Time and sleeping are injectable so tests never really wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from collectors.secrets import REDACT

log = logging.getLogger(__name__)

PER_PAGE = 100
MAX_RATE_LIMIT_WAITS = 8  # consecutive rate-limit answers for one request before giving up
SECONDARY_BACKOFF = 60.0  # seconds, doubled on each further secondary-limit answer
MAX_WAIT = 3600.0 + 60  # a primary reset is at most an hour away; anything longer is bogus


class GitHubError(Exception):
    """A request that failed for good; the message is redacted and names the endpoint."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(REDACT(message))
        self.status = status


class AuthError(GitHubError):
    """The token is missing, rejected (401) or lacks a permission for the whole sync."""


class NotFound(GitHubError):
    pass


class Unreachable(GitHubError):
    """The API host cannot be reached at all (name, refused, TLS, timeout): no other request
    of this sync would fare better, so the sync stops; the message names host and cause."""


def connection_cause(exc: BaseException) -> tuple[str, bool, bool]:
    """(cause in words, worth retrying?, a failure to reach the host at all?) of a requests
    connection error, read from the exceptions it wraps.

    A name that does not resolve and a TLS failure do not heal in seconds: no retry. A
    refused or timed-out connection may (a restarting proxy), so it is retried with backoff.
    """
    chain, seen = [], set()
    stack: list[BaseException | None] = [exc]
    while stack:  # the causes are nested in args (urllib3's MaxRetryError.reason) and __context__
        e = stack.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        chain.append(e)
        stack.extend([getattr(e, "reason", None), e.__cause__, e.__context__])
        stack.extend(a for a in e.args if isinstance(a, BaseException))
    names = {type(e).__name__ for e in chain}
    if names & {"NameResolutionError", "gaierror"} or "Failed to resolve" in str(exc):
        return "the name does not resolve", False, True
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in names:
        reason = next((str(e) for e in reversed(chain) if type(e).__name__ == "SSLError"), "")
        return f"TLS failed ({reason[:120]})" if reason else "TLS failed", False, True
    if "ConnectionRefusedError" in names:
        return "connection refused", True, True
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out", True, True
    if isinstance(exc, requests.Timeout):
        return "no answer in time", True, False
    return "connection dropped", True, False


class GraphQLError(GitHubError):
    def __init__(self, message: str, types: set[str] | None = None):
        super().__init__(message, 200)
        self.types = types or set()


@dataclass
class Stats:
    """What a sync cost. `points` counts what GitHub charges against the primary limits."""

    requests: int = 0  # HTTP requests sent, retries included
    rest_points: int = 0  # REST requests that counted (everything but 304s)
    graphql_points: int = 0  # GraphQL query cost as GitHub reports it (rateLimit.cost)
    not_modified: int = 0  # 304 answers (free)
    retries: int = 0
    waited_seconds: float = 0.0

    @property
    def points(self) -> int:
        return self.rest_points + self.graphql_points


@dataclass
class Page:
    url: str
    items: list[dict]
    next_url: str | None
    etag: str | None
    not_modified: bool = False
    data: Any = None  # the whole decoded body


@dataclass
class RateState:
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    by_resource: dict[str, tuple[int, float]] = field(default_factory=dict)


WaitCallback = Callable[[float, str], None]


class GitHubClient:
    """requests.Session with GitHub's rules. One per sync; shared by every stream."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        graphql_url: str | None = None,
        api_version: str = "2026-03-10",
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_wait: WaitCallback | None = None,
        user_agent: str = "dora-impact",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url or self.api_url + "/graphql"
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.on_wait = on_wait
        self.stats = Stats()
        self.rate = RateState()
        REDACT.add(token)
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": api_version,
                "User-Agent": user_agent,
            }
        )
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient(api_url={self.api_url!r}, graphql_url={self.graphql_url!r})"

    def close(self) -> None:
        self._session.close()

    # -- URLs ---------------------------------------------------------------------------------
    def url(self, path: str, params: dict | None = None) -> str:
        base = path if path.startswith(("http://", "https://")) else self.api_url + path
        if params:
            base += ("&" if "?" in base else "?") + urlencode(params, safe=":<>=,")
        return base

    def _label(self, url: str) -> str:
        """An endpoint for messages: path and query, never a host-embedded credential."""
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- waiting ------------------------------------------------------------------------------
    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, min(seconds, MAX_WAIT))
        if seconds <= 0:
            return
        self.stats.waited_seconds += seconds
        log.info("waiting %.0f s: %s", seconds, why)
        if self.on_wait:
            self.on_wait(seconds, why)
        self.sleep(seconds)

    def _until_reset(self, reset_at: float | None) -> float:
        if reset_at is None:
            return SECONDARY_BACKOFF
        return reset_at - self.clock() + 1  # +1 s: GitHub's reset is inclusive

    def _note_rate(self, resp: requests.Response) -> None:
        h = resp.headers
        try:
            remaining = int(h["x-ratelimit-remaining"])
            reset = float(h["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        resource = h.get("x-ratelimit-resource", "core")
        self.rate.by_resource[resource] = (remaining, reset)

    def _respect_primary(self, resource: str) -> None:
        """Before sending: if the last answer said the limit is spent, wait for its reset."""
        state = self.rate.by_resource.get(resource)
        if state and state[0] <= 0 and state[1] > self.clock():
            reset = time.strftime("%H:%M:%S", time.gmtime(state[1]))
            self._wait(self._until_reset(state[1]), f"{resource} rate limit spent, resets {reset} UTC")
            self.rate.by_resource.pop(resource, None)

    # -- the request loop -----------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        etag: str | None = None,
        resource: str = "core",
    ) -> requests.Response:
        """One logical request: waits out limits, retries 5xx and dropped connections.

        Returns 2xx and 304 responses; raises GitHubError (AuthError, NotFound) otherwise.
        """
        label = f"{method} {self._label(url)}"
        failures = 0
        limited = 0
        secondary = SECONDARY_BACKOFF
        headers = {"If-None-Match": etag} if etag else {}
        while True:
            self._respect_primary(resource)
            self.stats.requests += 1
            try:
                resp = self._session.request(method, url, json=json, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                cause, retry, unreachable = connection_cause(exc)
                if unreachable and (not retry or failures > self.max_retries):
                    host = urlsplit(url).hostname or url
                    tries = f" ({failures} attempts)" if failures > 1 else ""
                    raise Unreachable(f"cannot reach {host}: {cause}{tries}") from None
                if failures > self.max_retries:
                    raise GitHubError(f"{label}: {cause} {failures} times") from None
                self.stats.retries += 1
                self._wait(min(2 ** (failures - 1), 30), f"{label}: {cause}, retry {failures}")
                continue
            self._note_rate(resp)
            status = resp.status_code
            if status == 304:
                self.stats.not_modified += 1
                return resp
            if resource == "core":
                self.stats.rest_points += 1
            if status in (403, 429) and self._is_rate_limited(resp):
                limited += 1
                if limited > MAX_RATE_LIMIT_WAITS:
                    raise GitHubError(
                        f"{label}: still rate limited after {MAX_RATE_LIMIT_WAITS} waits", status
                    )
                self.stats.retries += 1
                secondary = self._wait_rate_limited(resp, label, secondary)
                continue
            if status >= 500:
                failures += 1
                if failures > self.max_retries:
                    raise GitHubError(f"{label}: HTTP {status} after {failures} attempts", status)
                self.stats.retries += 1
                self._wait(min(2 ** (failures - 1), 30), f"{label}: HTTP {status}, retry {failures}")
                continue
            if status == 401:
                raise AuthError(f"{label}: HTTP 401 {self._message(resp)}", status)
            if status == 403 and "not accessible" in self._message(resp).lower():
                # The token lacks a permission: no other resource will fare better, so this is
                # a configuration problem (exit 2), named with the permission GitHub wants.
                needed = resp.headers.get("x-accepted-github-permissions")
                hint = f" (the token needs {needed})" if needed else ""
                raise AuthError(f"{label}: HTTP 403 {self._message(resp)}{hint}", status)
            if status == 404:
                raise NotFound(f"{label}: HTTP 404 {self._message(resp)}", status)
            if status >= 400:
                raise GitHubError(f"{label}: HTTP {status} {self._message(resp)}", status)
            return resp

    @staticmethod
    def _message(resp: requests.Response) -> str:
        try:
            return str(resp.json().get("message", ""))[:300]
        except (ValueError, AttributeError):
            return resp.text[:300]

    def _is_rate_limited(self, resp: requests.Response) -> bool:
        h = resp.headers
        if h.get("x-ratelimit-remaining") == "0" or "retry-after" in h or resp.status_code == 429:
            return True
        return "rate limit" in self._message(resp).lower()

    def _wait_rate_limited(self, resp: requests.Response, label: str, secondary: float) -> float:
        """Wait as GitHub asks; returns the next secondary back-off."""
        h = resp.headers
        if "retry-after" in h:
            try:
                seconds = float(h["retry-after"])
            except ValueError:
                seconds = secondary
            self._wait(seconds, f"{label}: secondary rate limit, retry-after {h['retry-after']} s")
            return secondary
        if h.get("x-ratelimit-remaining") == "0":
            reset = float(h.get("x-ratelimit-reset", self.clock() + SECONDARY_BACKOFF))
            shown = time.strftime("%H:%M:%S", time.gmtime(reset))
            self._wait(self._until_reset(reset), f"{label}: primary rate limit spent, resets {shown} UTC")
            return secondary
        self._wait(secondary, f"{label}: secondary rate limit, backing off {secondary:.0f} s")
        return secondary * 2

    # -- REST helpers ---------------------------------------------------------------------------
    def decode(self, resp: requests.Response, method: str = "GET") -> Any:
        """The JSON body of a 2xx answer. Every caller decodes here, so that a truncated or
        non-JSON answer is a GitHubError naming the endpoint (the sync fails that resource
        and carries on) rather than a bare JSONDecodeError that ends the whole sync."""
        try:
            return resp.json()
        except ValueError as exc:  # requests' JSONDecodeError is a ValueError
            where = f" ({exc.msg}, character {exc.pos + 1})" if hasattr(exc, "pos") else ""
            raise GitHubError(f"{method} {self._label(resp.url)}: answer is not JSON{where}") from None

    def get_json(self, path: str, params: dict | None = None, etag: str | None = None) -> Page:
        """One GET; a Page with the decoded body (items when it is a list)."""
        url = self.url(path, params)
        resp = self.request("GET", url, etag=etag)
        return self._page(url, resp, items_key=None)

    def pages(
        self,
        path: str,
        params: dict | None = None,
        *,
        etag: str | None = None,
        items_key: str | None = None,
        start_url: str | None = None,
    ) -> Iterator[Page]:
        """Pages of a list endpoint, following `Link: rel="next"`, per_page=100.

        `etag` applies to the first page only; a 304 yields one Page with not_modified=True.
        `start_url` resumes a walk at a stored next-page URL.
        """
        url = start_url or self.url(path, {**(params or {}), "per_page": PER_PAGE})
        first = True
        while url:
            resp = self.request("GET", url, etag=etag if first and not start_url else None)
            page = self._page(url, resp, items_key)
            yield page
            if page.not_modified:
                return
            url = page.next_url
            first = False

    def _page(self, url: str, resp: requests.Response, items_key: str | None) -> Page:
        etag = resp.headers.get("ETag")
        if resp.status_code == 304:
            return Page(url, [], None, etag, not_modified=True)
        data = self.decode(resp)
        if items_key is not None:
            if not isinstance(data, dict) or not isinstance(data.get(items_key), list):
                raise GitHubError(f"GET {self._label(url)}: unexpected payload (no {items_key!r} list)")
            items = data[items_key]
        else:
            items = data if isinstance(data, list) else []
        if any(not isinstance(i, dict) for i in items):
            raise GitHubError(f"GET {self._label(url)}: unexpected payload (list of non-objects)")
        next_url = resp.links.get("next", {}).get("url")
        return Page(url, items, next_url, etag, data=data)

    # -- GraphQL --------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """Run a query; returns `data`. Errors that come back with 200 raise GraphQLError,
        except RATE_LIMITED, which waits for the reset and tries again."""
        limited = 0
        while True:
            resp = self.request(
                "POST",
                self.graphql_url,
                json={"query": query, "variables": variables or {}},
                resource="graphql",
            )
            body = self.decode(resp, "POST")
            if not isinstance(body, dict):
                raise GitHubError(f"POST {self._label(self.graphql_url)}: unexpected payload")
            data = body.get("data") or {}
            cost = ((data.get("rateLimit") or {}).get("cost")) if isinstance(data, dict) else None
            self.stats.graphql_points += int(cost) if isinstance(cost, int) else 1
            errors = body.get("errors") or []
            if not errors:
                return data
            types = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
            if "RATE_LIMITED" in types and limited < MAX_RATE_LIMIT_WAITS:
                limited += 1
                self.stats.retries += 1
                reset = resp.headers.get("x-ratelimit-reset")
                self._wait(
                    self._until_reset(float(reset)) if reset else SECONDARY_BACKOFF,
                    "GraphQL rate limit spent",
                )
                continue
            messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
            raise GraphQLError(f"GraphQL: {messages or errors}", types)
