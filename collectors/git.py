"""The commit graph: which commits each production deployment shipped.

Git, not the API, answers "what did this deployment ship": a partial clone per repository
(`git clone --bare --filter=tree:0`: commits only, no trees or blobs, then `git fetch` on later
syncs) in the cache directory. A deployment ships the commits reachable from its sha and not
from the earlier successful deployments of the same environment. The first deployment seen
ships only commits from the sync window, so it does not absorb years of history.

Squash and rebase merges: the commit on the default branch was made at merge time, so its own
timestamp would hide the work before it. When a shipped commit is a pull request's merge commit
and not a true merge, the pull request's own commits (known from the API) are what the
deployment shipped; the squash commit, or the rebased copies, are left out so nothing counts
twice. True merge commits are plumbing and are not changes either (the commits they bring in
are reachable and counted).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from collectors import signals as text_rules
from collectors.config import DeploymentRules, TagRule
from collectors.secrets import REDACT
from warehouse.locking import pid_alive

log = logging.getLogger(__name__)

FIELD, RECORD = "\x1f", "\x1e"
LOG_FORMAT = FIELD.join(["%H", "%P", "%an", "%aI", "%cI", "%s"]) + RECORD
EXCLUDE_LAST = 50  # a deployment excludes what the last 50 deployments of its environment shipped
CHUNK = 50  # deployments per warehouse load (and per cursor step)


class GitError(Exception):
    def __init__(self, message: str):
        super().__init__(REDACT(message))


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: str
    authored_at: datetime
    committed_at: datetime
    subject: str


@dataclass(frozen=True)
class Tag:
    name: str
    sha: str  # the commit it points at
    at: datetime  # tagger date (annotated) or commit date (lightweight)


class Git:
    """A repository on disk (a bare cache clone, or a user's working copy)."""

    def __init__(self, path: Path, env: dict[str, str] | None = None):
        self.path = Path(path)
        self.env = env or {}
        self._known: dict[str, bool] = {}

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **self.env}
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], input=stdin, capture_output=True, text=True, env=env
        )
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]} failed in {self.path}: {done.stderr.strip()[:500]}")
        return done.stdout

    def _ok(self, *args: str) -> bool:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **self.env}
        return (
            subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, env=env).returncode == 0
        )

    def has_commit(self, sha: str | None) -> bool:
        if not sha:
            return False
        if sha not in self._known:
            self._known[sha] = self._ok("cat-file", "-e", f"{sha}^{{commit}}")
        return self._known[sha]

    def resolve(self, ref: str) -> str | None:
        out = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).strip()
        return out or None

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self._ok("merge-base", "--is-ancestor", older, newer)

    def log(self, include: str, exclude: list[str] = (), since: datetime | None = None) -> list[Commit]:
        """Commits reachable from `include` and from none of `exclude`, newest first."""
        refs = "\n".join([include, *(f"^{e}" for e in exclude)]) + "\n"
        return self._log(["--stdin"], since, refs)

    def log_all(self, since: datetime | None = None) -> list[Commit]:
        """Commits reachable from any branch or tag, newest first."""
        return self._log(["--all"], since, None)

    def _log(self, revs: list[str], since: datetime | None, stdin: str | None) -> list[Commit]:
        args = ["log", f"--format={LOG_FORMAT}", *revs]
        if since is not None:
            args.append(f"--since={since.isoformat()}")
        out = self.run(*args, stdin=stdin)
        commits = []
        for record in out.split(RECORD):
            record = record.strip("\n")
            if not record:
                continue
            sha, parents, author, authored, committed, subject = record.split(FIELD, 5)
            commits.append(
                Commit(
                    sha,
                    tuple(parents.split()),
                    author,
                    text_rules.parse_time(authored),
                    text_rules.parse_time(committed),
                    subject,
                )
            )
        return commits

    def tags(self) -> list[Tag]:
        fmt = FIELD.join(["%(refname:short)", "%(objectname)", "%(*objectname)", "%(creatordate:iso-strict)"])
        out = self.run("for-each-ref", f"--format={fmt}", "refs/tags")
        tags = []
        for line in out.splitlines():
            name, obj, deref, created = line.split(FIELD)
            tags.append(Tag(name, deref or obj, text_rules.parse_time(created)))
        return tags


# -- the cache clone ------------------------------------------------------------------------------


