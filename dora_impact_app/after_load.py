"""The one step every writer runs after it loads: import, each source's sync, a shard worker,
each webhook batch, the demo. In order:

1. team ownership: the config's `[repos]` / `[teams]` written for every repository the
   warehouse knows, whichever source brought it (collectors/teams.py);
2. attribution: the named cause of every incident resolved again (warehouse/attribution.py),
   since evidence arrives in any order;
3. the precomputed tables brought up to date with what the loads queued
   (warehouse/precompute.py), so a reader sees the new rows at once;
4. the initiatives' analysis plans recorded with the date each was first seen
   (warehouse/impact/plans.py), so a plan changed later is known as a departure.

Running it when nothing was loaded costs a few queries and changes nothing; running it after
an edit of `[teams]` moves the repositories to their new owners.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from collectors.teams import own_repositories
from dora_impact_app.config import Config
from warehouse import attribution
from warehouse.db import LoadCounts, Warehouse
from warehouse.impact.plans import record_current
from warehouse.metrics import prepare
from warehouse.precompute import refresh


@dataclass
class AfterLoad:
    teams: LoadCounts = field(default_factory=LoadCounts)  # teams rows the config wrote
    named_causes: int = 0  # incidents a named cause attributes
    # named / window / unattributed, when asked for (it costs a metric computation).
    incidents: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)

    def incident_line(self) -> str | None:
        return attribution.incident_summary(self.incidents) if self.incidents is not None else None


def after_load(wh: Warehouse, config: Config, *, count_incidents: bool = False) -> AfterLoad:
    """Ownership, attribution, refresh (module docstring). A failed refresh leaves the
    precomputed tables stale, which readers detect and compute around (same numbers, slower):
    it is a warning, never a failure of the load that committed."""
    done = AfterLoad()
    done.teams = own_repositories(wh, config)
    done.named_causes = attribution.attribute(wh, config.metrics.production_environment)
    if wh.precomputes:
        try:
            refresh(wh, config.metrics)
        except duckdb.Error as exc:
            done.warnings.append(f"precomputed tables not refreshed: {exc}")
    # Every store records the plans, a lake's writers too (they precompute nothing: maintain does).
    record_current(wh, config.initiatives)
    if count_incidents:
        prepare(wh, config.metrics)
        done.incidents = attribution.incident_counts(wh)
    return done
