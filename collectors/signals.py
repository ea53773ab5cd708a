"""What a deployment's own texts say (its ref, branch, title, tag): hotfix and rollback
evidence, shared by every git-based source (GitHub, local git). The subjects of the commits a
deployment ships are never read for this: "Add db.rollback()" is not a rollback."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from collectors.config import DeploymentRules


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        # Old histories hold impossible offsets (requests has a commit at +518:00); the clock
        # time is kept and read as UTC rather than failing the whole sync.
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)[+-]\d+:?\d*$", value)
        if m is None:
            raise
        return datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)


@lru_cache(maxsize=65536)
def natural_key(text: str) -> tuple:
    """Numbers compared as numbers: v1.9.0 before v1.10.0 (the SQL natural_key macro's order)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", text)
    )


def is_hotfix(rules: DeploymentRules, text: str | None) -> bool:
    return bool(text) and re.search(rules.hotfix_pattern, text, re.IGNORECASE | re.MULTILINE) is not None


def text_evidence(
    deployment_id: str, source: str, rules: DeploymentRules, *texts: str | None, at: datetime | None = None
) -> list[dict]:
    """deployment_evidence rows (hotfix_ref / rollback_ref) from a deployment's own texts."""
    text = "\n".join(t for t in texts if t)
    rows = []
    if is_hotfix(rules, text):
        rows.append(_row(deployment_id, "hotfix_ref", source, at))
    if re.search(rules.rollback_pattern, text, re.IGNORECASE | re.MULTILINE):
        rows.append(_row(deployment_id, "rollback_ref", source, at))
    return rows


def _row(deployment_id: str, kind: str, source: str, at: datetime | None) -> dict:
    return {
        "deployment_id": deployment_id,
        "kind": kind,
        "source": source,
        "points_at": None,
        "observed_at": at,
    }
