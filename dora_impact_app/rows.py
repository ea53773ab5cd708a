"""Rows (lists of dicts) as JSON, the way every `--format json` and the report's embedded rows
spell them: dates in ISO 8601, NaN as null."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime


def jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN has no JSON spelling
        return None
    return value


def to_json(rows: Sequence[dict]) -> str:
    return json.dumps([{k: jsonable(v) for k, v in row.items()} for row in rows], indent=2)
