"""Evidence that needs a commit's contents, not only the graph: reverts named by subject only,
and fix-forwards found by blame (SZZ).

Both read diffs, so both need a clone with trees and blobs (a user's working copy for `sync
--git`); they run only on the commits the failure rule can use, so a re-sync of an unchanged
clone reads nothing.

SZZ (Śliwerski, Zimmermann, Zeller 2005, as PyDriller's `get_commits_last_modified_lines`):
for a fixing commit, the lines its diff modifies or deletes are blamed at its parent; the commits
that last changed them introduced what it fixed. Whitespace-only changes and moved lines are
ignored (`-w`, `-M`), blank lines are never blamed, and files that are not code a deployment
runs (docs, tests, changelogs and news fragments, CI other than the workflows that build and
publish a release) are left out. A fix that only adds lines (a
missing guard, a missing step) has no line to blame; as in the add-only SZZ variants, the
lines around each insertion are blamed instead: its diff context, CONTEXT lines either side.

Development requirement files: a `requirements*.txt` (or a file under `requirements/`) pins
what a developer installs (test runners, the docs build) when the package declares what it
installs elsewhere (pyproject.toml's `[project]` or `[tool.poetry]`, setup.cfg, setup.py) and
those files do not read it; only then is it left out, like docs. A service that deploys its
requirements file declares nothing else, so there its lines are blamed like code. A top-level
`scripts/` or `tools/` folder (a coverage threshold, a release helper) is treated the same way,
and the development tools' own configuration (tox.ini, noxfile.py, .coveragerc, ...) never ships.

Reformatted lines: a line whose last change only re-quoted it, changed its case (`\x7F` ->
`\x7f`) or its spacing inside the line is not where its behaviour came from; blame goes on past
that commit (`--ignore-rev`) to the one before, as `-w` does for whitespace.

Release notes: a release's own notes (its changelog section, the lines the changelog gained
since the release before) are the release's description; an entry that names an earlier
release with words of a defect ("regression introduced in 2.1.0", "the previous release
(2.1.0) did not include ...") says that release needed the patch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commit graph calls this module, never the other way
    from collectors.git import Commit, Git

REVERT_SUBJECT = re.compile(r'^Revert "(.+)"(?:\s*\(#\d+\))?\s*$')
CONTEXT = 3  # git diff's default context
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.MULTILINE)
HUNK_BOTH = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")  # its lines in the new file
BLAME_HEADER = re.compile(r"^([0-9a-f]{40}) (\d+) (\d+)(?: \d+)?$")
# Folders and file names that hold no code a deployment runs.
SKIP_DIRS = {"doc", "docs", "test", "tests", "testing", "changes", "changelog.d", "newsfragments", ".github"}
SKIP_NAMES = re.compile(r"^(changes|changelog|history|news|release[-_]?notes|authors)\b|^test_|_test\.", re.I)


# A workflow that builds and publishes what a release deploys (its wheels, executables) is
# part of the deployment: a defect there ships a broken artefact, unlike a test workflow's.
RELEASE_WORKFLOW = re.compile(r"publish|release|deploy|upload|pypi|wheel", re.I)


def skipped(path: str) -> bool:
    p = PurePosixPath(path)
    if p.parts[:2] == (".github", "workflows") and RELEASE_WORKFLOW.search(p.name):
        return False
    return any(part.lower() in SKIP_DIRS for part in p.parts[:-1]) or bool(SKIP_NAMES.search(p.name))


# A requirements file (pip's `-r` files, pip-tools' `.in` sources), or any file of a
# `requirements/` folder.
REQUIREMENTS = re.compile(r"requirements?\b[\w.-]*\.(txt|in)$", re.I)
# The files that declare a Python package's own dependencies; pyproject.toml only with a
# package table.
PACKAGE_TABLE = re.compile(r"^\[(project|tool\.poetry)\]\s*$", re.MULTILINE)


def requirements_file(path: str) -> bool:
    p = PurePosixPath(path)
    return "requirements" in (part.lower() for part in p.parts[:-1]) or bool(REQUIREMENTS.search(p.name))


# A developer's scripts (a coverage threshold, a lint or release helper): a top-level `scripts/`
# or `tools/` folder. Like a requirements file, they are development files of a package whose
# metadata does not name them (setup.py's `scripts=[...]` ships them).
DEV_SCRIPT_DIRS = {"scripts", "tools"}
# Configuration of the development tools only, never installed nor deployed.
DEV_CONFIG = {
    "tox.ini", "noxfile.py", ".coveragerc", ".pre-commit-config.yaml", "codecov.yml", ".codecov.yml",
}


def development_file(path: str) -> bool:
    """A file a package's metadata decides about: a requirements file or a developer's script."""
    p = PurePosixPath(path)
    return requirements_file(path) or (len(p.parts) > 1 and p.parts[0].lower() in DEV_SCRIPT_DIRS)


def package_metadata(repo: Git, rev: str) -> str | None:
    """What of the files that declare the package's own dependencies at `rev` could read a
    requirements file: setup.py and setup.cfg whole, and pyproject.toml's lines that name files
    (`dependencies = {file = ["requirements.txt"]}`), when it has a `[project]` or
    `[tool.poetry]` table. None when there is no such file (an application, whose requirements
    file is what it deploys)."""
    texts = []
    for name in ("pyproject.toml", "setup.cfg", "setup.py"):
        text = repo.run("show", f"{rev}:{name}", check=False)
        if not text:
            continue
        if name == "pyproject.toml":
            if not PACKAGE_TABLE.search(text):
                continue
            text = "\n".join(line for line in text.splitlines() if re.search(r"\bfiles?\b", line))
        texts.append(text)
    return "\n".join(texts) if texts else None


class Shipped:
    """Which files of a revision are part of what a deployment runs: not docs, tests,
    changelogs, CI other than release workflows (`skipped`), the development tools'
    configuration (`DEV_CONFIG`), nor development requirement files and scripts (the package
    declares its dependencies elsewhere and does not read them). The package's metadata is
    read once, and only when a requirements file or a script is asked about."""

    def __init__(self, repo: Git, rev: str) -> None:
        self.repo, self.rev = repo, rev
        self._metadata: str | None | bool = False

    def __call__(self, path: str) -> bool:
        if skipped(path) or path in DEV_CONFIG:
            return False
        if not development_file(path):
            return True
        if self._metadata is False:
            self._metadata = package_metadata(self.repo, self.rev)
        metadata = self._metadata
        return metadata is None or names_file(metadata, path)


def names_file(text: str, path: str) -> bool:
    """Whether `text` names the file `path` as a whole path (optionally `./`-prefixed): not
    `docs/requirements.txt` for `requirements.txt`, nor `scripts/foobar` for `scripts/foo`."""
    return re.search(rf"(?:^|[^\w./-])(?:\./)?{re.escape(path)}(?![\w./-])", text) is not None


def changes_shipped_files(repo: Git, c: Commit) -> bool:
    """Whether `c`'s diff touches a file a deployment runs (False: docs, tests, CI or
    development requirements only). A commit with no parent, or whose files cannot be listed,
    counts as touching them."""
    if not c.parents:
        return True
    out = repo.run("diff", "--name-only", "--no-renames", c.parents[0], c.sha, check=False)
    paths = [line for line in out.splitlines() if line.strip()]
    if not paths:
        return True
    runs = Shipped(repo, c.parents[0])
    return any(runs(path) for path in paths)


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
    around: bool = False  # an add-only fix: the lines around its insertions


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
    commit and file); for a commit that only adds lines, the lines around its insertions
    (CONTEXT either side). Merges and root commits fix nothing here."""
    if len(c.parents) != 1:
        return []
    parent = c.parents[0]
    diff = repo.run(
        "diff", "--no-color", "--no-ext-diff", "-w", "-M", "-U0", "--diff-filter=MRD", parent, c.sha,
        check=False,
    )
    spans: dict[str, list[tuple[int, int]]] = {}
    inserted: dict[str, list[tuple[int, int]]] = {}
    runs = Shipped(repo, parent)
    old = None
    for row in diff.splitlines():
        if row.startswith("diff --git "):
            old = None
        elif row.startswith("--- "):
            old = row[6:] if row.startswith("--- a/") else None
        elif row.startswith("@@") and old is not None and runs(old):
            m = HUNK.match(row)
            if m is None:
                continue
            count = int(m.group(2)) if m.group(2) is not None else 1
            if count:
                spans.setdefault(old, []).append((int(m.group(1)), count))
            else:  # lines added after old line N: its context is N-2..N+3
                after = int(m.group(1))
                start = max(1, after - CONTEXT + 1)
                inserted.setdefault(old, []).append((start, after + CONTEXT - start + 1))
    around = not spans
    return _blame(repo, c.sha, parent, inserted if around else spans, around)


