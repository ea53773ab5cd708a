"""What a deployment's own texts say (ref, tag, title, the subjects it ships): hotfix and
rollback signals, shared by every git-based source (GitHub, local git)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from collectors.config import DeploymentRules


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Flags:
    hotfix: bool
    rollback: bool


def flags(rules: DeploymentRules, *texts: str | None) -> Flags:
    text = "\n".join(t for t in texts if t)
    return Flags(
        hotfix=re.search(rules.hotfix_pattern, text, re.IGNORECASE | re.MULTILINE) is not None,
        rollback=re.search(rules.rollback_pattern, text, re.IGNORECASE | re.MULTILINE) is not None,
    )


def text_signal(deployment_id: str, rules: DeploymentRules, *texts: str | None) -> dict:
    """A deployment_signals row: what its names and titles say."""
    f = flags(rules, *texts)
    return {"deployment_id": deployment_id, "origin": "text", "hotfix": f.hotfix, "rollback": f.rollback}
