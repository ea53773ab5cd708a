"""Evidence that needs a commit's contents, not only the graph: reverts named by subject only,
and fix-forwards found by blame (SZZ).

Both read diffs, so both need a clone with trees and blobs (a user's working copy for `sync
--git`); they run only on the commits the failure rule can use, so a re-sync of an unchanged
clone reads nothing.

SZZ (Śliwerski, Zimmermann, Zeller 2005, as PyDriller's `get_commits_last_modified_lines`):
for a fixing commit, the lines its diff modifies or deletes are blamed at its parent; the commits
that last changed them introduced what it fixed. Whitespace-only changes and moved lines are
ignored (`-w`, `-M`), blank lines are never blamed, and files that are not code a deployment
runs (docs, tests, changelogs and news fragments) are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commit graph calls this module, never the other way
    from collectors.git import Commit, Git

REVERT_SUBJECT = re.compile(r'^Revert "(.+)"(?:\s*\(#\d+\))?\s*$')
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.MULTILINE)
BLAME_HEADER = re.compile(r"^([0-9a-f]{40}) \d+ (\d+)(?: \d+)?$")
# Folders and file names that hold no code a deployment runs.
SKIP_DIRS = {"doc", "docs", "test", "tests", "testing", "changes", "changelog.d", "newsfragments", ".github"}
SKIP_NAMES = re.compile(r"^(changes|changelog|history|news|release[-_]?notes|authors)\b|^test_|_test\.", re.I)


def skipped(path: str) -> bool:
    p = PurePosixPath(path)
    return any(part.lower() in SKIP_DIRS for part in p.parts[:-1]) or bool(SKIP_NAMES.search(p.name))


def patch_id(repo: Git, *diff_args: str) -> str | None:
    """`git patch-id --stable` of a diff (same changes, same id, whatever the line numbers)."""
    diff = repo.run("diff", "--no-color", "--no-ext-diff", *diff_args, check=False)
    if not diff.strip():
        return None
    out = repo.run("patch-id", "--stable", stdin=diff, check=False).split()
    return out[0] if out else None


def subject_revert_target(repo: Git, c: Commit) -> str | None:
    """The commit a `Revert "<subject>"` commit without a `This reverts commit` line reverts:
    an ancestor with exactly that subject; of several, the one whose patch-id equals the
    revert's inverse (`git diff C C^`), else the newest. None when no ancestor has it."""
    m = REVERT_SUBJECT.match(c.subject)
    if m is None or not c.parents:
        return None
    wanted = m.group(1).strip()
    out = repo.run(
        "log", "--format=%H%x1f%s", "--fixed-strings", f"--grep={wanted}", "-n", "20", c.parents[0],
        check=False,
    )
    found = [sha for sha, subject in (line.split("\x1f", 1) for line in out.splitlines() if "\x1f" in line)
             if subject.strip() == wanted]
    if len(found) <= 1:
        return found[0] if found else None
    inverse = patch_id(repo, c.sha, c.parents[0])
    same = [sha for sha in found if inverse and patch_id(repo, f"{sha}^", sha) == inverse]
    return (same or found)[0]


@dataclass(frozen=True)
class Blamed:
    fixing: str  # the commit whose diff touches the lines
    introducing: str  # the commit that last changed them before
    path: str
    lines: str  # the blamed lines at the fixing commit's parent, e.g. "12-14,30"


def _ranges(numbers: list[int]) -> str:
    numbers = sorted(set(numbers))
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(f"{start}" if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def blame_fix(repo: Git, c: Commit) -> list[Blamed]:
    """The commits that last changed the lines `c` modifies or deletes (one per introducing
    commit and file). Merges and root commits fix nothing here."""
    if len(c.parents) != 1:
        return []
    parent = c.parents[0]
    diff = repo.run(
        "diff", "--no-color", "--no-ext-diff", "-w", "-M", "-U0", "--diff-filter=MRD", parent, c.sha,
        check=False,
    )
    spans: dict[str, list[tuple[int, int]]] = {}
    old = None
    for row in diff.splitlines():
        if row.startswith("diff --git "):
            old = None
        elif row.startswith("--- "):
            old = row[6:] if row.startswith("--- a/") else None
        elif row.startswith("@@") and old is not None and not skipped(old):
            m = HUNK.match(row)
            count = int(m.group(2)) if m and m.group(2) is not None else 1
            if m and count:
                spans.setdefault(old, []).append((int(m.group(1)), count))
    found: dict[tuple[str, str], list[int]] = {}
    for path, ranges in spans.items():
        args = ["blame", "-w", "-M", "--porcelain"]
        for start, count in ranges:
            args += ["-L", f"{start},+{count}"]
        out = repo.run(*args, parent, "--", path, check=False)
        sha, line = None, 0
        for row in out.splitlines():
            header = BLAME_HEADER.match(row)
            if header:
                sha, line = header.group(1), int(header.group(2))
            elif row.startswith("\t") and sha is not None:
                if row[1:].strip():  # a blank line carries no behaviour
                    found.setdefault((sha, path), []).append(line)
                sha = None
    return [Blamed(c.sha, sha, path, _ranges(lines)) for (sha, path), lines in sorted(found.items())]
