"""`dora-impact sync --git PATH`: a local repository, no API at all.

Deployments are the tags that the tag rules match (default `^v\\d+`, environment
production), at the tag's date (tagger date, or commit date for a lightweight tag). Changes are
the commits each tag shipped (the same commit graph as the GitHub sync). Signals come from the
history itself: "Merge pull request #N from owner/branch" commits give pull requests and the
pull request of the commits they bring in; "Title (#N)" squash commits give their pull request
number; `Revert "..."` commits mark the tag that ships them as a rollback, and hotfix commits or
branches mark it as a hotfix (so the deployment before it counts as failed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from collectors.config import DeploymentRules, SourcesSettings, TagRule
from collectors.git import Git, GitError, tag_deployments
from collectors.shipping import load_rows, ship_and_load
from collectors.teams import apply_config_teams
from warehouse import attribution
from warehouse.db import LoadCounts, Warehouse
from warehouse.errors import UserError

SOURCE = "git"
MERGE_PR = re.compile(r"^Merge pull request #(\d+) from (\S+)")
SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")
DEFAULT_DAYS = 90


@dataclass
class LocalResult:
    repo: str
    counts: dict[str, LoadCounts] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, counts: dict[str, LoadCounts]) -> None:
        for name, c in counts.items():
            self.counts.setdefault(name, LoadCounts())
            self.counts[name] += c


def repo_name(repo: Git, path: Path) -> str:
    """owner/name from the `origin` remote when it is a GitHub-style URL, else local/<folder>."""
    url = repo.run("config", "--get", "remote.origin.url", check=False).strip()
    m = re.search(r"[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", url)
    if m and ("://" in url or url.startswith("git@")):
        return f"{m.group(1)}/{m.group(2)}"
    folder = path.resolve().name
    return f"local/{folder[:-4] if folder.endswith('.git') else folder}"


def open_repo(path: Path) -> Git:
    if not path.exists():
        raise UserError(f"{path}: no such directory (sync --git needs a git repository)")
    repo = Git(path)
    try:
        inside = repo.run("rev-parse", "--git-dir").strip()
    except GitError:
        raise UserError(f"{path}: not a git repository") from None
    if not inside:
        raise UserError(f"{path}: not a git repository")
    return repo


def pull_request_rows(name: str, repo: Git, since: datetime) -> tuple[list[dict], list[dict]]:
    """Pull requests from merge commits, and the PR number of every commit they brought in.
    created_at is the first commit's time (the history has no opening time)."""
    prs, changes = [], []
    for merge in repo.log_all(since=since):
        m = MERGE_PR.match(merge.subject)
        if m and len(merge.parents) > 1:
            number = int(m.group(1))
            brought = repo.log(merge.parents[1], [merge.parents[0]])
            if not brought:
                continue
            first = min(c.authored_at for c in brought)
            prs.append(
                {
                    "repo": name,
                    "number": number,
                    "created_at": first,
                    "merged_at": merge.committed_at,
                    "first_commit_at": first,
                    "merge_sha": merge.sha,
                }
            )
            for c in brought:
                if len(c.parents) == 1:
                    changes.append(
                        {
                            "repo": name,
                            "sha": c.sha,
                            "committed_at": c.committed_at,
                            "authored_at": c.authored_at,
                            "author": c.author,
                            "pr_number": number,
                        }
                    )
            continue
        m = SQUASH_PR.search(merge.subject)
        if m and len(merge.parents) == 1:
            changes.append(
                {
                    "repo": name,
                    "sha": merge.sha,
                    "committed_at": merge.committed_at,
                    "authored_at": merge.authored_at,
                    "author": merge.author,
                    "pr_number": int(m.group(1)),
                }
            )
    return prs, changes


def sync_local(
    wh: Warehouse,
    config: SourcesSettings,
    path: Path,
    *,
    since: date | None = None,
    full: bool = False,
    today: date | None = None,
) -> LocalResult:
    repo = open_repo(path)
    name = repo_name(repo, path)
    result = LocalResult(name)
    gh = config.github
    if full:
        wh.clear_cursors(SOURCE)
    day = (
        since
        or (gh.since if gh else None)
        or (today or datetime.now(UTC).date()) - timedelta(days=gh.backfill_days if gh else DEFAULT_DAYS)
    )
    window = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rules = gh.deployments if gh else DeploymentRules()
    tag_rules = [r for r in rules.tags if not r.releases] or [TagRule()]
    deployments, evidence, bounds = tag_deployments(name, repo, tag_rules, window, SOURCE, rules)
    attribution.save_evidence(wh, [d["deployment_id"] for d in deployments], attribution.TEXT_KINDS, evidence)
    if not deployments:
        result.warnings.append(
            f"{path}: no tag matches {', '.join(r.pattern for r in tag_rules)} "
            f"since {day.isoformat()}; no deployments"
        )
    prs, pr_changes = pull_request_rows(name, repo, window)
    result.add(
        load_rows(wh, {"deployments": deployments, "pull_requests": prs, "changes": pr_changes}, SOURCE, [])
    )
    shipped = ship_and_load(
        wh, SOURCE, name, repo, window, config.metrics.production_environment, rules, bounds
    )
    result.add(shipped.counts)
    result.add({"teams": apply_config_teams(wh, config, SOURCE)})
    if shipped.missing:
        result.warnings.append(f"{name}: {len(shipped.missing)} tag(s) point at no commit")
    return result