def _blame(repo: Git, fixing: str, parent: str, spans: dict[str, list[tuple[int, int]]],
           around: bool) -> list[Blamed]:
    found: dict[tuple[str, str], list[int]] = {}
    for path, ranges in spans.items():
        lines = _blame_lines(repo, parent, path, ranges)
        ignored: list[str] = []
        for _ in range(REFORMAT_DEPTH):  # go on past commits that only reformatted a line
            # Lines, not commits: a commit that reformatted one line and really changed
            # another keeps the blame for the one it changed.
            redo = {n for n, (sha, orig, where, text) in lines.items()
                    if sha not in ignored and _reformatted(repo, sha, where, orig, text)}
            if not redo:
                break
            ignored += sorted({lines[n][0] for n in redo})
            again = _blame_lines(repo, parent, path, ranges, ignored)
            lines = {n: again.get(n, row) if n in redo else row for n, row in lines.items()}
        for n, (sha, _orig, _where, _text) in lines.items():
            found.setdefault((sha, path), []).append(n)
    return [Blamed(fixing, sha, path, _ranges(lines), around) for (sha, path), lines in sorted(found.items())]


REFORMAT_DEPTH = 3


def _blame_lines(repo: Git, rev: str, path: str, ranges: list[tuple[int, int]],
                 ignore: list[str] = ()) -> dict[int, tuple[str, int, str, str]]:
    """Line number at `rev` -> (commit that last changed it, its line number there, its path
    there, text), for the non-blank lines of `ranges`."""
    args = ["blame", "-w", "-M", "--porcelain"]
    for sha in ignore:
        args += ["--ignore-rev", sha]
    for start, count in ranges:
        args += ["-L", f"{start},+{count}"]
    out = repo.run(*args, rev, "--", path, check=False)
    rows: dict[int, tuple[str, int, str, str]] = {}
    names: dict[str, str] = {}
    sha, orig, line = None, 0, 0
    for row in out.splitlines():
        header = BLAME_HEADER.match(row)
        if header:
            sha, orig, line = header.group(1), int(header.group(2)), int(header.group(3))
        elif row.startswith("filename ") and sha is not None:
            names[sha] = row[len("filename "):]
        elif row.startswith("\t") and sha is not None:
            if row[1:].strip():  # a blank line carries no behaviour
                rows[line] = (sha, orig, names.get(sha, path), row[1:])
            sha = None
    return rows


