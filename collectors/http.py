"""The one HTTP client every API source uses (GitHub, GitLab, PagerDuty).

A source configures it declaratively: base URL, headers (its token goes in one of them and into
the redactor), how its lists paginate and how it announces rate limits. The client owns the
rest: per-page sizes, conditional requests (ETag / If-None-Match: a 304 costs nothing), waiting
out rate limits with the wait reported, retries with backoff on 5xx and dropped connections,
errors that name the endpoint and never a secret. Time and sleeping are injectable so tests
never really wait.

Pagination strategies, each turning a response into the next page's URL (so that any walk can
be resumed from a stored URL):

* `LinkHeader`: RFC 8288 `Link: <...>; rel="next"` (GitHub; GitLab's keyset pagination);
* `NextPageHeader`: GitLab's offset pagination, `Link` else the `X-Next-Page` header;
* `OffsetMore`: PagerDuty's classic pagination, `offset`/`limit` in the query and `more` in
  the body.

Rate-limit policies read a source's headers: GitHub `x-ratelimit-*` (per resource, reset as
epoch seconds), GitLab `RateLimit-*` (reset as epoch seconds), PagerDuty `ratelimit-*` (reset
as seconds from now); a 429 (or GitHub's 403) with `Retry-After` waits as told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from collectors.secrets import REDACT

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAITS = 8  # consecutive rate-limit answers for one request before giving up
SECONDARY_BACKOFF = 60.0  # seconds, doubled on each further rate-limit answer without a hint
MAX_WAIT = 3600.0 + 60  # a reset is at most an hour away; anything longer is bogus


class ApiError(Exception):
    """A request that failed for good; the message is redacted and names the endpoint."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(REDACT(message))
        self.status = status


class AuthError(ApiError):
    """The token is missing, rejected (401) or lacks a permission for the whole sync."""


class NotFound(ApiError):
    pass


class Unreachable(ApiError):
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


@dataclass
class Stats:
    """What a sync cost. `points` counts what the API charges against its limits."""

    requests: int = 0  # HTTP requests sent, retries included
    rest_points: int = 0  # requests that counted (everything but 304s)
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


def with_params(url: str, params: dict) -> str:
    """`url` with these query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query, safe=":<>=,[]")))


# -- pagination ---------------------------------------------------------------------------------


class Pagination(Protocol):
    def first(self, params: dict) -> dict: ...  # the page-size parameters of a first page
    def next_url(self, url: str, resp: requests.Response, data: Any, items: list) -> str | None: ...


@dataclass(frozen=True)
class LinkHeader:
    per_page: int = 100

    def first(self, params: dict) -> dict:
        return {**params, "per_page": self.per_page}

    def next_url(self, url: str, resp: requests.Response, data: Any, items: list) -> str | None:
        return resp.links.get("next", {}).get("url")


@dataclass(frozen=True)
class NextPageHeader(LinkHeader):
    """GitLab: `Link` when sent (always with keyset pagination), else `X-Next-Page` (empty on
    the last page; large offset listings omit `Link` and totals)."""

    def next_url(self, url: str, resp: requests.Response, data: Any, items: list) -> str | None:
        link = super().next_url(url, resp, data, items)
        if link:
            return link
        page = resp.headers.get("X-Next-Page", "").strip()
        return with_params(url, {"page": page}) if page else None


@dataclass(frozen=True)
class OffsetMore:
    """PagerDuty: `offset`/`limit` query parameters and `more` in the body."""

    limit: int = 100

    def first(self, params: dict) -> dict:
        return {**params, "limit": self.limit, "offset": 0}

    def next_url(self, url: str, resp: requests.Response, data: Any, items: list) -> str | None:
        if not isinstance(data, dict) or not data.get("more") or not items:
            return None
        query = dict(parse_qsl(urlsplit(url).query))
        offset = int(data.get("offset", query.get("offset", 0)) or 0)
        limit = int(data.get("limit", query.get("limit", self.limit)) or self.limit)
        return with_params(url, {"offset": offset + limit, "limit": limit})


# -- rate limits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimits:
    """How a source announces its limits. `reset_is_epoch`: the reset header is an instant
    (GitHub, GitLab) rather than seconds from now (PagerDuty)."""

    remaining: str
    reset: str
    reset_is_epoch: bool = True
    resource: str | None = None  # header naming the limit an answer counted against
    limited_statuses: tuple[int, ...] = (429,)
    message_hint: str | None = None  # a 403 whose message says this is a limit too (GitHub)
    # A 429 waits for the announced reset (GitLab, PagerDuty). GitHub's 429/403 with quota
    # left is a secondary limit, whose reset header speaks of the primary one: back off.
    reset_on_429: bool = True


GITHUB_LIMITS = RateLimits(
    "x-ratelimit-remaining", "x-ratelimit-reset", resource="x-ratelimit-resource",
    limited_statuses=(403, 429), message_hint="rate limit", reset_on_429=False,
)
GITLAB_LIMITS = RateLimits("RateLimit-Remaining", "RateLimit-Reset")
PAGERDUTY_LIMITS = RateLimits("ratelimit-remaining", "ratelimit-reset", reset_is_epoch=False)


WaitCallback = Callable[[float, str], None]


class ClientOptions(TypedDict, total=False):
    """The keyword arguments every API's client passes through to HttpClient unchanged."""

    timeout: float
    max_retries: int
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    on_wait: WaitCallback | None
    user_agent: str


