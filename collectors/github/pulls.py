"""Merged pull requests, with reviews, commits, requested reviewers, labels and merge commit.

GraphQL first: one query returns up to 100 merged pull requests with everything the metrics
need, for 2 points (GitHub charges by the connections a query could touch: 100 pull requests
x {labels, timelineItems} = 201 requests -> 2 points). Reviews, commits and review requests
come through ONE `timelineItems` connection filtered by type, which is what keeps the cost at
2 rather than 4. A pull request with more than 100 such items is completed by a follow-up
query. The merge commit always comes from GraphQL `mergeCommit` (API version 2026-03-10
drops `merge_commit_sha` from REST pull requests).

REST is the fallback (no GraphQL endpoint, or `graphql = false`): the pulls list plus, per
pull request, its reviews and commits, and the `merged` event for the merge commit when the
payload has no `merge_commit_sha`. It costs about three requests per pull request.

State: hw (newest updatedAt fully handled), pass (a walk in progress: GraphQL cursor or REST
next URL, and the newest updatedAt it saw). Newest first, so a walk stops at the first pull
request older than hw (or than the sync window).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from collectors.github import rules
from collectors.github.client import GitHubError, GraphQLError, NotFound
from collectors.github.streams import Batch, Context, Stream, iso

log = logging.getLogger(__name__)

PROBE = 10  # page size of an incremental sync's first query: cost 1 point instead of 2
PAGE = 100

TIMELINE = """
  pageInfo { hasNextPage endCursor }
  nodes {
    __typename
    ... on PullRequestCommit {
      commit { oid committedDate authoredDate author { name user { login } } }
    }
    ... on PullRequestReview { databaseId author { login } state submittedAt }
    ... on ReviewRequestedEvent {
      requestedReviewer {
        ... on User { login } ... on Team { slug } ... on Bot { login } ... on Mannequin { login }
      }
    }
  }