def _cosmetic(text: str) -> str:
    """A line with its quotes, case and spacing made uniform."""
    return re.sub(r"\s+", "", text).replace("'", '"').lower()


def _reformatted(repo: Git, sha: str, path: str, line: int, text: str) -> bool:
    """Whether commit `sha` wrote its line `line` of `path` (`text`) only by reformatting a
    line it removed in the same hunk: the same but for quotes, case or spacing."""
    diff = _diff_of(repo, sha, path)
    removed: list[str] = []
    start = count = 0
    for row in diff.splitlines():
        m = HUNK_BOTH.match(row)
        if m:
            if start <= line < start + count:
                break
            removed = []
            start, count = int(m.group(1)), int(m.group(2)) if m.group(2) is not None else 1
        elif row.startswith("-") and not row.startswith("---"):
            removed.append(row[1:])
    else:
        if not start <= line < start + count:
            return False
    want = _cosmetic(text)
    return any(_cosmetic(r) == want for r in removed) and text not in removed


# commit, path -> the -U0 diff the commit made to the path (a commit's diff is the same in any
# clone holding it).
_DIFFS: dict[tuple[str, str], str] = {}


def _diff_of(repo: Git, sha: str, path: str) -> str:
    """The diff commit `sha` made to `path`, asked of git once (every blamed line of a fix
    asks for it)."""
    key = (sha, path)
    if key not in _DIFFS:
        if len(_DIFFS) > 4096:
            _DIFFS.clear()
        _DIFFS[key] = repo.run("diff", "--no-color", "--no-ext-diff", "-U0", f"{sha}^", sha, "--", path,
                               check=False)
    return _DIFFS[key]


