"""Which rows may carry a verdict word, and at what level: the registered decision.

An initiative is judged on many rows (5 DORA metrics, 2 factors, 4 stages, 2 handoff counts,
for each group and method, and subgroups); at 5% each, a null initiative would get at least
one false `improved`/`worsened` a quarter to a half of the time. So the plan fixes, before the
data is read, one family and an order (serial gatekeeping; Dmitrienko and Tamhane 2007):

1. the primary metric the plan registers, on the primary design (difference-in-differences of
   the adopting teams; the org's time series for an org-wide initiative), at the full 5%;
2. only once it is called, the other DORA metrics and factors on the same design, by Holm's
   step-down at 5%.

The family-wise error of the labelled rows is then at most 5% (the gate passes only when the
primary is rejected, and Holm controls the rest at 5%). The org's difference-in-differences
row of a metric is the adopting teams' row rescaled (same test), so it carries the same word.
Every other row is descriptive: estimate, interval and `mde`, no verdict word - stages and
handoff counts (unless the plan names one primary), the time-series and before/after
reference rows, the secondary metrics when the gate stays shut, adoption-level subgroups, and
every row of an analysis that departs from the registered plan (`exploratory`).
"""

from __future__ import annotations

import math

import numpy as np

from warehouse.impact.measures import DORA_MEASURES

CALLS = ("improved", "worsened")
ROLES = ("primary", "secondary", "descriptive", "exploratory")


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: sorted p times (m - rank + 1), running max."""
    if not p_values:
        return []
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    steps = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    out = np.empty_like(p)
    out[order] = np.minimum(steps, 1.0)
    return [float(q) for q in out]


def decide(judged: list, primary_metric: str, group: str, org: str, design: str) -> None:
    """Set role, verdict and adjusted p of every row (Judged, analysis.py) in place.

    judged: verdicts already judged as if each row were tested alone (verdict.judge); group:
    the primary group (adopting teams, or the org for org-wide initiatives); design: its
    method (did, or its)."""
    family = {j.est.metric: j for j in judged if j.primary and j.group == group and j.est.method == design}
    mirrors = [
        j for j in judged if j.group == org and j.est.method == "did" and design == "did" and j.primary
    ]
    head = family.get(primary_metric)
    rest = [family[m] for m in DORA_MEASURES if m in family and m != primary_metric]
    labelled = ([head] if head else []) + rest
    for j in judged:
        if j.role == "exploratory":
            continue
        if j not in labelled and j not in mirrors:
            j.role = "descriptive"
            j.verdict, j.reason = None, _descriptive_reason(j, group, design)
    if head is not None:
        head.role, head.p_adjusted, head.family_size = "primary", head.test_p, 1
    gate = head is not None and head.verdict in CALLS
    tested = [j for j in rest if j.test_p is not None and math.isfinite(j.test_p)]
    for j in rest:
        j.role = "secondary"
        if not gate:
            j.verdict = None
            j.reason = (
                f"not tested: the other DORA metrics are tested only once the primary metric "
                f"({primary_metric}) is called, so that no more than 5% of initiatives get a false call"
            )
    if gate:
        for j, q in zip(tested, holm([j.test_p for j in tested]), strict=True):
            j.p_adjusted, j.family_size = q, len(tested)
            if j.verdict in CALLS and q >= 0.05:
                j.verdict = "no detectable change"
                j.reason = (
                    f"p = {j.test_p:.3g} alone, {q:.3g} after Holm's adjustment over the "
                    f"{len(tested)} DORA metrics tested after the primary one"
                )
    by_metric = {j.est.metric: j for j in labelled}
    for j in mirrors:
        twin = by_metric.get(j.est.metric)
        if twin is None:
            j.role = "descriptive"
            j.verdict, j.reason = None, _descriptive_reason(j, group, design)
            continue
        j.role, j.verdict = twin.role, twin.verdict
        j.p_adjusted, j.family_size = twin.p_adjusted, twin.family_size
        if j.verdict != "inconclusive" or j.reason is None:
            j.reason = twin.reason


def _descriptive_reason(j, group: str, design: str) -> str:
    if j.group != group and j.est.method != "did":
        return "descriptive: a reference for the primary comparison, not a test of the initiative"
    if j.est.method != design:
        return "descriptive: a reference method beside the primary comparison, not a test of the initiative"
    return "descriptive: not among the metrics the plan tests (the primary metric, then the DORA metrics)"