def auth_env(clone_url: str, token: str | None, api_url: str) -> dict[str, str]:
    """Git config through the environment (never argv, never the clone's config file): an
    Authorization header for https clones from the same GitHub host as the API."""
    if not token or not clone_url.startswith("https://"):
        return {}
    api_host = urlsplit(api_url).hostname or ""
    web_host = "github.com" if api_host == "api.github.com" else api_host
    if urlsplit(clone_url).hostname != web_host:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def _url(clone_url: str) -> str:
    """A local path becomes a file:// URL so that the partial-clone filter really applies."""
    if "://" not in clone_url and not clone_url.startswith("git@") and Path(clone_url).exists():
        return Path(clone_url).resolve().as_uri()
    return clone_url


PARTIAL = re.compile(r"\.git\.partial-(\d+)$")


def clean_partials(folder: Path) -> list[Path]:
    """Remove the half-made clones (`*.git.partial-PID`) of syncs that were killed: only
    those whose PID no longer runs, so a clone in progress in another process is kept."""
    removed = []
    for entry in folder.glob("*.git.partial-*") if folder.is_dir() else ():
        m = PARTIAL.search(entry.name)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def clone_or_fetch(clone_url: str, dest: Path, env: dict[str, str] | None = None) -> Git:
    """A bare partial clone in `dest`, created atomically (a killed clone leaves no half repo
    behind under the final name), or brought up to date when it exists."""
    env = env or {}
    url = _url(clone_url)
    if (dest / "HEAD").exists():
        repo = Git(dest, env)
        repo.run(
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "origin",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        )
        return repo
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_partials(dest.parent)
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    Git(dest.parent, env).run("clone", "--quiet", "--bare", "--filter=tree:0", url, str(partial))
    repo = Git(partial, env)
    repo.run("config", "remote.origin.url", url)
    repo.run("config", "gc.auto", "0")  # deployed commits of deleted branches must stay
    os.replace(partial, dest)
    return Git(dest, env)


def fetch_commits(repo: Git, shas: list[str]) -> list[str]:
    """Fetch commits that no branch or tag has (a deployment of a deleted branch, a PR head).
    Returns those still missing."""
    missing = [s for s in dict.fromkeys(shas) if s and not repo.has_commit(s)]
    if missing:
        repo.run("fetch", "--quiet", "origin", *missing, check=False)
        repo._known.clear()
    return [s for s in missing if not repo.has_commit(s)]


# -- deployments from tags ------------------------------------------------------------------------


def tag_deployments(
    repo_name: str,
    repo: Git,
    tag_rules: list[TagRule],
    since: datetime,
    prefix: str,
    deployment_rules: DeploymentRules,
) -> tuple[list[dict], list[dict]]:
    """Tags that a `releases = false` tag rule matches, as successful deployments, and the
    hotfix/rollback evidence of their names."""
    rows, signals = [], []
    for tag in repo.tags():
        rule = next((r for r in tag_rules if not r.releases and re.search(r.pattern, tag.name)), None)
        if rule is None or tag.at is None or tag.at < since:
            continue
        did = f"{prefix}:{repo_name}:tag:{tag.name}"
        rows.append(
            {
                "deployment_id": did,
                "repo": repo_name,
                "environment": rule.environment,
                "status": "success",
                "started_at": tag.at,
                "finished_at": tag.at,
                "sha": tag.sha,
            }
        )
        signals.append(text_rules.text_signal(did, deployment_rules, tag.name))
    return rows, signals


# -- what each deployment shipped -----------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    deployment_id: str
    environment: str
    sha: str | None
    finished_at: datetime


@dataclass
class PullRequestIndex:
    """What the API said about pull requests: merge commit -> number, and each PR commit."""

    by_merge: dict[str, int] = field(default_factory=dict)
    commits: dict[int, list[dict]] = field(default_factory=dict)  # number -> change rows (no deployment)
    by_sha: dict[str, dict] = field(default_factory=dict)  # sha -> change row

    def add_commit(self, row: dict) -> None:
        self.by_sha[row["sha"]] = row
        if row.get("pr_number") is not None:
            self.commits.setdefault(int(row["pr_number"]), []).append(row)


@dataclass
class ShipBatch:
    changes: list[dict]
    signals: list[dict]  # deployment_id, origin "commits", hotfix, rollback
    state: dict
    missing: list[str]  # deployments whose sha is not in the clone


