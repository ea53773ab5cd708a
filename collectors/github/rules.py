"""The configurable rules, as small pure functions: what counts as a deployment, how a run's
conclusion maps to a deployment status, when a deployment is a hotfix or a rollback (what an
incident names as its cause is collectors/causes.py, shared with the other sources)."""

from __future__ import annotations

import re
from datetime import datetime

from collectors.config import WorkflowRule
from collectors.signals import parse_time, text_evidence  # noqa: F401 - re-exported

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


def severity(labels: list[str], pattern: str) -> str | None:
    for label in labels:
        m = re.match(pattern, label, re.IGNORECASE)
        if m:
            return (m.group(1) if m.groups() else label).lower()
    return None
