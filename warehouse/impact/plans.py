"""The analysis plan registered with each initiative, and the date the tool first saw it.

A plan is what the analysis is fixed to before the data is read: the primary metric, the
window, the ramp, the cohorts (and the equivalence margin, when one is declared). Every plan an
initiative has had is stored once, with when it was first seen (`initiative_plans`); the
earliest is the registered one. An analysis that departs from it - another window or ramp, a
primary metric or cohorts changed afterwards, a subgroup - is exploratory: its rows show
estimates and intervals but no verdict word (docs/impact-method.md).

Plans are recorded by every load (the shell's after-load step), never by the read-only
commands; a warehouse that has recorded none takes the current plan as registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from warehouse.db import Warehouse
from warehouse.impact.config import InitiativeConfig
from warehouse.impact.initiatives import Initiative, from_config, from_table


@dataclass(frozen=True)
class Registered:
    plan: dict  # the registered (earliest) plan
    first_seen: datetime | None  # None: never recorded (the current plan stands in)
    current_first_seen: datetime | None = None  # when the plan in force now was first seen


def plan_of(initiative: Initiative) -> dict:
    return {
        "primary_metric": initiative.primary,
        "window_weeks": initiative.window,
        "ramp_weeks": initiative.ramp_weeks,
        "cohorts": [[c.started_on.isoformat(), sorted(c.teams)] for c in initiative.cohorts],
        "equivalence_margin": initiative.equivalence_margin,
    }


def text(plan: dict) -> str:
    return json.dumps(plan, sort_keys=True, separators=(",", ":"))


def record(wh: Warehouse, initiatives: list[Initiative], now: datetime) -> int:
    """Store each initiative's current plan unless already stored; returns how many were new."""
    rows = [(i.name, text(plan_of(i))) for i in initiatives]
    if not rows:
        return 0

    def insert() -> int:
        with wh.transaction():
            before = wh.con.execute("SELECT count(*) FROM initiative_plans").fetchone()[0]
            wh.con.executemany(
                "INSERT INTO initiative_plans SELECT ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM initiative_plans WHERE name = ? AND plan = ?)",
                [(name, plan, now, name, plan) for name, plan in rows],
            )
            return wh.con.execute("SELECT count(*) FROM initiative_plans").fetchone()[0] - before

    return wh.retried(insert, "recording the initiatives' plans")


def record_current(
    wh: Warehouse, configured: list[InitiativeConfig] | tuple = (), now: datetime | None = None
) -> int:
    """Store the plans in force now: the stored initiatives', the config's over them (the
    after-load step of every writer runs this, so a plan is seen as soon as it is loaded)."""
    merged = {i.name: i for i in from_table(wh)}
    merged.update({item.name: from_config(item) for item in configured})
    return record(wh, list(merged.values()), now or datetime.now(UTC))


def registered(wh: Warehouse | None, initiative: Initiative) -> Registered:
    current = plan_of(initiative)
    if wh is None:
        return Registered(current, None)
    try:
        found = wh.con.execute(
            "SELECT plan, first_seen FROM initiative_plans WHERE name = ? ORDER BY first_seen, plan",
            [initiative.name],
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse from before plans were stored: none registered
        return Registered(current, None)
    if not found:
        return Registered(current, None)
    seen = {plan: when for plan, when in found}
    return Registered(json.loads(found[0][0]), found[0][1], seen.get(text(current)))


def departures(registered: dict, used: dict) -> list[str]:
    """What the analysis run (`used`, a plan) changes from the registered plan, in words."""
    words = {
        "primary_metric": "primary metric",
        "window_weeks": "window",
        "ramp_weeks": "ramp",
        "cohorts": "cohorts",
        "equivalence_margin": "equivalence margin",
    }
    out = []
    for key, word in words.items():
        if registered.get(key) != used.get(key):
            out.append(f"{word} {_show(used.get(key))} (registered: {_show(registered.get(key))})")
    return out


def _show(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(f"{', '.join(teams) or 'all teams'} from {day}" for day, teams in value)
    return "none" if value is None else str(value)
