"""The configurable rules, as small pure functions: what counts as a deployment, how a run's
conclusion maps to a deployment status, when a deployment is a hotfix or a rollback, and
what an incident names as its cause."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from collectors.config import WorkflowRule
from collectors.signals import Flags, flags, parse_time, text_signal  # noqa: F401 - re-exported

# GitHub Actions run conclusion -> deployment status; absent conclusions are not deployments.
RUN_CONCLUSIONS = {
    "success": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    # cancelled, skipped, neutral, action_required, stale: not a deployment outcome
}

# Deployment status states: the first of these (in time) finishes a deployment.
TERMINAL_STATES = {"success": "success", "failure": "failure", "error": "failure"}


def _search(pattern: str | None, value: str | None) -> bool:
    return pattern is None or (value is not None and re.search(pattern, value) is not None)


def workflow_rule(rules: list[WorkflowRule], run: dict) -> WorkflowRule | None:
    """The first rule whose every given pattern matches the run (name, path, branch, event)."""
    path = (run.get("path") or "").split("@", 1)[0]  # ".github/workflows/x.yml@main"
    for rule in rules:
        if (
            _search(rule.name, run.get("name"))
            and _search(rule.path, path)
            and _search(rule.branch, run.get("head_branch"))
            and _search(rule.event, run.get("event"))
        ):
            return rule
    return None


def workflow_may_match(rules: list[WorkflowRule], workflow: dict) -> bool:
    """Whether some rule's name and path patterns match a workflow (branch and event are
    per run, so they are checked on its runs)."""
    path = (workflow.get("path") or "").split("@", 1)[0]
    return any(_search(r.name, workflow.get("name")) and _search(r.path, path) for r in rules)


def first_terminal(statuses: list[dict]) -> tuple[str, datetime] | None:
    """(status, time) of the chronologically first success/failure/error status.

    The API lists statuses newest first; a later `inactive` (superseded by a newer deployment)
    must never move the finish time, so it is never terminal here.
    """
    timed = [(parse_time(s.get("created_at")), s.get("state")) for s in statuses]
    for at, state in sorted((t for t in timed if t[0] is not None), key=lambda t: t[0]):
        if state in TERMINAL_STATES:
            return TERMINAL_STATES[state], at
    return None


# -- incident causes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    kind: str  # "deployment" | "run" | "pull_request" | "sha"
    ref: str  # deployment id number, run id, PR number, or a (possibly short) sha
    repo: str  # owner/name the reference points into


_CAUSE_WORDS = r"(?:caused|introduced|broken|triggered|regressed)\s+by|cause[sd]?\s*:|root\s+cause\s*:?"
_DEPLOYMENT_LINK = re.compile(
    r"/repos/(?P<repo>[\w.-]+/[\w.-]+)/deployments/(?P<id>\d+)"
    r"|(?P<repo2>[\w.-]+/[\w.-]+)/deployments/(?P<id2>\d+)"
)
_RUN_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/actions/runs/(?P<id>\d+)")
_PR_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/pull/(?P<n>\d+)")
_COMMIT_LINK = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)/commit/(?P<sha>[0-9a-f]{7,40})\b")
_AFTER_WORDS = re.compile(
    rf"(?:{_CAUSE_WORDS})\s*(?:(?P<repo>[\w.-]+/[\w.-]+)?#(?P<n>\d+)|(?P<sha>\b[0-9a-f]{{7,40}}\b))",
    re.IGNORECASE,
)


def parse_cause(body: str | None, repo: str) -> Cause | None:
    """What an incident's body names as its cause, most specific first.

    A deployment or Actions run link wins; then "caused by #123" (or owner/name#123, or a pull
    request link); then a sha after the cause words or in a commit link. A bare `#123` or sha
    without cause words is not a cause (incident bodies mention many things).
    """
    if not body:
        return None
    for m in _DEPLOYMENT_LINK.finditer(body):
        return Cause("deployment", m.group("id") or m.group("id2"), m.group("repo") or m.group("repo2"))
    for m in _RUN_LINK.finditer(body):
        return Cause("run", m.group("id"), m.group("repo"))
    m = _AFTER_WORDS.search(body)
    if m:
        if m.group("n"):
            return Cause("pull_request", m.group("n"), m.group("repo") or repo)
        return Cause("sha", m.group("sha").lower(), repo)
    lowered = body.lower()
    words = re.search(_CAUSE_WORDS, lowered)
    if words:
        tail = body[words.start() :]
        m = _PR_LINK.search(tail)
        if m:
            return Cause("pull_request", m.group("n"), m.group("repo"))
        m = _COMMIT_LINK.search(tail)
        if m:
            return Cause("sha", m.group("sha").lower(), m.group("repo"))
    return None


def severity(labels: list[str], pattern: str) -> str | None:
    for label in labels:
        m = re.match(pattern, label, re.IGNORECASE)
        if m:
            return (m.group(1) if m.groups() else label).lower()
    return None
