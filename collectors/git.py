"""The commit graph: which commits each production deployment shipped.

Git, not the API, answers "what did this deployment ship": a partial clone per repository
(`git clone --bare --filter=tree:0`: commits only, no trees or blobs, then `git fetch` on later
syncs) in the cache directory. A deployment ships the commits reachable from its sha and not
from the earlier successful deployments of the same sequence. Sequences: the deployments of
one environment (case-insensitive, as GitHub compares them) and service, in finish order
(same-second ties in natural order of their ids). A commit belongs to the first deployment, of
any sequence, that shipped it; later walks never move it.

The first deployment of a branch does not absorb history: tags older than the sync window are
not deployments but still bound what later deployments ship, and a deployment with nothing
before it ships only commits from the window.

Failure evidence (stored as rows, judged by the warehouse's failure rule): a shipped commit
that git marks as a revert ("This reverts commit <sha>", "Reverts owner/name#N"), a shipped
pull request marked as a hotfix (a label, or the branch of its merge commit), and a deployment
of an ancestor of the sha its sequence deployed before (a rollback). Words in commit subjects
are not evidence.

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
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from collectors import signals as text_rules
from collectors import szz
from collectors.config import DeploymentRules, TagRule
from collectors.secrets import REDACT
from warehouse.locking import pid_alive

log = logging.getLogger(__name__)

FIELD, RECORD = "\x1f", "\x1e"
LOG_FORMAT = FIELD.join(["%H", "%P", "%an", "%aI", "%cI", "%s", "%b"]) + RECORD
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
    body: str = ""


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

    def know(self, shas: list[str | None]) -> None:
        """Learn in one `git cat-file` which of these commits the repository has (has_commit
        then costs no process per sha)."""
        todo = [s for s in dict.fromkeys(shas) if s and s not in self._known]
        if not todo:
            return
        out = self.run("cat-file", "--batch-check=%(objectname) %(objecttype)", stdin="\n".join(todo) + "\n")
        for asked, line in zip(todo, out.splitlines(), strict=False):
            self._known[asked] = line.endswith(" commit")

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
            sha, parents, author, authored, committed, subject, body = record.split(FIELD, 6)
            commits.append(
                Commit(
                    sha,
                    tuple(parents.split()),
                    author,
                    text_rules.parse_time(authored),
                    text_rules.parse_time(committed),
                    subject,
                    body,
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


def tag_service(rule: TagRule, name: str) -> str | None:
    """The component a tag deploys: the rule's `service`, else the tag's prefix (`api/v1.2`
    -> `api`), so that a monorepo's components are separate sequences."""
    if rule.service is not None:
        return rule.service
    return name.rsplit("/", 1)[0] if "/" in name else None


def tag_deployments(
    repo_name: str,
    repo: Git,
    tag_rules: list[TagRule],
    since: datetime,
    prefix: str,
    deployment_rules: DeploymentRules,
) -> tuple[list[dict], list[dict], list[Deployed]]:
    """Tags that a `releases = false` tag rule matches, as successful deployments: one per
    (commit, environment, service), named after its first tag (`v2`, `v2.0` and `v2.0.0` on
    one commit are one deployment). Returns the rows, the hotfix/rollback evidence of their tag
    names, and the tags older than the window, which are not deployments but bound what the
    later ones ship."""
    groups: dict[tuple, list[Tag]] = {}
    rule_of: dict[tuple, TagRule] = {}
    for tag in repo.tags():
        rule = next((r for r in tag_rules if not r.releases and re.search(r.pattern, tag.name)), None)
        if rule is None or tag.at is None:
            continue
        key = (tag.sha, rule.environment.lower(), tag_service(rule, tag.name))
        groups.setdefault(key, []).append(tag)
        rule_of.setdefault(key, rule)
    rows, evidence, bounds = [], [], []
    for key, tags in groups.items():
        tags.sort(key=lambda t: (t.at, text_rules.natural_key(t.name)))
        first, rule = tags[0], rule_of[key]
        did = f"{prefix}:{repo_name}:tag:{first.name}"
        if first.at < since:
            bounds.append(Deployed(did, rule.environment, first.sha, first.at, key[2]))
            continue
        rows.append(
            {
                "deployment_id": did,
                "repo": repo_name,
                "environment": rule.environment,
                "service": key[2],
                "status": "success",
                "started_at": first.at,
                "finished_at": first.at,
                "sha": first.sha,
            }
        )
        evidence += text_rules.text_evidence(
            did, prefix, deployment_rules, *(t.name for t in tags), at=first.at
        )
    rows.sort(key=lambda r: (r["finished_at"], text_rules.natural_key(r["deployment_id"])))
    return rows, evidence, bounds


