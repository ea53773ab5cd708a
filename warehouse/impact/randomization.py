"""Randomization inference over which teams adopted (Fisher's exact test, by permutation).

The jackknife-t p-value of a difference-in-differences rests on the spread between teams and
a Student t reference; with 10 adopting teams of 30 it was somewhat optimistic (3-11% of null
rows below 0.05 per metric in the calibration). Randomization inference asks instead: had the
initiative reached another set of teams of the same sizes, how often would the estimate be as
far from zero? Under the sharp null (the initiative changed nothing for any team) and
exchangeable adoption, that share is an exact p-value, whatever the distribution of the data,
the number of teams or the correlation of a team's weeks.

Re-drawing: the adoption labels (which cohort a team is in, or none) are permuted among the
teams that entered the estimate, keeping every cohort's size, so in a staggered design the
teams are re-dealt to the cohort dates. Each draw recomputes the very estimator of did.py
(did.effects, vectorised over draws), with the comparison teams that the draw implies: a team
is a comparison in a week when, in that draw, it has not adopted yet. When the distinct
assignments are no more than the draws asked for (4 against 4 teams: 70), all of them are
enumerated and the p-value is exact; otherwise `draws` random ones are taken and
p = (1 + extreme) / (1 + draws). The same draws serve every metric of a design, so a factor's
re-drawn estimates are the same combination of its metrics'.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from warehouse.impact.design import NEVER, Design
from warehouse.impact.did import effects, partition, usable
from warehouse.impact.estimate import Reference
from warehouse.impact.measures import Measure
from warehouse.impact.panel import Panel

NONE = -1  # label of a team outside every cohort


@dataclass
class Assignments:
    labels: np.ndarray  # (draws, teams) cohort index per team in each draw, NONE if none
    exact: bool  # every distinct assignment enumerated (the observed one among them)


def observed_labels(design: Design) -> np.ndarray:
    labels = np.full(len(design.treated), NONE, dtype=np.int64)
    for k, window in enumerate(design.cohorts):
        labels[window.treated & (labels == NONE)] = k
    return labels


def eligible(panel: Panel, design: Design) -> np.ndarray:
    """Teams whose label may be re-drawn: active in some baseline week, and an adopting team or
    a clean comparison for some cohort. Others (no data, or switching another initiative) keep
    their label, which leaves them out of every draw's estimate as they are out of the real one."""
    active = panel["active"] > 0
    out = np.zeros(panel.n_teams, dtype=bool)
    for window in design.cohorts:
        if len(window.pre) == 0:
            continue
        in_pre = active[:, window.pre].any(axis=1)
        control = design.exposure.controls(window, window.post).any(axis=0) if len(window.post) else False
        out |= in_pre & (window.treated | control)
    return out


def _count(sizes: list[int]) -> int:
    """Distinct ways to deal len-sum(sizes) teams into groups of these sizes (multinomial)."""
    total, out = sum(sizes), 1
    for size in sizes:
        out *= math.comb(total, size)
        total -= size
    return out


def _enumerate(pool: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Every distinct arrangement of the multiset `values` over the positions `pool`."""
    kinds, counts = np.unique(values, return_counts=True)
    rows: list[np.ndarray] = []

    def deal(free: tuple[int, ...], k: int, row: np.ndarray) -> None:
        if k == len(kinds) - 1:
            row = row.copy()
            row[list(free)] = kinds[k]
            rows.append(row)
            return
        for chosen in itertools.combinations(free, int(counts[k])):
            nxt = row.copy()
            nxt[list(chosen)] = kinds[k]
            deal(tuple(i for i in free if i not in chosen), k + 1, nxt)

    deal(tuple(range(len(pool))), 0, np.empty(len(pool), dtype=values.dtype))
    return np.array(rows)


def assignments(panel: Panel, design: Design, draws: int, seed: int) -> Assignments:
    labels = observed_labels(design)
    pool = np.flatnonzero(eligible(panel, design))
    values = labels[pool]
    _, counts = np.unique(values, return_counts=True)
    exact = _count([int(c) for c in counts]) <= draws
    if exact:
        dealt = _enumerate(pool, values)
    else:
        rng = np.random.default_rng(seed)
        dealt = rng.permuted(np.broadcast_to(values, (draws, len(pool))), axis=1)
    out = np.broadcast_to(labels, (len(dealt), len(labels))).copy()
    out[:, pool] = dealt
    return Assignments(out, exact)


def reference(panel: Panel, measure: Measure, design: Design, drawn: Assignments) -> Reference | None:
    """The difference-in-differences estimate, with its jackknife, under each re-drawn
    assignment; None when no cohort can be estimated."""
    labels = drawn.labels
    cohort_starts = np.array([w.start for w in design.cohorts] + [NEVER], dtype=np.int64)
    starts = cohort_starts[labels]  # NONE (-1) indexes the last entry: never
    den = panel[measure.den]
    windows, treated, controls = [], [], []
    adopting = np.zeros(labels.shape, dtype=bool)
    compared = np.zeros(labels.shape, dtype=bool)
    for k, window in enumerate(design.cohorts):
        if not usable(panel, measure, [window]):
            continue
        has_pre = den[:, window.pre].sum(axis=1) > 0
        members = (labels == k) & has_pre[None, :]
        masks = design.exposure.controls(window, window.post, starts, labels == k) & has_pre[None, None, :]
        windows.append(window)
        treated.append(members)
        controls.append(masks)
        adopting |= members
        compared |= masks.any(axis=1)
    if not windows:
        return None
    thetas, _, _ = effects(panel, measure, windows, treated, controls)
    return Reference(thetas, partition(adopting, compared), drawn.exact)
