"""Initiative impact: did a platform initiative make delivery faster and safer, or not?

`run(wh, config, name, window_weeks)` reads the warehouse, builds the weekly team panel with
the SQL in warehouse/sql/impact_*.sql and returns, per initiative, every estimate (judged,
one primary per group and metric), the adoption curve and a plain-language summary. The
method is explained in docs/impact-method.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from warehouse.db import Warehouse
from warehouse.impact import adoption as adoption_mod
from warehouse.impact import event_study as event_study_mod
from warehouse.impact import plans
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
from warehouse.impact.measures import BY_NAME, DORA_MEASURES, FACTORS
from warehouse.impact.panel import load_panel
from warehouse.impact.summary import stage_breakdown, summarise

__all__ = [
    "DEFAULT_WINDOW_WEEKS",
    "ORG",
    "ROW_KEYS",
    "DORA_MEASURES",
    "TREATED",
    "ImpactResult",
    "UnknownInitiative",
    "event_study",
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
    plan: plans.Registered | None = None

    @property
    def initiative(self) -> Initiative:
        return self.impact.initiative

    def rows(self) -> list[dict]:
        return self.impact.rows()


def run(
    wh: Warehouse,
    config: ImpactSettings,
    name: str | None = None,
    window_weeks: int | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 20240601,
    primary_metric: str | None = None,
) -> list[ImpactResult]:
    """window_weeks, primary_metric: None for each initiative's registered plan; another value
    makes the analysis exploratory (estimates and intervals, no verdict word)."""
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
        registered = plans.registered(wh, initiative)
        used = {
            **plans.plan_of(initiative),
            "window_weeks": window_weeks or initiative.window,
            "primary_metric": primary_metric or initiative.primary,
        }
        departs = plans.departures(registered.plan, used)
        impact = analyse(
            panel,
            initiative,
            initiatives,
            used["window_weeks"],
            resamples,
            seed,
            subgroups=adoption_mod.levels(curve),
            primary_metric=used["primary_metric"],
            exploratory=("departs from the registered plan: " + "; ".join(departs)) if departs else None,
        )
        results.append(ImpactResult(impact, curve, summarise(impact, curve, registered), registered))
    return results


def event_study(results: list[ImpactResult], metrics: tuple[str, ...] = DORA_MEASURES) -> pl.DataFrame:
    """Week-by-week effects of each initiative on its adopting teams, before and after
    adoption, with 95% intervals: columns initiative, metric, relative_week, period, estimate,
    ci_low, ci_high (relative changes). Empty for org-wide initiatives (no comparison teams).
    Factors use the weights of their primary estimate."""
    frames = [pl.DataFrame(schema=event_study_mod.FRAME_SCHEMA)]
    for result in results:
        impact = result.impact
        if impact.panel is None or result.initiative.org_wide or not impact.design.cohorts:
            continue
        measures = [BY_NAME[m] for m in metrics if m in BY_NAME]
        weights = {}
        for f in FACTORS:
            j = impact.primary(TREATED, f.name)
            if f.name in metrics and j is not None and j.est.method == "did":
                weights[f.name] = {n: f.signs[n] * w for n, w in j.est.extra["weights"].items()}
                measures += [BY_NAME[n] for n in weights[f.name] if BY_NAME[n] not in measures]
        shown = event_study_mod.frame(
            result.initiative.name,
            impact.panel,
            impact.design,
            result.initiative.ramp_weeks,
            measures,
            weights,
        )
        frames.append(shown.filter(pl.col("metric").is_in(list(metrics))))
    return pl.concat(frames)