# -- what each deployment shipped -----------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    deployment_id: str
    environment: str
    sha: str | None
    finished_at: datetime
    service: str | None = None

    @property
    def sequence(self) -> str:
        """Its sequence: environment (case-insensitive) and service."""
        return f"{self.environment.lower()}|{self.service or ''}"

    @property
    def order(self) -> tuple:
        return (self.finished_at, text_rules.natural_key(self.deployment_id))


@dataclass
class PullRequestIndex:
    """What the API said about pull requests: merge commit -> number, and each PR commit."""

    by_merge: dict[str, int] = field(default_factory=dict)
    commits: dict[int, list[dict]] = field(default_factory=dict)  # number -> change rows (no deployment)
    by_sha: dict[str, dict] = field(default_factory=dict)  # sha -> change row
    labels: dict[int, str] = field(default_factory=dict)  # number -> `;`-separated labels

    def add_commit(self, row: dict) -> None:
        self.by_sha[row["sha"]] = row
        if row.get("pr_number") is not None:
            self.commits.setdefault(int(row["pr_number"]), []).append(row)


@dataclass
class ShipBatch:
    changes: list[dict]
    evidence: list[dict]  # deployment_evidence rows of the walked deployments
    walked: list[str]  # deployments walked (their commit-walk evidence is replaced)
    unshipped: list[str]  # deployments whose earlier attributions are void (walked again)
    state: dict
    missing: list[str]  # deployments whose sha is not in the clone


REVERTS_COMMIT = re.compile(r"^This reverts commit ([0-9a-f]{7,40})", re.MULTILINE)
# "Partial revert of commit 502d08c", "partially reverts 502d08c", "Revert commit 502d08c": a
# revert by its own words with the reverted commit named (a sha of 7 or more hex digits).
REVERTS_NAMED = re.compile(
    r"\b(?:partial(?:ly)?[ -])?revert(?:s|ed|ing)?(?: of)?(?: commit)? ([0-9a-f]{7,40})\b", re.IGNORECASE
)
CHERRY_PICKED = re.compile(r"^\(cherry picked from commit ([0-9a-f]{7,40})\)", re.MULTILINE)
REVERTS_PR = re.compile(r"^Reverts? (?:([\w.-]+/[\w.-]+))?#(\d+)\s*$", re.MULTILINE | re.IGNORECASE)
MERGE_PR = re.compile(r"^Merge pull request #(\d+) from (\S+)")


def _digest(deployments: list[Deployed]) -> str:
    text = "\n".join(f"{d.deployment_id}:{d.sha}" for d in deployments)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def commit_evidence(
    repo_name: str,
    d: Deployed,
    shipped: list[Commit],
    prs: PullRequestIndex,
    rules: DeploymentRules,
    source: str,
    repo: Git | None = None,
    contents: bool = False,
) -> list[dict]:
    """The evidence in what a deployment ships: reverts in every form (git's trailer, a revert
    that names the commit it partly reverts, a `Revert "<subject>"` matched to the commit of
    that subject, GitHub's "Reverts owner/name#N"), and pull requests marked as hotfixes (a
    label, the branch their merge commit names).

    `contents` (a working copy, as for blame): a revert whose diff touches only files no
    deployment runs (docs, tests, CI other than release workflows, development requirement
    files; collectors/szz.py `Shipped`) rolls back nothing a user ran and is not evidence."""
    rows: set[tuple[str, str]] = set()
    for c in shipped:
        named = {m.group(1).lower() for m in REVERTS_COMMIT.finditer(c.body)}
        named |= {m.group(1).lower() for m in REVERTS_NAMED.finditer(f"{c.subject}\n{c.body}")}
        if not named and repo is not None and (target := szz.subject_revert_target(repo, c)):
            named.add(target)
        pulls = [m.group(2) for m in REVERTS_PR.finditer(c.body)
                 if m.group(1) is None or m.group(1).lower() == repo_name.lower()]
        if (named or pulls) and contents and repo is not None and not szz.changes_shipped_files(repo, c):
            named, pulls = set(), []
        for reverted in named:
            rows.add(("revert_of", reverted))
            if reverted in prs.by_merge:  # a squash or rebase commit: its pull request stands in
                rows.add(("revert_of_pr", str(prs.by_merge[reverted])))
        for number in pulls:
            rows.add(("revert_of_pr", number))
        merge = MERGE_PR.match(c.subject)
        if merge and len(c.parents) > 1:
            branch = merge.group(2).split("/", 1)[-1]
            if text_rules.is_hotfix(rules, branch):
                rows.add(("hotfix_change", merge.group(1)))
        number = prs.by_merge.get(c.sha)
        if number is not None and any(
            text_rules.is_hotfix(rules, label) for label in (prs.labels.get(number) or "").split(";")
        ):
            rows.add(("hotfix_change", str(number)))
    return [
        {
            "deployment_id": d.deployment_id,
            "kind": k,
            "source": source,
            "points_at": ref,
            "observed_at": d.finished_at,
        }
        for k, ref in sorted(rows)
    ]


