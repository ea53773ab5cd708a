"""The tool's failure calls on real release histories, for judging by hand (docs/metrics.md,
"Measured on real release histories").

For each clone given (a `git clone` of a public repository with `origin` set to its GitHub
URL), runs `dora-impact sync --git CLONE --since SINCE` into a new database and prints every
release that another release follows within the failure window, or that the tool calls failed
or that evidence points at: the release, the call, and the evidence (fix-forward: the fixing
release and subject; revert: the reverted commit; release note: the fixing release and its
entry).

Run: `.venv/bin/python bench/real_releases.py /tmp/click /tmp/black ... [--since 2022-01-01]`
(`--synced FOLDER` reads databases a `sync --git` already wrote, FOLDER/<clone name>.duckdb).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from warehouse import Warehouse
from warehouse.metrics import prepare

EVIDENCE = """
SELECT split_part(c.deployment_id, ':tag:', 2), split_part(e.deployment_id, ':tag:', 2), e.kind,
       coalesce(json_extract_string(e.detail, '$.subject'), ''), substr(e.points_at, 1, 8)
FROM deployment_evidence e JOIN changes c ON starts_with(c.sha, e.points_at)
WHERE e.kind IN ('fix_forward', 'revert_of')
UNION ALL
SELECT split_part(e.points_at, ':tag:', 2), split_part(e.deployment_id, ':tag:', 2), e.kind,
       json_extract_string(e.detail, '$.note'), ''
FROM deployment_evidence e WHERE e.kind = 'release_note'
"""


def report(clone: Path, since: str, folder: Path, synced: bool = False) -> None:
    db = folder / f"{clone.name}.duckdb"
    if not synced:
        done = subprocess.run(
            [sys.executable, "-m", "dora_impact", "--db", str(db), "sync", "--git", str(clone),
             "--since", since],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"{clone}: sync exited {done.returncode}: {done.stderr.strip()}")
            return
    with Warehouse(db, read_only=True) as wh:
        prepare(wh)
        window = timedelta(hours=wh.scalar("SELECT getvariable('failure_window_hours')"))
        rows = wh.con.execute(
            "SELECT split_part(deployment_id, ':tag:', 2), finished_at, failed FROM prod_deployments "
            "ORDER BY finished_at, natural_key(deployment_id)"
        ).fetchall()
        why = wh.con.execute(EVIDENCE).fetchall()
    called = sum(f for _, _, f in rows)
    print(f"== {clone.name}: {len(rows)} releases, {called} called failed")
    for i, (tag, at, failed) in enumerate(rows):
        following = [t for t, later, _ in rows[i + 1 :] if later - at <= window]
        evidence = sorted({(fixer, kind, subject[:70], sha) for blamed, fixer, kind, subject, sha in why
                           if blamed == tag})
        if following or failed or evidence:
            said = "; ".join(f"{k} {sha} by {fixer}: {subject}" for fixer, k, subject, sha in evidence)
            call = "failed" if failed else "-"
            print(f"{tag} | {call} | followed by {', '.join(following) or '-'} | {said}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clones", nargs="+", type=Path)
    parser.add_argument("--since", default="2022-01-01")
    parser.add_argument("--synced", type=Path, help="read FOLDER/<clone>.duckdb, already synced, instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for clone in args.clones:
            report(clone, args.since, args.synced or Path(folder), synced=args.synced is not None)


if __name__ == "__main__":
    main()