def _digest(deployments: list[Deployed]) -> str:
    text = "\n".join(f"{d.deployment_id}:{d.sha}" for d in deployments)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ship(
    repo_name: str,
    repo: Git,
    deployments: list[Deployed],
    prs: PullRequestIndex,
    window_start: datetime,
    deployment_rules: DeploymentRules,
    state: dict,
    claims: dict[str, tuple[datetime, str]] | None = None,
) -> Iterator[ShipBatch]:
    """Attribute commits to the successful production deployments of one repository.

    `state` per environment: n (deployments handled, in finish order) and the digest of those
    n. When a late deployment lands among handled ones the digest differs and the environment
    is recomputed; otherwise only the new deployments are walked.

    `claims` (sha -> finish time and environment of the deployment it is attributed to now):
    with several production environments (regions), a commit belongs to whichever deployment
    shipped it first; another environment's later deployment does not take it over.
    """
    claims = {sha: (at, env, False) for sha, (at, env) in (claims or {}).items()}
    by_env: dict[str, list[Deployed]] = {}
    for d in sorted(deployments, key=lambda d: (d.finished_at, d.deployment_id)):
        by_env.setdefault(d.environment, []).append(d)
    state = {env: dict(v) for env, v in state.items()}
    for env, ordered in sorted(by_env.items()):
        done = state.get(env, {})
        start = done.get("n", 0)
        if start > len(ordered) or _digest(ordered[:start]) != done.get("digest"):
            start = 0
        for lo in range(start, len(ordered), CHUNK):
            hi = min(lo + CHUNK, len(ordered))
            changes, flags, missing = [], [], []
            for i in range(lo, hi):
                d = ordered[i]
                earlier = [
                    e.sha for e in ordered[max(0, i - EXCLUDE_LAST) : i] if e.sha and repo.has_commit(e.sha)
                ]
                if not d.sha or not repo.has_commit(d.sha):
                    missing.append(d.deployment_id)
                    continue
                shipped = repo.log(d.sha, earlier, since=None if earlier else window_start)
                for row in _changes(repo_name, d, shipped, prs):
                    claim = claims.get(row["sha"])
                    # Shipped first by another environment, or already in this walk: keep that.
                    if claim and claim[0] <= d.finished_at and (claim[1] != env or claim[2]):
                        continue
                    claims[row["sha"]] = (d.finished_at, env, True)
                    changes.append(row)
                f = text_rules.flags(deployment_rules, *(c.subject for c in shipped))
                # Deploying a sha that an earlier deployment already contained is a rollback.
                back = any(e != d.sha and repo.is_ancestor(d.sha, e) for e in earlier[-1:])
                flags.append(
                    {
                        "deployment_id": d.deployment_id,
                        "origin": "commits",
                        "hotfix": f.hotfix,
                        "rollback": f.rollback or back,
                    }
                )
            state[env] = {"n": hi, "digest": _digest(ordered[:hi])}
            yield ShipBatch(changes, flags, {e: dict(v) for e, v in state.items()}, missing)


def _changes(repo_name: str, d: Deployed, shipped: list[Commit], prs: PullRequestIndex) -> list[dict]:
    on_history = {c.sha: c for c in shipped}
    replaced: set[str] = set()
    rows: list[dict] = []
    for c in shipped:
        number = prs.by_merge.get(c.sha)
        if number is None or len(c.parents) > 1 or c.sha in prs.by_sha:
            continue
        # A squash commit, or the last of a rebase's copies: the PR's own commits stand in.
        originals = prs.commits.get(number, [])
        if not originals:
            continue
        replaced.add(c.sha)
        authored = {o["authored_at"] for o in originals}
        walk = c
        for _ in range(len(originals) - 1):  # rebased copies keep their author dates
            parent = on_history.get(walk.parents[0]) if walk.parents else None
            if parent is None or parent.authored_at not in authored or parent.sha in prs.by_sha:
                break
            replaced.add(parent.sha)
            walk = parent
        for o in originals:
            rows.append({**_row(o), "deployment_id": d.deployment_id})
    for c in shipped:
        if len(c.parents) > 1 or c.sha in replaced:
            continue
        known = prs.by_sha.get(c.sha)
        if known is not None:
            rows.append({**_row(known), "deployment_id": d.deployment_id})
        else:
            rows.append(
                {
                    "repo": repo_name,
                    "sha": c.sha,
                    "committed_at": c.committed_at,
                    "authored_at": c.authored_at,
                    "author": c.author,
                    "pr_number": None,
                    "deployment_id": d.deployment_id,
                }
            )
    return rows


def _row(known: dict) -> dict:
    return {k: known.get(k) for k in ("repo", "sha", "committed_at", "authored_at", "author", "pr_number")}
