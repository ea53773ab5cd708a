"""Initiative impact: did a platform initiative make delivery faster and safer, or not?

`run(wh, config, name, window_weeks)` reads the warehouse, builds the weekly team panel with
the SQL in warehouse/sql/impact_*.sql and returns, per initiative, every estimate (judged,
one primary per group and metric), the adoption curve and a plain-language summary. The
method is explained in docs/impact-method.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.db import Warehouse
from warehouse.impact import adoption as adoption_mod
from warehouse.impact.analysis import (
    DEFAULT_RESAMPLES,
    DEFAULT_WINDOW_WEEKS,
    ORG,
    ROW_KEYS,
    TREATED,
    InitiativeImpact,
    analyse,
)
from warehouse.impact.config import ImpactSettings
from warehouse.impact.initiatives import Initiative, resolve
from warehouse.impact.panel import load_panel
from warehouse.impact.summary import stage_breakdown, summarise

__all__ = [
    "DEFAULT_WINDOW_WEEKS",
    "ORG",
    "ROW_KEYS",
    "TREATED",
    "ImpactResult",
    "UnknownInitiative",
    "run",
    "stage_breakdown",
]


class UnknownInitiative(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none are defined"
        super().__init__(f"unknown initiative {name!r} (known: {listed})")


@dataclass
class ImpactResult:
    impact: InitiativeImpact
    adoption: adoption_mod.Adoption
    summary: list[str]

    @property
    def initiative(self) -> Initiative:
        return self.impact.initiative

    def rows(self) -> list[dict]:
        return self.impact.rows()


def run(
    wh: Warehouse,
    config: ImpactSettings,
    name: str | None = None,
    window_weeks: int = DEFAULT_WINDOW_WEEKS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 20240601,
) -> list[ImpactResult]:
    initiatives = resolve(wh, config)
    chosen = initiatives
    if name is not None:
        chosen = [i for i in initiatives if i.name == name]
        if not chosen:
            raise UnknownInitiative(name, [i.name for i in initiatives])
    if not chosen:
        return []
    panel = load_panel(wh, config.metrics)
    results = []
    for initiative in chosen:
        curve = adoption_mod.measure(wh, initiative, panel.teams)
        impact = analyse(
            panel,
            initiative,
            initiatives,
            window_weeks,
            resamples,
            seed,
            subgroups=adoption_mod.levels(curve),
        )
        results.append(ImpactResult(impact, curve, summarise(impact, curve)))
    return results
