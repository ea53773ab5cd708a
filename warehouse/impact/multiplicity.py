"""Multiple-testing control: which estimates are primary endpoints, and adjusted p-values.

An initiative is judged on many rows (5 DORA metrics, 2 factors, 4 stages, 2 handoff counts,
for each group and method); at 5% each, a null initiative would get at least one false
`improved`/`worsened` a quarter to a half of the time. So, declared up front:

* primary endpoints: DORA's two factors, throughput and instability. Holm's step-down over
  the two controls the chance of any false call among them at 5%.
* secondary endpoints: the five DORA metrics, the four lead-time stages and the two handoff
  counts. Benjamini-Hochberg q-values over the eleven control the expected share of false
  calls among those called at 5% (under a global null that is again the chance of any).

Families are formed per (group, method): the adopting teams' difference-in-differences rows
form one pair of families, the org's another, the before/after references a third. Every row
of a family with a p-value is counted, whether or not its data was thick enough for a verdict,
so that the size of a family does not depend on the data. A verdict `improved`/`worsened`
needs the adjusted p-value below 5%.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

from warehouse.impact.measures import FACTORS

PRIMARY_ENDPOINTS = tuple(f.name for f in FACTORS)
METHODS = {"primary": "holm", "secondary": "fdr_bh"}
LABELS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


def endpoint(metric: str) -> str:
    return "primary" if metric in PRIMARY_ENDPOINTS else "secondary"


def adjusted(p_values: list[float], method: str) -> list[float]:
    """Adjusted p-values (Holm; or BH, i.e. q-values), in the order given."""
    if not p_values:
        return []
    p = np.asarray(p_values, dtype=float)
    if method == "holm":
        # statsmodels' Holm branch runs gc.collect() on every call (0.2 s, most of an
        # analysis), so the step-down is written out: sorted p times (m - rank + 1), running max.
        order = np.argsort(p)
        steps = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
        out = np.empty_like(p)
        out[order] = np.minimum(steps, 1.0)
        return [float(q) for q in out]
    return [float(q) for q in multipletests(p, method=method)[1]]
