"""What the impact analysis measures: every metric as a ratio of two weekly team sums.

One shape serves all metrics, so one estimator serves all of them:

* a *ratio* metric is sum(num) / sum(den) over team-weeks - deployments per active team-week,
  failed / production deployments, outside reviews per pull request. Rates are compared
  through their counts, never as an average of weekly percentages.
* a *log* metric is a duration: num is the sum of log(hours) over events, den the number of
  events, so sum(num) / sum(den) is the mean log duration. Differences of mean logs are
  relative changes of the geometric mean, which for the skewed, roughly log-normal durations
  of delivery data is the median; a few very slow changes cannot swing it as they swing a mean.

Either way an effect is a number theta on the log scale and the relative change is exp(theta)-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from warehouse import catalog

# The panel columns (team-week sums) the SQL in warehouse/sql/impact_*.sql produces.
PANEL_COLUMNS = (
    "active",
    "deployments",
    "production_deployments",
    "failed",
    "rework",
    "recoveries",
    "recovery_log",
    "changes",
    "lead_log",
    "prs",
    "coding_n",
    "coding_log",
    "pickup_n",
    "pickup_log",
    "review_n",
    "review_log",
    "deploy_wait_n",
    "deploy_wait_log",
    "outside_reviews",
    "teams_touching",
    # durations under the one-minute floor (impact_team_weeks.sql)
    "lead_instant",
    "coding_instant",
    "pickup_instant",
    "review_instant",
    "deploy_wait_instant",
)

# The thin-data rule (docs/impact-method.md): below these a verdict is `inconclusive`.
MIN_WEEKS = 4  # weeks with data before and after
MIN_N = 20  # observations (deployments, changes, failures, pull requests) before and after
MIN_EVENTS = 10  # counted events of a rate (failures, rework), before and after together


@dataclass(frozen=True)
class Measure:
    name: str
    family: Literal["throughput", "instability", "stage", "handoff"]
    kind: Literal["ratio", "log"]
    num: str
    den: str
    count: str  # the column whose sum is n_before / n_after
    events: str | None  # for rates: the numerator events the thin-data rule counts
    better: int  # +1: higher is better; -1: lower is better
    unit: str
    label: str
    instant: str | None = None  # durations: the column counting events under the 1-minute floor


MEASURES: tuple[Measure, ...] = (
    Measure(
        "deployment_frequency",
        "throughput",
        "ratio",
        "deployments",
        "active",
        "deployments",
        None,
        +1,
        "deployments per team-week",
        "deployment frequency",
    ),
    Measure(
        "lead_time",
        "throughput",
        "log",
        "lead_log",
        "changes",
        "changes",
        None,
        -1,
        "hours (geometric mean)",
        "lead time",
        "lead_instant",
    ),
    Measure(
        "recovery_time",
        "throughput",
        "log",
        "recovery_log",
        "recoveries",
        "recoveries",
        None,
        -1,
        "hours (geometric mean)",
        "recovery time",
    ),
    Measure(
        "change_fail_rate",
        "instability",
        "ratio",
        "failed",
        "production_deployments",
        "production_deployments",
        "failed",
        -1,
        "share of production deployments",
        "change fail rate",
    ),
    Measure(
        "rework_rate",
        "instability",
        "ratio",
        "rework",
        "production_deployments",
        "production_deployments",
        "rework",
        -1,
        "share of production deployments",
        "rework rate",
    ),
    Measure(
        "coding_time",
        "stage",
        "log",
        "coding_log",
        "coding_n",
        "coding_n",
        None,
        -1,
        "hours (geometric mean)",
        "coding (first commit to PR opened)",
        "coding_instant",
    ),
    Measure(
        "pickup_time",
        "stage",
        "log",
        "pickup_log",
        "pickup_n",
        "pickup_n",
        None,
        -1,
        "hours (geometric mean)",
        "pickup wait (PR opened to first review)",
        "pickup_instant",
    ),
    Measure(
        "review_time",
        "stage",
        "log",
        "review_log",
        "review_n",
        "review_n",
        None,
        -1,
        "hours (geometric mean)",
        "review (first review to merge)",
        "review_instant",
    ),
    Measure(
        "deploy_wait",
        "stage",
        "log",
        "deploy_wait_log",
        "deploy_wait_n",
        "deploy_wait_n",
        None,
        -1,
        "hours (geometric mean)",
        "deploy wait (merge to shipped)",
        "deploy_wait_instant",
    ),
    Measure(
        "outside_reviews",
        "handoff",
        "ratio",
        "outside_reviews",
        "prs",
        "prs",
        "outside_reviews",
        -1,
        "reviews from outside the author's team per PR",
        "reviews from other teams",
    ),
    Measure(
        "teams_per_change",
        "handoff",
        "ratio",
        "teams_touching",
        "prs",
        "prs",
        None,
        -1,
        "distinct teams per PR",
        "teams touching a change",
    ),
)
BY_NAME = {m.name: m for m in MEASURES}
STAGES = tuple(m.name for m in MEASURES if m.family == "stage")


@dataclass(frozen=True)
class Factor:
    """DORA's grouping: the mean of standardised metrics with signs aligned."""

    name: str
    signs: dict[str, int]  # metric -> +1/-1 so that a higher factor means more of the factor
    better: int  # higher throughput is better; higher instability is worse
    label: str


# The five DORA metrics (catalog.ORDER: a metric added to the catalog is no DORA metric, and
# the impact analysis has no measure for it) and DORA's two factors over them, with the
# catalog's directions and signs.
DORA_METRICS = catalog.ORDER
FACTORS: tuple[Factor, ...] = tuple(
    Factor(f.name, {m: s for m, s in catalog.factor_signs(f.name).items() if m in DORA_METRICS},
           f.better, f.name)
    for f in catalog.FACTORS
)

# The five DORA metrics and the two factors (DESIGN.md's `metric` values).
DORA_MEASURES = (*DORA_METRICS, *(f.name for f in FACTORS))

# The order of rows in every output.
METRIC_ORDER = (
    *DORA_MEASURES,
    *STAGES,
    "outside_reviews",
    "teams_per_change",
)
