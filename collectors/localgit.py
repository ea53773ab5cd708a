"""`dora-impact sync --git PATH`: a local repository, no API at all.

Deployments are the tags that the tag rules match (default: release versions with or without
`v`, pre-releases left out, collectors/config.py; environment production), at the tag's date
(tagger date, or commit date for a lightweight tag); tags of which none matches are bad
configuration (exit 2). Changes are the commits each tag shipped (the same commit graph as the
GitHub sync). "Merge pull request #N from owner/branch" commits give pull requests and the pull
request of the commits they bring in; "Title (#N)" squash commits give their pull request
number. Failure evidence comes from the commit graph (reverts in every form, hotfix branches, a
tag on an ancestor), from blame and release notes (fix-forwards, notes that name a broken
release; collectors/szz.py: a working copy has the blobs) and the tag names; the warehouse's
failure rule judges it. Imported is_hotfix / is_rollback flags are never touched.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from collectors.config import DEFAULT_TAG_PATTERN, SourcesSettings, TagRule
from collectors.git import Git, GitError, lead_start, tag_deployments
from collectors.run import Progress, RunOptions, RunResult, Silent
from collectors.shipping import load_rows, ship_and_load
from collectors.signals import natural_key
from collectors.teams import apply_config_teams
from warehouse import attribution
from warehouse.db import Cursor, Warehouse
from warehouse.errors import UserError

SOURCE = "git"
MERGE_PR = re.compile(r"^Merge pull request #(\d+) from (\S+)")
SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")
DEFAULT_DAYS = 90  # commits before the first deployment that it ships
HISTORY = "history"  # cursor: a digest of the refs, window and rules the last sync read


def repo_name(repo: Git, path: Path) -> str:
    """owner/name from the `origin` remote when it is a GitHub-style URL, else local/<folder>."""
    url = repo.run("config", "--get", "remote.origin.url", check=False).strip()
    m = re.search(r"[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", url)
    if m and ("://" in url or url.startswith("git@")):
        return f"{m.group(1)}/{m.group(2)}"
    folder = path.resolve().name
    return f"local/{folder[:-4] if folder.endswith('.git') else folder}"


GITHUB_REMOTE = re.compile(
    r"^(?:https?://(?:[^@/]+@)?|ssh://git@|git@)github\.com[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$"
)


def github_web(repo: Git) -> str | None:
    """https://github.com/OWNER/REPO when the `origin` remote is on github.com, else None
    (another host's pages are not derived: their paths differ)."""
    url = repo.run("config", "--get", "remote.origin.url", check=False).strip()
    m = GITHUB_REMOTE.match(url)
    return f"https://github.com/{m.group(1)}/{m.group(2)}" if m else None


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


def check_tags_match(path: Path, repo: Git, tag_rules: list[TagRule]) -> None:
    """A repository with tags of which no tag rule matches one is a rule that does not fit it
    (e.g. `release-3.2`): bad configuration, said before anything is written. A repository
    without tags is only a warning (nothing released yet)."""
    names = [t.name for t in repo.tags()]
    if not names or any(re.search(r.pattern, n) for r in tag_rules for n in names):
        return
    names.sort(key=natural_key, reverse=True)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    patterns = [r.pattern for r in tag_rules]
    rule = (
        "the default tag rule (release versions: 2.3.1, v2.3.1)"
        if patterns == [DEFAULT_TAG_PATTERN]
        else f"the tag rule {', '.join(patterns)}"
    )
    raise UserError(
        f"{path}: none of its {len(names)} tags ({shown}) matches {rule}; "
        "set pattern in [[github.deployments.tags]]"
    )


def pull_request_rows(
    name: str, repo: Git, since: datetime, web: str | None = None
) -> tuple[list[dict], list[dict]]:
    """Pull requests from merge commits, and the PR number of every commit they brought in.
    created_at is the first commit's time (the history has no opening time). With `web` (the
    repository's GitHub page) each row carries the URL of its pull request or commit there.

    One `git log` for the whole history, not one per merge: merges are taken oldest first, and
    what a merge brought in is what its second parent reaches without crossing the main line
    (the first-parent chains of the merges) or a commit an earlier merge brought in; for
    branches merged once into the main line that is exactly `git log p2 ^p1`.
    """
    history = repo.log_all()
    by_sha = {c.sha: c for c in history}
    merges = [
        (int(m.group(1)), c)
        for c in reversed(history)  # oldest first
        if len(c.parents) > 1 and c.committed_at >= since and (m := MERGE_PR.match(c.subject))
    ]
    mainline: set[str] = set()
    for _, merge in merges:
        walk = by_sha.get(merge.parents[0])
        while walk is not None and walk.sha not in mainline:
            mainline.add(walk.sha)
            walk = by_sha.get(walk.parents[0]) if walk.parents else None
    taken: set[str] = set()
    prs, changes = [], []
    for number, merge in merges:
        brought, stack = [], [merge.parents[1]]
        while stack:
            sha = stack.pop()
            c = by_sha.get(sha)
            if c is None or sha in mainline or sha in taken:
                continue
            taken.add(sha)
            brought.append(c)
            stack.extend(c.parents)
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
                "url": f"{web}/pull/{number}" if web else None,
            }
        )
        changes += [_change(name, c, number, web) for c in brought if len(c.parents) == 1]
    for c in history:
        m = SQUASH_PR.search(c.subject)
        if m and len(c.parents) == 1 and c.committed_at >= since and c.sha not in taken:
            changes.append(_change(name, c, int(m.group(1)), web))
    return prs, changes


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _change(name: str, c, number: int, web: str | None = None) -> dict:
    return {
        "repo": name,
        "sha": c.sha,
        "committed_at": c.committed_at,
        "authored_at": lead_start(c),
        "author": c.author,
        "pr_number": number,
        "url": f"{web}/commit/{c.sha}" if web else None,
    }