"""
ITEM_TYPES = "[PULL_REQUEST_COMMIT, PULL_REQUEST_REVIEW, REVIEW_REQUESTED_EVENT]"

PULLS_QUERY = """
query MergedPullRequests($owner: String!, $name: String!, $base: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    pullRequests(states: MERGED, baseRefName: $base, first: $first, after: $after,
                 orderBy: {field: UPDATED_AT, direction: DESC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number createdAt mergedAt updatedAt url
        author { login }
        mergeCommit { oid }
        labels(first: 20) { nodes { name } }
        timelineItems(first: 100, itemTypes: ITEM_TYPES) { TIMELINE }
      }
    }
  }
}
""".replace("ITEM_TYPES", ITEM_TYPES).replace("TIMELINE", TIMELINE)

TIMELINE_QUERY = """
query PullRequestTimeline($owner: String!, $name: String!, $number: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      timelineItems(first: 100, after: $after, itemTypes: ITEM_TYPES) { TIMELINE }
    }
  }
}
""".replace("ITEM_TYPES", ITEM_TYPES).replace("TIMELINE", TIMELINE)


@dataclass
class PullRequest:
    """One merged pull request, whichever API it came from."""

    number: int
    created_at: datetime
    merged_at: datetime
    updated_at: str
    author: str | None
    merge_sha: str | None
    url: str | None = None  # the pull request's web page
    labels: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)  # id, reviewer, state, submitted_at
    commits: list[dict] = field(default_factory=list)  # sha, committed_at, authored_at, author


def rows(repo: str, prs: list[PullRequest]) -> dict[str, list[dict]]:
    """Canonical rows: pull_requests, reviews, and changes (the PR's commits, with pr_number;
    which deployment shipped them is the commit graph's job, so that column is left alone)."""
    out: dict[str, list[dict]] = {"pull_requests": [], "reviews": [], "changes": []}
    for pr in prs:
        others = [
            r
            for r in pr.reviews
            if r["reviewer"] != pr.author and r["state"] != "PENDING" and r["submitted_at"] is not None
        ]
        approvals = [r["submitted_at"] for r in others if r["state"] == "APPROVED"]
        reviewers = {r["reviewer"] for r in others if r["reviewer"]} | set(pr.requested)
        reviewers.discard(pr.author)
        firsts = [c["authored_at"] or c["committed_at"] for c in pr.commits]
        out["pull_requests"].append(
            {
                "repo": repo,
                "number": pr.number,
                "created_at": pr.created_at,
                "merged_at": pr.merged_at,
                "author": pr.author,
                "first_commit_at": min((t for t in firsts if t), default=None),
                "first_review_at": min((r["submitted_at"] for r in others), default=None),
                "approved_at": min(approvals, default=None),
                "merge_sha": pr.merge_sha,
                "reviewers": ";".join(sorted(r for r in reviewers if r)) or None,
                "labels": ";".join(sorted(pr.labels)) or None,
                "url": pr.url,
            }
        )
        for r in pr.reviews:
            out["reviews"].append(
                {
                    "repo": repo,
                    "number": pr.number,
                    "review_id": str(r["id"]),
                    "reviewer": r["reviewer"],
                    "state": r["state"],
                    "submitted_at": r["submitted_at"],
                }
            )
        for c in pr.commits:
            if c["committed_at"] is None:
                continue
            out["changes"].append(
                {
                    "repo": repo,
                    "sha": c["sha"],
                    "committed_at": c["committed_at"],
                    "authored_at": c["authored_at"],
                    "author": c["author"],
                    "pr_number": pr.number,
                    # The commit's page sits beside the pull request's: .../pull/N -> .../commit/SHA
                    "url": f"{pr.url.rsplit('/pull/', 1)[0]}/commit/{c['sha']}" if pr.url else None,
                }
            )
    return out


class PullRequests(Stream):
    name = "pull_requests"
    path = "/repos/{repo}/pulls"
    primary_keys = ("number",)
    replication_key = "updated_at"

    def sync(self, ctx: Context, resource: str, state: dict, etag: str | None) -> Iterator[Batch]:
        if ctx.config.graphql:
            try:
                yield from self._graphql(ctx, state)
                return
            except (NotFound, GraphQLError) as exc:
                if isinstance(exc, GraphQLError) and not _unavailable(exc):
                    raise
                log.warning(
                    "%s: GraphQL unavailable (%s); using REST for pull requests", ctx.repo.full_name, exc
                )
        yield from self._rest(ctx, state)

    # -- GraphQL ----------------------------------------------------------------------------------
    def _graphql(self, ctx: Context, state: dict) -> Iterator[Batch]:
        owner, name = ctx.repo.full_name.split("/", 1)
        hw, walk = state.get("hw"), state.get("pass")
        after = walk["after"] if walk else None
        top = walk["top"] if walk else hw
        first = PROBE if hw and not walk else PAGE
        while True:
            data = ctx.client.graphql(
                PULLS_QUERY,
                {
                    "owner": owner,
                    "name": name,
                    "base": ctx.repo.default_branch,
                    "first": first,
                    "after": after,
                },
            )
            repo = data.get("repository")
            if repo is None:
                raise GitHubError(f"{ctx.repo.full_name}: GraphQL found no repository")
            conn = repo["pullRequests"]
            prs, done = [], False
            for node in conn["nodes"]:
                if _older(node["updatedAt"], hw, ctx):
                    done = True
                    break
                top = max(top or node["updatedAt"], node["updatedAt"])
                prs.append(self._from_graphql(ctx, owner, name, node))
            more = conn["pageInfo"]["hasNextPage"] and not done
            after = conn["pageInfo"]["endCursor"]
            # With no pull request at all the window start is the mark, so that the next sync
            # still probes cheaply.
            new_state = (
                {"hw": hw, "pass": {"after": after, "top": top}}
                if more
                else {"hw": top or iso(ctx.since), "pass": None}
            )
            yield Batch(rows(ctx.repo.full_name, prs), new_state)
            if not more:
                return
            first = PAGE

    def _from_graphql(self, ctx: Context, owner: str, name: str, node: dict) -> PullRequest:
        items = list(node["timelineItems"]["nodes"])
        info = node["timelineItems"]["pageInfo"]
        while info["hasNextPage"]:  # rare: more than 100 commits + reviews + requests
            data = ctx.client.graphql(
                TIMELINE_QUERY,
                {"owner": owner, "name": name, "number": node["number"], "after": info["endCursor"]},
            )
            timeline = data["repository"]["pullRequest"]["timelineItems"]
            items.extend(timeline["nodes"])
            info = timeline["pageInfo"]
        pr = PullRequest(
            number=int(node["number"]),
            created_at=rules.parse_time(node["createdAt"]),
            merged_at=rules.parse_time(node["mergedAt"]),
            updated_at=node["updatedAt"],
            author=(node.get("author") or {}).get("login"),
            merge_sha=(node.get("mergeCommit") or {}).get("oid"),
            url=node.get("url"),
            labels=[lb["name"] for lb in node["labels"]["nodes"]],
        )
        for item in items:
            kind = item.get("__typename")
            if kind == "PullRequestCommit":
                c = item["commit"]
                author = c.get("author") or {}
                pr.commits.append(
                    {
                        "sha": c["oid"],
                        "committed_at": rules.parse_time(c.get("committedDate")),
                        "authored_at": rules.parse_time(c.get("authoredDate")),
                        "author": (author.get("user") or {}).get("login") or author.get("name"),
                    }
                )
            elif kind == "PullRequestReview":
                pr.reviews.append(
                    {
                        "id": item.get("databaseId"),
                        "reviewer": (item.get("author") or {}).get("login"),
                        "state": item.get("state"),
                        "submitted_at": rules.parse_time(item.get("submittedAt")),
                    }
                )
            elif kind == "ReviewRequestedEvent":
                who = item.get("requestedReviewer") or {}
                login = who.get("login") or who.get("slug")
                if login:
                    pr.requested.append(login)
        return pr

    # -- REST fallback ----------------------------------------------------------------------------
    def _rest(self, ctx: Context, state: dict) -> Iterator[Batch]:
        repo = ctx.repo.full_name
        hw, walk = state.get("hw"), state.get("pass")
        top = walk["top"] if walk else hw
        params = {"state": "closed", "base": ctx.repo.default_branch, "sort": "updated", "direction": "desc"}
        pages = ctx.client.pages(self.endpoint(ctx), params, start_url=walk.get("next") if walk else None)
        for page in pages:
            prs, done = [], False
            for p in page.items:
                if _older(p["updated_at"], hw, ctx):
                    done = True
                    break
                top = max(top or p["updated_at"], p["updated_at"])
                if p.get("merged_at"):
                    prs.append(self._from_rest(ctx, p))
            more = page.next_url is not None and not done
            new_state = (
                {"hw": hw, "pass": {"next": page.next_url, "top": top}}
                if more
                else {"hw": top or iso(ctx.since), "pass": None}
            )
            yield Batch(rows(repo, prs), new_state)
            if not more:
                return

    def _from_rest(self, ctx: Context, p: dict) -> PullRequest:
        base = f"/repos/{ctx.repo.full_name}"
        n = p["number"]
        reviews = [r for page in ctx.client.pages(f"{base}/pulls/{n}/reviews") for r in page.items]
        commits = [c for page in ctx.client.pages(f"{base}/pulls/{n}/commits") for c in page.items]
        merge_sha = p.get("merge_commit_sha")
        if not merge_sha:
            for page in ctx.client.pages(f"{base}/issues/{n}/events"):
                merge_sha = next((e.get("commit_id") for e in page.items if e.get("event") == "merged"), None)
                if merge_sha:
                    break
        requested = [u.get("login") for u in p.get("requested_reviewers") or []] + [
            t.get("slug") for t in p.get("requested_teams") or []
        ]
        return PullRequest(
            number=int(n),
            created_at=rules.parse_time(p["created_at"]),
            merged_at=rules.parse_time(p["merged_at"]),
            updated_at=p["updated_at"],
            author=(p.get("user") or {}).get("login"),
            merge_sha=merge_sha,
            url=p.get("html_url"),
            labels=[lb.get("name") for lb in p.get("labels") or [] if lb.get("name")],
            requested=[r for r in requested if r],
            reviews=[
                {
                    "id": r["id"],
                    "reviewer": (r.get("user") or {}).get("login"),
                    "state": r.get("state"),
                    "submitted_at": rules.parse_time(r.get("submitted_at")),
                }
                for r in reviews
            ],
            commits=[
                {
                    "sha": c["sha"],
                    "committed_at": rules.parse_time(
                        ((c.get("commit") or {}).get("committer") or {}).get("date")
                    ),
                    "authored_at": rules.parse_time(
                        ((c.get("commit") or {}).get("author") or {}).get("date")
                    ),
                    "author": (c.get("author") or {}).get("login")
                    or ((c.get("commit") or {}).get("author") or {}).get("name"),
                }
                for c in commits
            ],
        )


def _older(updated_at: str, hw: str | None, ctx: Context) -> bool:
    """Stop the newest-first walk here: already handled, or older than the window."""
    at = rules.parse_time(updated_at)
    return (hw is not None and updated_at < hw) or (at is not None and at < ctx.since)


def _unavailable(exc: GraphQLError) -> bool:
    """GraphQL errors that mean "no usable GraphQL here" rather than "this query failed"."""
    return bool(exc.types & {"FORBIDDEN", "INSUFFICIENT_SCOPES"}) or "not found" in str(exc).lower()