def ship(
    repo_name: str,
    repo: Git,
    deployments: list[Deployed],
    prs: PullRequestIndex | Callable[[], PullRequestIndex],
    window_start: datetime,
    deployment_rules: DeploymentRules,
    state: dict,
    claims: dict[str, tuple[datetime, str]] | Callable[[], dict] | None = None,
    *,
    bounds: list[Deployed] = (),
    source: str = "git",
    blame_window: timedelta | None = None,
) -> Iterator[ShipBatch]:
    """Attribute commits to the successful production deployments of one repository.

    `blame_window` (the failure window; None: no blame, as in a clone without blobs): the
    changes of a deployment that follows another of its sequence within the window are
    blamed (collectors/szz.py), and each commit whose lines they modify, when a deployment
    within the window before shipped it first, is `fix_forward` evidence.

    `state` per sequence: n (deployments handled, in order) and the digest of those n (and of
    the sequence's bounds). When a late deployment lands among handled ones, or a tag moved,
    the digest differs and the sequence is walked again from its start, its earlier
    attributions void; otherwise only the new deployments are walked.

    `claims` (sha -> finish time and deployment of the attribution stored now): a commit
    belongs to whichever deployment shipped it first, of any sequence (regions); a later
    deployment never takes it over, so an incremental walk gives what a fresh one gives.
    """
    loaded: dict | None = None

    def known() -> dict:  # the stored claims, read only when something is walked
        nonlocal loaded
        if loaded is None:
            loaded = dict((claims() if callable(claims) else claims) or {})
        return loaded

    index: PullRequestIndex | None = None

    def pulls() -> PullRequestIndex:  # read only when something is walked
        nonlocal index
        if index is None:
            index = prs() if callable(prs) else prs
        return index

    repo.know([d.sha for d in (*deployments, *bounds)])
    by_seq: dict[str, list[Deployed]] = {}
    for d in sorted(deployments, key=lambda d: d.order):
        by_seq.setdefault(d.sequence, []).append(d)
    bounds_of: dict[str, list[str]] = {}
    for b in sorted(bounds, key=lambda b: b.order):
        if b.sha and repo.has_commit(b.sha):
            bounds_of.setdefault(b.sequence, []).append(b.sha)
    state = {key: dict(v) for key, v in state.items()}
    for key, ordered in sorted(by_seq.items()):
        bound = list(dict.fromkeys(bounds_of.get(key, [])))
        salt = hashlib.sha256("\n".join(bound).encode()).hexdigest()[:8]
        done = state.get(key, {})
        start = done.get("n", 0)
        unshipped: list[str] = []
        if start > len(ordered) or _digest(ordered[:start]) + salt != done.get("digest"):
            start = 0
        if start == 0:
            # Walked from the start: what this sequence's deployments shipped before is void.
            unshipped = [d.deployment_id for d in ordered]
            mine = set(unshipped)
            loaded = {sha: c for sha, c in known().items() if c[1] not in mine}
        for lo in range(start, len(ordered), CHUNK):
            hi = min(lo + CHUNK, len(ordered))
            changes, evidence, walked, missing = [], [], [], []
            for i in range(lo, hi):
                d = ordered[i]
                earlier = [
                    e.sha for e in ordered[max(0, i - EXCLUDE_LAST) : i] if e.sha and repo.has_commit(e.sha)
                ]
                walked.append(d.deployment_id)
                if not d.sha or not repo.has_commit(d.sha):
                    missing.append(d.deployment_id)
                    continue
                exclude = list(dict.fromkeys(bound + earlier))
                shipped = repo.log(d.sha, exclude, since=None if exclude else window_start)
                shipped, joins = _own_history(repo, shipped)
                for row in _changes(repo_name, d, shipped, pulls(), joins):
                    claim = known().get(row["sha"])
                    if claim and claim[0] <= d.finished_at:
                        continue  # shipped first by another deployment: it keeps it
                    known()[row["sha"]] = (d.finished_at, d.deployment_id)
                    changes.append(row)
                evidence += commit_evidence(repo_name, d, shipped, pulls(), deployment_rules, source, repo,
                                            contents=blame_window is not None)
                before = ordered[i - 1] if i else None
                if (
                    blame_window is not None
                    and before is not None
                    and d.finished_at - before.finished_at <= blame_window
                ):
                    # its own name (a tag's), not the repository's
                    hotfix = text_rules.is_hotfix(deployment_rules, d.deployment_id.rsplit(":tag:", 1)[-1])
                    notes = _fixes_by_notes(repo, d, before, shipped)
                    evidence += _fix_forward(repo, d, shipped, known(), blame_window, source, hotfix, notes)
                    evidence += _release_notes(repo, d, before, ordered[:i], blame_window, source)
                # Deploying an ancestor of what the sequence deployed just before is a rollback
                # (it ships nothing new, which makes the ancestry check rare).
                prev = next((e for e in reversed(ordered[:i]) if e.sha and repo.has_commit(e.sha)), None)
                if not shipped and prev and prev.sha != d.sha and repo.is_ancestor(d.sha, prev.sha):
                    evidence.append(
                        {
                            "deployment_id": d.deployment_id,
                            "kind": "redeploy",
                            "source": source,
                            "points_at": prev.deployment_id,
                            "observed_at": d.finished_at,
                        }
                    )
            state[key] = {"n": hi, "digest": _digest(ordered[:hi]) + salt}
            yield ShipBatch(
                changes,
                evidence,
                walked,
                unshipped if lo == start else [],
                {k: dict(v) for k, v in state.items()},
                missing,
            )