class LocalGitSync:
    """The runner of `sync --git PATH` (collectors/run.py): `options.git` is the repository."""

    def __init__(self, wh: Warehouse, config: SourcesSettings, options: RunOptions,
                 progress: Progress | None = None) -> None:
        if options.git is None:
            raise UserError("sync --git needs the path of a git repository")
        self.wh, self.config, self.options = wh, config, options
        self.progress = progress or Silent()
        self.result = RunResult(str(options.git), scopes=[])

    def run(self) -> RunResult:
        self.progress.step("*", f"reading {self.options.git}")
        self.result = sync_local(self.wh, self.config, self.options.git, since=self.options.since,
                                 full=self.options.full)
        self.progress.step("*", "done")
        return self.result


def sync_local(
    wh: Warehouse,
    config: SourcesSettings,
    path: Path,
    *,
    since: date | None = None,
    full: bool = False,
    today: date | None = None,
) -> RunResult:
    repo = open_repo(path)
    name = repo_name(repo, path)
    web = github_web(repo)
    result = RunResult(name, scopes=[name])
    gh = config.github
    if full:
        wh.clear_cursors(SOURCE)
    rules = gh.deployments if gh else config.rules.deployment_rules()
    tag_rules = [r for r in rules.tags if not r.releases] or [TagRule()]
    # A local history costs no API calls, so by default every tag counts (--since or
    # github.since narrow it). The first deployment still ships only the commits of the
    # backfill days before it, so it does not absorb the repository's whole past.
    chosen = since or (gh.since if gh else None)
    tags_from = _midnight(chosen) if chosen else datetime(1970, 1, 1, tzinfo=UTC)
    check_tags_match(path, repo, tag_rules)
    deployments, evidence, bounds = tag_deployments(name, repo, tag_rules, tags_from, SOURCE, rules)
    first = min((d["finished_at"] for d in deployments), default=None)
    backfill = timedelta(days=gh.backfill_days if gh else DEFAULT_DAYS)
    if chosen:
        window = tags_from
    elif first is not None:
        window = first - backfill
    else:
        window = _midnight(today or datetime.now(UTC).date()) - backfill
    if not deployments:
        since_text = f" since {chosen.isoformat()}" if chosen else ""
        result.warnings.append(
            f"{path}: no tag matches {', '.join(r.pattern for r in tag_rules)}{since_text}; no deployments"
        )
    # The same refs, window and rules as the last sync: the history gives the same rows, so
    # reading it again (the cost of an unchanged re-sync) is skipped.
    refs = repo.run("for-each-ref", "--format=%(objectname) %(refname)")
    seen = hashlib.sha256(
        "\n".join(
            [refs, window.isoformat(), rules.model_dump_json(), config.metrics.production_environment]
        ).encode()
    ).hexdigest()
    unchanged = wh.cursor(SOURCE, name, HISTORY).cursor == seen
    if not unchanged:
        attribution.save_evidence(
            wh, [d["deployment_id"] for d in deployments], attribution.TEXT_KINDS, evidence
        )
        prs, pr_changes = pull_request_rows(name, repo, window, web)
        result.add(
            load_rows(
                wh, {"deployments": deployments, "pull_requests": prs, "changes": pr_changes}, SOURCE, []
            )
        )
    shipped = ship_and_load(
        wh,
        SOURCE,
        name,
        repo,
        window,
        config.metrics.production_environment,
        rules,
        bounds,
        web,
        blame_window=timedelta(hours=config.metrics.failure_window_hours),
    )
    result.add(shipped.counts)
    if not unchanged:
        wh.load({}, cursors=[Cursor(SOURCE, name, HISTORY, seen)])
    result.add({"teams": apply_config_teams(wh, config, SOURCE)})
    if shipped.missing:
        result.warnings.append(f"{name}: {len(shipped.missing)} tag(s) point at no commit")
    return result
