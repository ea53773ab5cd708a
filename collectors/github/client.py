"""GitHub's configuration of the shared HTTP client (collectors/http.py).

Authentication from an environment variable, the pinned API version, `Link` pagination with
`per_page=100`, the primary rate limit per resource (`x-ratelimit-*`), secondary limits
(403/429 with `retry-after`, else back off from 60 s, doubling), a 403 for a missing
permission named with the permission GitHub wants, and GraphQL errors that come back with
status 200.
"""

from __future__ import annotations

from typing import Unpack

import requests

from collectors.http import (
    GITHUB_LIMITS,
    MAX_RATE_LIMIT_WAITS,
    SECONDARY_BACKOFF,
    ApiError,
    AuthError,
    ClientOptions,
    HttpClient,
    LinkHeader,
    NotFound,
    Page,
    Stats,
    Unreachable,
)

__all__ = [
    "AuthError", "GitHubClient", "GitHubError", "GraphQLError", "NotFound", "Page", "Stats",
    "Unreachable",
]

GitHubError = ApiError  # the name the GitHub streams catch


class GraphQLError(ApiError):
    def __init__(self, message: str, types: set[str] | None = None):
        super().__init__(message, 200)
        self.types = types or set()


class GitHubClient(HttpClient):
    """The shared client with GitHub's headers and rules, plus GraphQL."""

    name = "GitHub"

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        graphql_url: str | None = None,
        api_version: str = "2026-03-10",
        **options: Unpack[ClientOptions],
    ) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": api_version}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        super().__init__(
            api_url,
            headers=headers,
            secrets=(token,),
            pagination=LinkHeader(),
            limits=GITHUB_LIMITS,
            **options,
        )
        self.graphql_url = graphql_url or self.api_url + "/graphql"

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient(api_url={self.api_url!r}, graphql_url={self.graphql_url!r})"

    def error(self, label: str, resp: requests.Response) -> ApiError:
        if resp.status_code == 403 and "not accessible" in self.message(resp).lower():
            # The token lacks a permission: no other resource will fare better, so this is a
            # configuration problem (exit 2), named with the permission GitHub wants.
            needed = resp.headers.get("x-accepted-github-permissions")
            hint = f" (the token needs {needed})" if needed else ""
            return AuthError(f"{label}: HTTP 403 {self.message(resp)}{hint}", 403)
        return super().error(label, resp)

    # -- GraphQL --------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        """Run a query; returns `data`. Errors that come back with 200 raise GraphQLError,
        except RATE_LIMITED, which waits for the reset and tries again."""
        limited = 0
        label = f"POST {self.label(self.graphql_url)}"
        while True:
            resp = self.request(
                "POST",
                self.graphql_url,
                json={"query": query, "variables": variables or {}},
                resource="graphql",
            )
            body = self.decode(resp, "POST")
            if not isinstance(body, dict):
                raise GitHubError(f"{label}: unexpected payload")
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
                self.wait(
                    self.until_reset(float(reset)) if reset else SECONDARY_BACKOFF,
                    "GraphQL rate limit spent",
                )
                continue
            messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
            raise GraphQLError(f"GraphQL: {messages or errors}", types)