# The failure rule's FIX_SUBJECT (warehouse/sql/01_prod_deployments.sql; a test keeps the two
# equal): only changes that say they fix, or every change of a hotfix, can be evidence the rule
# uses, so only those are blamed.
FIX_SUBJECT = re.compile(rf"\b({szz.FIX_WORDS})\b", re.IGNORECASE)


# GitHub's closing keywords that say a change fixes an issue ("Fix #4107", "fixes acme/shop#9").
FIX_CLOSES = re.compile(r"\bfix(?:e[sd])?:?\s+(?:[\w.-]+/[\w.-]+)?#\d+", re.IGNORECASE)
VERSION = re.compile(r":tag:(?:.*/)?v?(\d+(?:\.\d+)+)$")
# A `Fixes: <sha> ("subject")` trailer (the Linux kernel's form): the change names the commit
# that introduced what it fixes.
FIXES_TRAILER = re.compile(r"^\s*Fixes:\s*([0-9a-f]{7,40})\b.*$", re.IGNORECASE | re.MULTILINE)


def _fixes_by_notes(repo: Git, d: Deployed, before: Deployed, shipped: list[Commit]) -> dict[str, str]:
    """The changes of a patch release (a versioned tag, third part above 0: `2.1.5`) that a fix
    entry of its own release notes describes (collectors/szz.py `fixes_by_notes`), with the
    entry; they are blamed like changes whose subject says they fix."""
    m = VERSION.search(d.deployment_id)
    parts = m.group(1).split(".") if m else []
    if len(parts) < 3 or int(parts[2]) == 0 or not (d.sha and before.sha and repo.has_commit(before.sha)):
        return {}
    return szz.fixes_by_notes(repo, before.sha, d.sha, shipped, m.group(1))


def _release_notes(
    repo: Git, d: Deployed, before: Deployed, earlier: list[Deployed], window: timedelta, source: str
) -> list[dict]:
    """release_note evidence of `d`: an entry its release notes gained since `before` names an
    earlier deployment of its sequence within the window with words of a defect
    (collectors/szz.py); points_at = that deployment."""
    if not (d.sha and before.sha and repo.has_commit(before.sha)):
        return []
    versions = {
        m.group(1): e.deployment_id
        for e in earlier
        if (m := VERSION.search(e.deployment_id)) and d.finished_at - window <= e.finished_at <= d.finished_at
    }
    if not versions:
        return []
    return [
        {
            "deployment_id": d.deployment_id,
            "kind": "release_note",
            "source": source,
            "points_at": named,
            "observed_at": d.finished_at,
            "detail": json.dumps({"note": entry[:500]}, sort_keys=True),
        }
        for named, entry in szz.defects_named(szz.note_entries(repo, before.sha, d.sha), versions)
    ]


