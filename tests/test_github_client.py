"""The shared GitHub client against a real local HTTP server speaking GitHub's shapes:
pagination, conditional requests, rate limits (primary and secondary), retries, GraphQL errors,
and the token kept out of everything. Sleeping is injected: nothing here really waits."""

from __future__ import annotations

import logging

import pytest

from collectors.github.client import AuthError, GitHubClient, GitHubError, GraphQLError
from collectors.github.pulls import PULLS_QUERY, TIMELINE_QUERY
from collectors.secrets import REDACT, RedactingFilter
from tests.github_fake import TOKEN, FakeClock, FakeGitHub, graphql_cost


@pytest.fixture
def fake(httpserver) -> FakeGitHub:
    fake = FakeGitHub(clock=FakeClock(1_800_000_000)).attach(httpserver)
    fake.repo("acme/api")
    for i in range(1, 251):
        fake.add_deployment(
            "acme/api",
            i,
            f"{i:040x}",
            "production",
            "2026-01-01T00:00:00",
            [("success", "2026-01-01T00:10:00")],
        )
    return fake


def client(fake: FakeGitHub, token: str = TOKEN, waits: list | None = None, **kw) -> GitHubClient:
    return GitHubClient(
        fake.url,
        token,
        sleep=fake.clock.sleep,
        clock=fake.clock.time,
        on_wait=(lambda s, why: waits.append((s, why))) if waits is not None else None,
        **kw,
    )


def test_link_pagination_with_100_per_page(fake):
    c = client(fake)
    pages = list(c.pages("/repos/acme/api/deployments"))
    assert [len(p.items) for p in pages] == [100, 100, 50]
    assert [p.items[0]["id"] for p in pages] == [250, 150, 50]  # newest first, no overlap
    sent = fake.requests("deployments")
    assert "per_page=100" in sent[0].target and "page=2" in sent[1].target and "page=3" in sent[2].target
    assert c.stats.requests == 3 and c.stats.rest_points == 3


def test_pinned_version_and_bearer_token_are_sent(fake, httpserver):
    client(fake, api_version="2022-11-28").get_json("/repos/acme/api")
    request, _ = httpserver.log[-1]
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"


def test_etag_gives_a_free_304(fake):
    c = client(fake)
    first = c.get_json("/repos/acme/api/deployments/7/statuses")
    again = c.get_json("/repos/acme/api/deployments/7/statuses", etag=first.etag)
    assert first.etag and again.not_modified and again.items == []
    assert c.stats.not_modified == 1 and c.stats.rest_points == 1
    assert [e.counted for e in fake.log] == [True, False]
    # Something changed: the same ETag now gets the new content.
    fake.add_status("acme/api", 7, "inactive", "2026-01-02T00:00:00")
    changed = c.get_json("/repos/acme/api/deployments/7/statuses", etag=first.etag)
    assert not changed.not_modified and len(changed.items) == 2


def test_exhausted_primary_limit_waits_for_the_reset(fake):
    waits: list = []
    c = client(fake, waits=waits)
    fake.fault("deployments/3/statuses", "exhaust", reset_in=5)
    page = c.get_json("/repos/acme/api/deployments/3/statuses")
    assert page.items[0]["state"] == "success"
    assert fake.clock.slept == [6.0]  # until x-ratelimit-reset, plus one second
    assert "primary rate limit spent" in waits[0][1] and "resets" in waits[0][1]
    assert [e.status for e in fake.requests("statuses")] == [403, 200]


def test_spent_limit_is_respected_before_sending(fake):
    fake.limits["core"] = 2
    c = client(fake)
    c.get_json("/repos/acme/api")
    c.get_json("/repos/acme/api")  # answers remaining 0
    assert fake.clock.slept == []
    c.get_json("/repos/acme/api")  # waits first, so GitHub never sees a request over the limit
    assert len(fake.clock.slept) == 1 and 3590 <= fake.clock.slept[0] <= 3601
    assert all(e.status == 200 for e in fake.log)


