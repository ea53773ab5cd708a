"""The synthetic demo organisation: two years of a realistic org with known platform effects.

`generate_org` returns canonical frames (warehouse/schema.py) for teams, deployments,
changes, pull_requests, reviews, incidents and initiatives; `load_demo` loads them through
`Warehouse.load(..., source="demo")`, the upsert path every import uses.

Three ideas, one module each:
- org.py: the org's shape (teams, repositories, cadence, people);
- effects.py: the effect model (who adopts which initiative when, and by how much it turns
  the generating knobs), with the history's window;
- history.py: the row generation, drawing from draws.py, random numbers keyed by the row they
  are for, so that the same (seed, weeks) gives the same history relative to its end week
  whatever the date it ends on.

The three initiatives and what they do are in INJECTED_EFFECTS (docs/demo-org.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

import polars as pl

from collectors.synthetic.effects import INJECTED_EFFECTS, default_end, fitting, injected_effects, window
from collectors.synthetic.history import History
from collectors.synthetic.org import OWNER, PEOPLE, TEAM_REPOS, people_teams

if TYPE_CHECKING:
    from warehouse.db import LoadCounts, Warehouse

# The demo's seed: one draw whose story (docs/demo-org.md) reads the same at every end date.
DEFAULT_SEED = 4

__all__ = [
    "DEFAULT_SEED", "INJECTED_EFFECTS", "OWNER", "PEOPLE", "TEAM_REPOS", "default_end", "generate_org",
    "injected_effects", "load_demo", "people_teams", "window",
]


def load_demo(
    wh: Warehouse, seed: int = DEFAULT_SEED, end: date | None = None, weeks: int = 104,
    transform: Callable[[dict[str, pl.DataFrame]], dict[str, pl.DataFrame]] | None = None,
) -> dict[str, LoadCounts]:
    """Generate the demo org and upsert it in one transaction, as any import would; then
    record that the data is complete up to the end of the history (a quiet last Sunday is no
    gap in the data). `transform` may change the frames first (`demo --regression`)."""
    frames = generate_org(seed, end, weeks)
    counts = wh.load(transform(frames) if transform else frames, source="demo")
    _, stop = window(end, weeks)
    wh.mark_covered("demo", datetime.combine(stop, time(0), tzinfo=UTC))
    return counts


def generate_org(
    seed: int = DEFAULT_SEED, end: date | None = None, weeks: int = 104
) -> dict[str, pl.DataFrame]:
    """The demo org's canonical frames, deterministic for a given (seed, end, weeks)."""
    return History(seed, end, weeks, fitting(INJECTED_EFFECTS, weeks)).frames()