# The files that hold a project's release notes, at any depth (git pathspecs).
CHANGELOGS = tuple(
    f":(glob,icase)**/{name}" for name in ("CHANGES*", "CHANGELOG*", "HISTORY*", "NEWS*", "RELEASE*NOTES*")
)
# A version named in a note ("2.1.0", "v23.9.0", "24.4.1."), not a part of a longer one.
NOTE_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)(?!\.?\d)")
# Words that say a release shipped a defect (not only that something changed).
NOTE_DEFECT = re.compile(
    r"\b(regressions?|regressed|introduced in|accidental(ly)?|by mistake|mistakenly|broke|broken"
    r"|did not include|didn't include|previous (release|version))\b",
    re.IGNORECASE,
)
ENTRY_START = re.compile(r"^\s*(?:[-*+]|\d+\.|#+)\s")


def note_entries(repo: Git, before: str, sha: str) -> list[str]:
    """The entries (bullets and paragraphs, joined to one line each) that the release notes
    gained from `before` to `sha`: the new release's own section."""
    diff = repo.run("diff", "--no-color", "--no-ext-diff", "-U0", before, sha, "--", *CHANGELOGS, check=False)
    entries: list[list[str]] = []
    current: list[str] | None = None
    for row in diff.splitlines():
        if not row.startswith("+") or row.startswith("+++"):
            current = None  # a hunk boundary or a removed line ends an entry
            continue
        text = row[1:]
        if not text.strip() or set(text.strip()) <= set("-=~^"):
            current = None
        elif current is None or ENTRY_START.match(text):
            current = [text.strip()]
            entries.append(current)
        else:
            current.append(text.strip())
    return [" ".join(e) for e in entries]


def defects_named(entries: list[str], versions: dict[str, str]) -> list[tuple[str, str]]:
    """(deployment, entry) for each entry that names the version of one of `versions`
    (version -> deployment) with words of a defect."""
    found = []
    for entry in entries:
        if not NOTE_DEFECT.search(entry):
            continue
        for v in dict.fromkeys(m.group(1) for m in NOTE_VERSION.finditer(entry)):
            if v in versions:
                found.append((versions[v], entry))
    return found


# The words that say a change fixes: the failure rule's FIX_SUBJECT (collectors/git.py,
# warehouse/sql/01_prod_deployments.sql) is built from them, and so is FIX_ENTRY.
FIX_WORDS = (r"fix(es|ed|ing)?|bug ?fix(es)?|regression|hotfix|restor(e|es|ed|ing)|reintroduc(e|es|ed|ing)"
             r"|revert(s|ed)?")
# Those words at the start of a changelog entry: "Fix `striptags` not collapsing spaces",
# "- Restore the deprecated import".
FIX_ENTRY = re.compile(rf"^(?:[-*+]|\d+\.)?\s*(?:\*\*)?({FIX_WORDS})\b", re.IGNORECASE)
# A section heading that says its entries are fixes ("#### Fixed", "Bug fixes", "**Bugfixes**:").
FIX_HEADING = re.compile(r"^(fixed|fixes|bug ?fix(es)?|bugs fixed|fixed bugs)$", re.IGNORECASE)
MD_HEADING = re.compile(r"^#+\s+(.*?)\s*#*$")
UNDERLINE = re.compile(r"^([-=~^*+#])\1{2,}$")
# A number a changelog entry names: `#2409`, :issue:`417`, :pr:`12`, .../pull/2703.
ENTRY_NUMBER = re.compile(r"#(\d+)\b|:(?:issue|pr|gh):`(\d+)`|/(?:pull|issues)/(\d+)\b")
# A number a commit names as its own: `(#2409)` at the end of its subject, or an issue it fixes.
SUBJECT_NUMBER = re.compile(r"\(#(\d+)\)\s*$")
BODY_FIXES = re.compile(r"\b(?:fix(?:e[sd])?|close[sd]?|resolve[sd]?):?\s+#(\d+)\b", re.IGNORECASE)


def _heading(lines: list[str], i: int) -> str | None:
    """The heading text line `i` of a changelog is, or None: a Markdown `#` heading, a reST
    title (the line an underline follows), a line that is only bold text or ends in a colon."""
    text = lines[i].strip()
    if m := MD_HEADING.match(text):
        return m.group(1)
    if i + 1 < len(lines) and text and UNDERLINE.match(lines[i + 1].strip()) and not UNDERLINE.match(text):
        return text
    if re.fullmatch(r"\*\*[^*]+\*\*:?|[A-Za-z][\w ]{0,30}:", text):
        return text.strip("*: ")
    return None