def test_secondary_limit_honours_retry_after(fake):
    c = client(fake)
    fake.fault("/repos/acme/api$", "secondary", retry_after=7)
    assert c.get_json("/repos/acme/api").data["full_name"] == "acme/api"
    assert fake.clock.slept == [7.0]


def test_secondary_limit_without_retry_after_backs_off_from_60s_doubling(fake):
    c = client(fake)
    fake.fault("/repos/acme/api$", "secondary-no-retry-after", times=2)
    c.get_json("/repos/acme/api")
    assert fake.clock.slept == [60.0, 120.0]


def test_5xx_is_retried_with_backoff_then_gives_up(fake):
    c = client(fake, max_retries=3)
    fake.fault("/repos/acme/api$", "502", times=2)
    assert c.get_json("/repos/acme/api").data["archived"] is False
    assert fake.clock.slept == [1, 2]
    fake.fault("/repos/acme/api$", "502", times=10)
    with pytest.raises(GitHubError, match=r"GET /repos/acme/api: HTTP 502 after 4 attempts"):
        c.get_json("/repos/acme/api")


def test_dropped_connection_is_retried(fake):
    c = client(fake)
    fake.fault("/repos/acme/api$", "drop")
    assert c.get_json("/repos/acme/api").data["name"] == "api"
    assert c.stats.retries == 1 and fake.clock.slept == [1]


def test_permission_403_fails_at_once_naming_the_permission(fake, httpserver):
    c = client(fake)
    fake.fault("/repos/acme/api$", "forbidden")
    with pytest.raises(AuthError, match=r"HTTP 403 Resource not accessible .* \(the token needs actions=read\)") as err:
        c.get_json("/repos/acme/api")
    assert err.value.status == 403 and fake.clock.slept == []


def test_rejected_token_raises_auth_error(fake):
    with pytest.raises(AuthError, match="401 Bad credentials"):
        client(fake, token="ghp_wrongtoken123").get_json("/repos/acme/api")


def test_graphql_errors_with_status_200(fake):
    c = client(fake)
    fake.fault("POST /graphql", "graphql-error")
    with pytest.raises(GraphQLError, match="Something went wrong"):
        c.graphql(PULLS_QUERY, {"owner": "acme", "name": "api", "base": "main", "first": 100, "after": None})
    with pytest.raises(GraphQLError, match="Could not resolve to a Repository"):
        c.graphql(PULLS_QUERY, {"owner": "acme", "name": "nope", "base": "main", "first": 100, "after": None})


def test_graphql_points_follow_githubs_formula(fake):
    c = client(fake)
    c.graphql(PULLS_QUERY, {"owner": "acme", "name": "api", "base": "main", "first": 100, "after": None})
    assert c.stats.graphql_points == 2  # 1 + 100 labels + 100 timelines = 201 requests
    c.graphql(PULLS_QUERY, {"owner": "acme", "name": "api", "base": "main", "first": 10, "after": None})
    assert c.stats.graphql_points == 3  # 21 requests round to 0; the minimum is 1
    assert fake.used["graphql"] == 3 and c.stats.rest_points == 0


def test_graphql_cost_matches_the_documented_example():
    # GitHub's docs: 1 + 100 + 100 x 50 = 5101 requests -> 51 points.
    query = (
        "query { viewer { login repositories(first: 100) { edges { node { name issues(first: 50) { "
        "edges { node { title labels(first: 60) { edges { node { name } } } } } } } } } } }"
    )
    assert graphql_cost(query, {}) == 51
    assert graphql_cost(TIMELINE_QUERY, {"number": 1}) == 1


def test_token_never_shows(fake):
    c = client(fake)
    assert TOKEN not in repr(c) and TOKEN not in str(c)
    # Anything that carries the token is masked on the way out.
    exc = GitHubError(f"failed with header Bearer {TOKEN}")
    assert TOKEN not in str(exc) and "***" in str(exc)
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token is %s", (TOKEN,), None)
    handler.filter(record)
    assert TOKEN not in record.getMessage()
    assert REDACT(f"x {TOKEN} y") == "x *** y"
