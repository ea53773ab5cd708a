"""GitHub's webhook deliveries (deployment_status, workflow_run, pull_request, issues) as
canonical rows, through the same stream code and rules as `sync`: the rows keep the ids that
`sync` gives the same objects (`github:<repo>:deployment:<id>`, `...:run:<id>`,
`github:<repo>#<number>`), so a periodic `sync` that fills a gap left by a lost webhook never
double-counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from collectors.config import SourcesSettings
from collectors.events import Event
from collectors.github import rules
from collectors.github.config import GitHubConfig
from collectors.github.streams import (
    Context,
    Incidents,
    RepoInfo,
    deployment_meta,
    deployment_row,
    deployments_batch,
    run_row,
)
from collectors.http import Page
from collectors.teams import team_rows

EVENTS = ("deployment_status", "workflow_run", "pull_request", "issues")


def github_event(kind: str, delivery: str, payload: dict, config: SourcesSettings) -> Event:
    """Canonical rows of one GitHub delivery; an event that carries nothing we count (a
    non-terminal status, an unmerged pull request) is an Event with no rows."""
    gh = config.github or GitHubConfig(deployments=config.rules.deployment_rules())
    event = Event(delivery, "github")
    repo = str((payload.get("repository") or {}).get("full_name") or "")
    if not repo:
        return event
    teams = {r["repo"]: r["team"] for r in team_rows(config, [repo])}
    ctx = Context(None, RepoInfo(repo, ""), gh, datetime.min.replace(tzinfo=UTC), team=teams.get(repo))
    if kind == "deployment_status":
        d = payload.get("deployment") or {}
        status = payload.get("deployment_status") or {}
        env_rule = gh.deployments.environments
        if d.get("id") is None or (env_rule and not re.search(env_rule, str(d.get("environment", "")))):
            return event
        row = deployment_row(repo, int(d["id"]), deployment_meta(d), [status])
        _add_deployments(event, ctx, [row] if row else [])
    elif kind == "workflow_run":
        run = payload.get("workflow_run") or {}
        wf = payload.get("workflow") or {"name": run.get("name"), "path": run.get("path")}
        run = {**run, "path": run.get("path") or wf.get("path"), "name": run.get("name") or wf.get("name")}
        rule = rules.workflow_rule(gh.deployments.workflows, run)
        if rule is None or run.get("status") != "completed" or run.get("id") is None:
            return event
        row = run_row(repo, run, rule.environment, wf)
        _add_deployments(event, ctx, [row] if row else [])
    elif kind == "pull_request":
        pr = payload.get("pull_request") or {}
        if not pr.get("merged_at") or pr.get("number") is None:
            return event
        event.rows["pull_requests"] = [{
            "repo": repo,
            "number": int(pr["number"]),
            "created_at": rules.parse_time(pr.get("created_at")),
            "merged_at": rules.parse_time(pr.get("merged_at")),
            "author": (pr.get("user") or {}).get("login"),
            "merge_sha": pr.get("merge_commit_sha"),
            "labels": ";".join(sorted(lb.get("name", "") for lb in pr.get("labels") or [])) or None,
            "url": pr.get("html_url"),
        }]
    elif kind == "issues":
        issue = payload.get("issue") or {}
        names = {lb.get("name") for lb in issue.get("labels") or [] if isinstance(lb, dict)}
        if issue.get("number") is None or not names & set(gh.incidents.labels):
            return event
        incidents, causes = Incidents.rows(ctx, Page("", [issue], None, None))
        for row in incidents:
            row["url"] = issue.get("html_url")
        event.rows["incidents"] = incidents
        event.causes = causes
    return event


def _add_deployments(event: Event, ctx: Context, rows: list[dict]) -> None:
    batch = deployments_batch(rows, ctx, {}, None)
    event.rows["deployments"] = batch.rows["deployments"]
    event.evidence, event.evidenced = batch.evidence, batch.evidenced