def _fix_forward(
    repo: Git,
    d: Deployed,
    shipped: list[Commit],
    known: dict,
    window: timedelta,
    source: str,
    hotfix: bool = False,
    notes: dict[str, str] | None = None,
) -> list[dict]:
    """fix_forward evidence of `d`: one row per (fixing commit, introducing commit, file), for
    the introducing commits that a production deployment within the window before `d` shipped
    first. detail carries the fixing commit, its subject (the rule reads it), file and lines.
    Blamed: the changes whose subject says they fix, or whose message closes an issue with a fix
    keyword ("Fix #4107"), or that a fix entry of the release's notes describes (`notes`: sha ->
    entry, carried in detail "note"), or all of a hotfix's (its name says so). A change with a
    `Fixes: <sha>` trailer names the introducing commit itself: one row for it, detail
    "fixes_commit" = the trailer, whatever its subject, no blame needed."""
    rows = []
    notes = notes or {}
    for c in shipped:
        closes = FIX_CLOSES.search(c.body)
        note = notes.get(c.sha)
        for sha, trailer in _fixes_trailers(repo, c):
            claim = known.get(sha)
            if claim is None or claim[1] == d.deployment_id or not (
                d.finished_at - window <= claim[0] <= d.finished_at
            ):
                continue
            rows.append({
                "deployment_id": d.deployment_id,
                "kind": "fix_forward",
                "source": source,
                "points_at": sha,
                "observed_at": c.committed_at,
                "detail": json.dumps({"fixing": c.sha, "subject": c.subject, "fixes_commit": trailer[:300]},
                                     sort_keys=True),
            })
        if not hotfix and not FIX_SUBJECT.search(c.subject) and closes is None and note is None:
            continue
        for b in szz.blame_fix(repo, c):
            claim = known.get(b.introducing)
            if (
                claim is None
                or claim[1] == d.deployment_id
                or not d.finished_at - window <= claim[0] <= d.finished_at
            ):
                continue
            detail = {"fixing": c.sha, "subject": c.subject, "path": b.path, "lines": b.lines}
            if closes is not None:
                detail["closes"] = closes.group(0)
            if note is not None:
                detail["note"] = note[:300]
            if b.around:
                detail["around"] = True
            rows.append(
                {
                    "deployment_id": d.deployment_id,
                    "kind": "fix_forward",
                    "source": source,
                    "points_at": b.introducing,
                    "observed_at": c.committed_at,
                    "detail": json.dumps(detail, sort_keys=True),
                }
            )
    return rows


def _fixes_trailers(repo: Git, c: Commit) -> list[tuple[str, str]]:
    """The commits `c`'s `Fixes: <sha>` trailers name (full sha, the trailer line); a name that
    is no commit of the clone is left out."""
    found = []
    for m in FIXES_TRAILER.finditer(c.body):
        sha = repo.run("rev-parse", "--verify", "--quiet", f"{m.group(1)}^{{commit}}", check=False).strip()
        if sha and sha != c.sha:
            found.append((sha, m.group(0).strip()))
    return found


def _own_history(repo: Git, shipped: list[Commit]) -> tuple[list[Commit], set[str]]:
    """Leave out the commits that entered through a merge of an unrelated history (a `git
    subtree add`, an imported repository: no common ancestor with the main line): they are
    not this repository's changes, and the merge that joined them is one change. Only a walk
    that reaches a root commit can hold one, so only then are its merges checked."""
    if not any(not c.parents for c in shipped):
        return shipped, set()
    ids = {c.sha for c in shipped}
    foreign: set[str] = set()
    joins: set[str] = set()
    for c in reversed(shipped):  # oldest first: a join inside an imported history is foreign
        if len(c.parents) < 2 or c.sha in foreign:
            continue
        for other in c.parents[1:]:
            if other not in ids or other in foreign:
                continue
            if not repo.run("merge-base", c.parents[0], other, check=False).strip():
                joins.add(c.sha)
                foreign |= {x.sha for x in repo.log(other, [c.parents[0]])}
    return [c for c in shipped if c.sha not in foreign], joins


def _changes(
    repo_name: str, d: Deployed, shipped: list[Commit], prs: PullRequestIndex, joins: set[str] = frozenset()
) -> list[dict]:
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
        if (len(c.parents) > 1 and c.sha not in joins) or c.sha in replaced:
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
                    "authored_at": lead_start(c),
                    "author": c.author,
                    "pr_number": None,
                    "deployment_id": d.deployment_id,
                }
            )
    return rows


def lead_start(c: Commit) -> datetime:
    """When a change's lead time starts: its author date, except for a cherry-pick (a backport,
    `(cherry picked from commit X)`), timed from when it was made (its committer date): the
    author date it keeps is the original's, whose lead time the original already counts."""
    return c.committed_at if CHERRY_PICKED.search(c.body) else c.authored_at


def _row(known: dict) -> dict:
    return {k: known.get(k) for k in ("repo", "sha", "committed_at", "authored_at", "author", "pr_number")}