def _entries(text: str) -> list[tuple[str | None, int, int, str]]:
    """The entries (bullets and paragraphs) of a changelog with the heading each stands under:
    (heading, first line, last line (1-based), text joined to one line)."""
    lines = text.splitlines()
    found: list[tuple[str | None, int, int, str]] = []
    heading, current, start = None, None, 0

    def close(end: int) -> None:
        if current:
            found.append((heading, start, end, " ".join(current)))

    for i, line in enumerate(lines):
        stripped = line.strip()
        title = _heading(lines, i)
        if title is not None or not stripped or UNDERLINE.match(stripped):
            close(i)
            current = None
            if title is not None:
                heading = title
            continue
        if current is None or ENTRY_START.match(line):
            close(i)
            current, start = [stripped], i + 1
        else:
            current.append(stripped)
    close(len(lines))
    return found


def fix_entries(repo: Git, before: str, sha: str) -> list[str]:
    """The entries the release notes gained from `before` to `sha` that say they fix: an entry
    that begins with a fix word (FIX_ENTRY), or any entry of a section headed "Fixed", "Fixes",
    "Bug fixes" (FIX_HEADING). The heading is read from the notes as they are at `sha`, so an
    entry added under an existing heading has it."""
    names = repo.run("diff", "--name-only", "--no-renames", before, sha, "--", *CHANGELOGS, check=False)
    found: list[str] = []
    for path in (p for p in names.splitlines() if p.strip()):
        diff = repo.run("diff", "--no-color", "--no-ext-diff", "-U0", "--no-renames", before, sha, "--", path,
                        check=False)
        added: set[int] = set()
        for m in re.finditer(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", diff, re.MULTILINE):
            first, count = int(m.group(1)), int(m.group(2)) if m.group(2) is not None else 1
            added.update(range(first, first + count))
        if not added:
            continue
        text = repo.run("show", f"{sha}:{path}", check=False)
        for heading, first, last, entry in _entries(text):
            if not added & set(range(first, last + 1)):
                continue
            if FIX_ENTRY.match(entry) or (heading is not None and FIX_HEADING.match(heading.strip())):
                found.append(entry)
    return found


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def fixes_by_notes(repo: Git, before: str, sha: str, commits: list[Commit], version: str) -> dict[str, str]:
    """The commits of a release (`before`..`sha`) that a fix entry of its notes (`fix_entries`)
    describes, with that entry: the commit that added the entry to the notes itself, one whose
    subject the entry contains (at least three words), or one whose own number (`(#2409)` ending
    its subject, an issue its message fixes) the entry names. Merges, and a commit whose subject
    names the release's own version (`Version 0.35.1`, `release version 2.1.5`: its bookkeeping),
    are never described."""
    entries = fix_entries(repo, before, sha)
    if not entries:
        return {}
    own = re.compile(rf"(?<![\w.])v?{re.escape(version)}(?![\w.]?\d)")
    candidates = [c for c in commits if len(c.parents) == 1 and not own.search(c.subject)]
    if not candidates:
        return {}
    # What each commit added to the release notes, from one `git log`.
    log = repo.run("log", "--no-merges", "--format=%x00%H", "-U0", "--no-color", "--no-ext-diff",
                   "--no-renames", f"{before}..{sha}", "--", *CHANGELOGS, check=False)
    wrote: dict[str, list[str]] = {}
    current: list[str] | None = None
    for row in log.splitlines():
        if row.startswith("\x00"):
            current = wrote.setdefault(row[1:].strip(), [])
        elif current is not None and row.startswith("+") and not row.startswith("+++"):
            if len(row[1:].strip()) >= 12:
                current.append(row[1:].strip())
    numbered = [(e, {a or b or c for a, b, c in ENTRY_NUMBER.findall(e)}, _words(e)) for e in entries]
    found: dict[str, str] = {}
    for c in candidates:
        numbers = {m.group(1) for m in SUBJECT_NUMBER.finditer(c.subject)}
        numbers |= {m.group(1) for m in BODY_FIXES.finditer(c.body)}
        subject = _words(SUBJECT_NUMBER.sub("", c.subject))
        for entry, named, words in numbered:
            if (
                numbers & named
                or (len(subject.split()) >= 3 and f" {subject} " in f" {words} ")
                or any(line in entry for line in wrote.get(c.sha, []))
            ):
                found[c.sha] = entry
                break
    return found