class HttpClient:
    """requests.Session with one API's rules. One per sync; shared by every stream."""

    name = "API"

    def __init__(
        self,
        api_url: str,
        *,
        headers: dict[str, str],
        secrets: tuple[str | None, ...] = (),
        pagination: Pagination | None = None,
        limits: RateLimits = GITHUB_LIMITS,
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_wait: WaitCallback | None = None,
        user_agent: str = "dora-impact",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.pagination = pagination or LinkHeader()
        self.limits = limits
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.on_wait = on_wait
        self.stats = Stats()
        self.spent: dict[str, tuple[int, float]] = {}  # resource -> (remaining, reset epoch)
        for secret in secrets:
            REDACT.add(secret)
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": user_agent, **headers})

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(api_url={self.api_url!r})"

    def close(self) -> None:
        self._session.close()

    # -- URLs ---------------------------------------------------------------------------------
    def url(self, path: str, params: dict | None = None) -> str:
        base = path if path.startswith(("http://", "https://")) else self.api_url + path
        if params:
            base += ("&" if "?" in base else "?") + urlencode(params, safe=":<>=,[]", doseq=True)
        return base

    @staticmethod
    def label(url: str) -> str:
        """An endpoint for messages: path and query, never a host-embedded credential."""
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- waiting ------------------------------------------------------------------------------
    def wait(self, seconds: float, why: str) -> None:
        seconds = max(0.0, min(seconds, MAX_WAIT))
        if seconds <= 0:
            return
        self.stats.waited_seconds += seconds
        log.info("waiting %.0f s: %s", seconds, why)
        if self.on_wait:
            self.on_wait(seconds, why)
        self.sleep(seconds)

    def _reset_at(self, value: str | None) -> float | None:
        try:
            number = float(value) if value is not None else None
        except ValueError:
            return None
        if number is None:
            return None
        return number if self.limits.reset_is_epoch else self.clock() + number

    def until_reset(self, reset_at: float | None) -> float:
        if reset_at is None:
            return SECONDARY_BACKOFF
        return reset_at - self.clock() + 1  # +1 s: resets are inclusive

    def _note_rate(self, resp: requests.Response) -> None:
        h = resp.headers
        try:
            remaining = int(h[self.limits.remaining])
        except (KeyError, ValueError):
            return
        reset = self._reset_at(h.get(self.limits.reset))
        if reset is None:
            return
        resource = h.get(self.limits.resource, "core") if self.limits.resource else "core"
        self.spent[resource] = (remaining, reset)

    def _respect_limit(self, resource: str) -> None:
        """Before sending: if the last answer said the limit is spent, wait for its reset."""
        state = self.spent.get(resource)
        if state and state[0] <= 0 and state[1] > self.clock():
            shown = time.strftime("%H:%M:%S", time.gmtime(state[1]))
            self.wait(self.until_reset(state[1]), f"{resource} rate limit spent, resets {shown} UTC")
            self.spent.pop(resource, None)

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

        Returns 2xx and 304 responses; raises ApiError (AuthError, NotFound) otherwise.
        """
        label = f"{method} {self.label(url)}"
        failures = 0
        limited = 0
        backoff = SECONDARY_BACKOFF
        headers = {"If-None-Match": etag} if etag else {}
        while True:
            self._respect_limit(resource)
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
                    raise ApiError(f"{label}: {cause} {failures} times") from None
                self.stats.retries += 1
                self.wait(min(2 ** (failures - 1), 30), f"{label}: {cause}, retry {failures}")
                continue
            self._note_rate(resp)
            status = resp.status_code
            if status == 304:
                self.stats.not_modified += 1
                return resp
            if resource == "core":
                self.stats.rest_points += 1
            if status in self.limits.limited_statuses and self.is_rate_limited(resp):
                limited += 1
                if limited > MAX_RATE_LIMIT_WAITS:
                    raise ApiError(f"{label}: still rate limited after {MAX_RATE_LIMIT_WAITS} waits", status)
                self.stats.retries += 1
                backoff = self._wait_rate_limited(resp, label, backoff)
                continue
            if status >= 500:
                failures += 1
                if failures > self.max_retries:
                    raise ApiError(f"{label}: HTTP {status} after {failures} attempts", status)
                self.stats.retries += 1
                self.wait(min(2 ** (failures - 1), 30), f"{label}: HTTP {status}, retry {failures}")
                continue
            if status >= 400:
                raise self.error(label, resp)
            return resp

    def error(self, label: str, resp: requests.Response) -> ApiError:
        """The exception for a 4xx answer; sources refine it (GitHub's permission hint)."""
        status = resp.status_code
        text = f"{label}: HTTP {status} {self.message(resp)}"
        if status == 401:
            return AuthError(text, status)
        if status == 404:
            return NotFound(text, status)
        return ApiError(text, status)

    @staticmethod
    def message(resp: requests.Response) -> str:
        """What the API says went wrong: `message` (GitHub, GitLab), `error` (GitLab OAuth,
        PagerDuty's `{"error": {"message", "errors"}}`), else the start of the body."""
        try:
            body = resp.json()
        except ValueError:
            return resp.text[:300]
        if not isinstance(body, dict):
            return str(body)[:300]
        if "message" in body:
            return str(body["message"])[:300]
        err = body.get("error")
        if isinstance(err, dict):
            details = "; ".join(str(e) for e in err.get("errors") or [])
            return (str(err.get("message", "")) + (f" ({details})" if details else ""))[:300]
        return str(err if err is not None else body)[:300]

    def is_rate_limited(self, resp: requests.Response) -> bool:
        h = resp.headers
        if resp.status_code == 429 or "retry-after" in h or h.get(self.limits.remaining) == "0":
            return True
        hint = self.limits.message_hint
        return hint is not None and hint in self.message(resp).lower()

    def _wait_rate_limited(self, resp: requests.Response, label: str, backoff: float) -> float:
        """Wait as the API asks; returns the next back-off for answers without a hint."""
        h = resp.headers
        if "retry-after" in h:
            try:
                seconds = float(h["retry-after"])
            except ValueError:
                seconds = backoff
            self.wait(seconds, f"{label}: rate limited, retry-after {h['retry-after']} s")
            return backoff
        reset = self._reset_at(h.get(self.limits.reset))
        if reset is not None and (
            h.get(self.limits.remaining) == "0" or (resp.status_code == 429 and self.limits.reset_on_429)
        ):
            shown = time.strftime("%H:%M:%S", time.gmtime(reset))
            self.wait(self.until_reset(reset), f"{label}: primary rate limit spent, resets {shown} UTC")
            self.spent.clear()  # waited for that reset: the next answer says where we stand
            return backoff
        self.wait(backoff, f"{label}: secondary rate limit, backing off {backoff:.0f} s")
        return backoff * 2

    # -- lists ------------------------------------------------------------------------------------
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
        """Pages of a list endpoint, following the source's pagination.

        `etag` applies to the first page only; a 304 yields one Page with not_modified=True.
        `start_url` resumes a walk at a stored next-page URL.
        """
        url = start_url or self.url(path, self.pagination.first(params or {}))
        first = True
        while url:
            resp = self.request("GET", url, etag=etag if first and not start_url else None)
            page = self._page(url, resp, items_key)
            yield page
            if page.not_modified:
                return
            url = page.next_url
            first = False

    def decode(self, resp: requests.Response, method: str = "GET") -> Any:
        """The JSON body of a 2xx answer. Every caller decodes here, so that a truncated or
        non-JSON answer is an ApiError naming the endpoint (the sync fails that resource and
        carries on) rather than a bare JSONDecodeError that ends the whole sync."""
        try:
            return resp.json()
        except ValueError as exc:  # requests' JSONDecodeError is a ValueError
            where = f" ({exc.msg}, character {exc.pos + 1})" if hasattr(exc, "pos") else ""
            raise ApiError(f"{method} {self.label(resp.url)}: answer is not JSON{where}") from None

    def _page(self, url: str, resp: requests.Response, items_key: str | None) -> Page:
        etag = resp.headers.get("ETag")
        if resp.status_code == 304:
            return Page(url, [], None, etag, not_modified=True)
        data = self.decode(resp)
        if items_key is not None:
            if not isinstance(data, dict) or not isinstance(data.get(items_key), list):
                raise ApiError(f"GET {self.label(url)}: unexpected payload (no {items_key!r} list)")
            items = data[items_key]
        else:
            items = data if isinstance(data, list) else []
        if any(not isinstance(i, dict) for i in items):
            raise ApiError(f"GET {self.label(url)}: unexpected payload (list of non-objects)")
        return Page(url, items, self.pagination.next_url(url, resp, data, items), etag, data=data)

