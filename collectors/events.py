"""One pushed delivery as canonical rows, the shape every receiver's parser produces (GitHub's
webhooks in collectors/github/webhook.py, the generic `/events` body in collectors/webhooks.py)
and the spool stores, one JSON line each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from warehouse.schema import ENTITIES, Kind


@dataclass
class Event:
    """What one delivery amounts to: rows per entity plus side evidence (incident causes, and
    the hotfix/rollback evidence of the deployments it carries, `evidenced`)."""

    delivery: str
    source: str
    rows: dict[str, list[dict]] = field(default_factory=dict)
    causes: list[dict] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    evidenced: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"delivery": self.delivery, "source": self.source, "rows": self.rows,
             "causes": self.causes, "evidence": self.evidence, "evidenced": self.evidenced},
            default=_json_value, sort_keys=True, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> Event:
        data = json.loads(line)
        rows = {name: [_typed_row(name, r) for r in got] for name, got in data["rows"].items()}
        evidence = [
            {**e, "observed_at": datetime.fromisoformat(e["observed_at"]) if e.get("observed_at") else None}
            for e in data.get("evidence", [])
        ]
        return cls(
            data["delivery"], data["source"], rows, data["causes"], evidence, data.get("evidenced", [])
        )


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _typed_row(entity: str, row: dict) -> dict:
    """Timestamps and dates back from their ISO text."""
    out = dict(row)
    for column in ENTITIES[entity].columns:
        value = out.get(column.name)
        if isinstance(value, str) and column.kind == Kind.TIMESTAMP:
            out[column.name] = datetime.fromisoformat(value)
        elif isinstance(value, str) and column.kind == Kind.DATE:
            out[column.name] = date.fromisoformat(value)
    return out
