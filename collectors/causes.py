"""What an incident says caused it, whichever source brought the incident (a GitHub issue, a
PagerDuty incident): the cause grammar, and the ids of the GitHub objects a cause names. Shared
by the sources, so it lives beside them."""

from __future__ import annotations

import re
from dataclasses import dataclass


def github_deployment_id(repo: str, kind: str, ref: object) -> str:
    """Stable ids of GitHub deployments: github:<owner/name>:<deployment|run|release|tag>:<id>."""
    return f"github:{repo}:{kind}:{ref}"


@dataclass(frozen=True)
class Cause:
    kind: str  # "deployment" | "run" | "pull_request" | "sha"
    ref: str  # deployment id number, run id, PR number, or a (possibly short) sha
    repo: str  # owner/name the reference points into


_CAUSE_WORDS = re.compile(
    r"\b(?:caused|introduced|broken|triggered|regressed)\s+by\b|\bcaused\s*:|\bcause\s*:"
    r"|\broot\s+cause(?:\s+(?:was|is))?\s*:?",
    re.IGNORECASE,
)
# "Not caused by #41", "wasn't introduced by", "never triggered by", "not the root cause": no.
_NEGATED = re.compile(r"(?:\bnot|\bnever|n't|\bno)\s+(?:\w+\s+){0,2}$", re.IGNORECASE)
# What follows a cause phrase: `#41`, `PR #41`, `pull request ACME/Shop#41`, `commit 4a1b2c3`,
# a sha, or a link (below).
_OBJECT = re.compile(
    r"\s*(?:(?:this|the|a)\s+)?(?:(?:pr|pull\s+request|change)\s*:?\s*)?"
    r"(?:(?P<repo>[\w.-]+/[\w.-]+)?#(?P<n>\d+)\b"
    r"|(?:commit\s*:?\s*)?(?P<sha>\b[0-9a-f]{7,40}\b)"
    r"|(?:commit\s*:?\s*)?(?P<url>\S+))",
    re.IGNORECASE,
)
_DEPLOYMENT_LINK = re.compile(
    r"/repos/(?P<repo>[\w.-]+/[\w.-]+)/deployments/(?P<id>\d+)"
    r"|(?P<repo2>[\w.-]+/[\w.-]+)/deployments/(?P<id2>\d+)"
)
_RUN_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/actions/runs/(?P<id>\d+)")
_PR_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/pull/(?P<n>\d+)")
_COMMIT_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/commit/(?P<sha>[0-9a-f]{7,40})\b")


def _link(text: str) -> Cause | None:
    for m in _DEPLOYMENT_LINK.finditer(text):
        return Cause(
            "deployment", m.group("id") or m.group("id2"), (m.group("repo") or m.group("repo2")).lower()
        )
    for m in _RUN_LINK.finditer(text):
        return Cause("run", m.group("id"), m.group("repo").lower())
    return None


def parse_cause(body: str | None, repo: str) -> Cause | None:
    """What an incident's body names as its cause.

    An explicit cause phrase ("caused by", "introduced by", "root cause:" …, not negated) wins,
    with what follows it: a pull request (`#41`, `PR #41`, `owner/name#41`, a pull request
    link), a commit (`commit 4a1b2c3`, a sha, a commit link), a deployment or run link. Without
    one, a deployment or Actions run link anywhere in the body (a link merely mentioned, e.g.
    the rollback run of a mitigation, never beats a named cause). A bare `#123` or sha without
    cause words is not a cause. owner/name are lower-cased (GitHub compares them so).
    """
    if not body:
        return None
    for words in _CAUSE_WORDS.finditer(body):
        if _NEGATED.search(body[max(0, words.start() - 40) : words.start()]):
            continue
        m = _OBJECT.match(body, words.end())
        if m is None:
            continue
        if m.group("n"):
            return Cause("pull_request", m.group("n"), (m.group("repo") or repo).lower())
        if m.group("sha"):
            return Cause("sha", m.group("sha").lower(), repo.lower())
        url = m.group("url") or ""
        found = _link(url)
        if found:
            return found
        pr = _PR_LINK.search(url)
        if pr:
            return Cause("pull_request", pr.group("n"), pr.group("repo").lower())
        commit = _COMMIT_LINK.search(url)
        if commit:
            return Cause("sha", commit.group("sha").lower(), commit.group("repo").lower())
    return _link(body)
