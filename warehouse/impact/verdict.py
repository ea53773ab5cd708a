"""From an estimate to a verdict, by one stated rule.

Thin data (docs/impact-method.md): `inconclusive` when the adopting group (or the org) has
fewer than MIN_WEEKS weeks with data before or after, fewer than MIN_N observations
(deployments; changes or pull requests for durations; failed deployments for recovery time)
before or after, fewer than MIN_EVENTS counted events of a rate (failures, rework) before and
after together, when the interval could not be estimated, or (difference-in-differences) when
fewer than MIN_VERDICT_TEAMS adopting or comparison teams have data.

The test (`decision`): for difference-in-differences, the trend-adjusted estimate alone - the
estimate with the adopting teams' linear pre-adoption trend relative to the comparison teams
carried on and taken out (event_study.check). It keeps its 5% under parallel trends (a linear
drift of slope zero) and under any linear drift between the groups, so it needs no second
test beside it; the plain estimate is shown next to it. A row whose trend cannot be estimated
(fewer than 3 usable pre-adoption bins) is `inconclusive`. For the time series and
before/after, their own estimate.

Otherwise: `improved` or `worsened` when the test's 95% interval excludes no change (p < 0.05),
by the metric's direction (more deployments is better; longer durations, more failures and
more handoffs are worse), else `no detectable change`. Which rows may carry these words at all,
and at what level, is decision.py's: the registered primary metric at 5%, the other DORA
metrics by gatekeeping and Holm, every other row descriptive.

Durations with many zeros (two_part.py): a difference-in-differences duration row with at
least FLOOR_SHARE (20%) of its durations under the 1-minute floor, before or after, is
`floor_sensitive`: its floored geometric mean's *size* is set by the floor, and only its
*direction* can be read, and only when its two floor-free parts allow it. Such a row
keeps its call only when neither part is significant (p < 0.05, the part's own p, from the
same jackknife-t and randomization test as every row) in the opposite direction: the share
under a minute counts the other way (more instant waits: shorter durations), the positive
durations the same way. Otherwise it is `inconclusive`, with a reason naming both parts. The
parts are the same endpoint taken apart, not more endpoints: they are not members of the
multiple-testing family, and the rule is applied after the adjustment, to the calls it left.
A part that could not be estimated (fewer than MIN_EVENTS instant events) contradicts nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from warehouse.impact.estimate import Estimate
from warehouse.impact.event_study import TrendCheck
from warehouse.impact.measures import MIN_EVENTS, MIN_N, MIN_WEEKS, Measure

ALPHA = 0.05
POWER = 0.8  # of the minimum detectable effect (`mde`)
FLOOR_SHARE = 0.2  # durations under the floor from which a change's size depends on it
# Difference-in-differences gives no verdict with fewer teams than this on either side: the
# jackknife's interval rests on the spread between teams, which 2 or 3 teams cannot show
# (its variance then has 1-2 degrees of freedom, and the Satterthwaite t is too optimistic:
# with 3 adopting or 3 comparison teams of 30, 32-44% of null initiatives got some call in
# the calibration, against 6% with 10; with 4-5, 4-12%: docs/impact-method.md).
MIN_VERDICT_TEAMS = 4

NOUNS = {
    "deployments": "deployments",
    "production_deployments": "production deployments",
    "changes": "changes",
    "recoveries": "recovered failures",
    "prs": "pull requests",
}


def thin_reason(est: Estimate, measure: Measure) -> str | None:
    """Why the data is too thin for a verdict, or None."""
    if est.weeks_before < MIN_WEEKS or est.weeks_after < MIN_WEEKS:
        return (
            f"fewer than {MIN_WEEKS} weeks with data before or after "
            f"({est.weeks_before} and {est.weeks_after})"
        )
    if est.n_before < MIN_N or est.n_after < MIN_N:
        noun = NOUNS.get(measure.count, "pull requests")
        return f"fewer than {MIN_N} {noun} before or after ({est.n_before} and {est.n_after})"
    if measure.events and (est.events or 0) < MIN_EVENTS:
        return f"fewer than {MIN_EVENTS} {measure.events.replace('_', ' ')} events in all ({est.events or 0})"
    return None


def judge(
    est: Estimate, better: int, thin: str | None, trend: TrendCheck | None = None
) -> tuple[str, str | None]:
    """(verdict, reason when inconclusive). trend: the pre-adoption check of a did estimate."""
    if est.unavailable:
        return "inconclusive", est.unavailable
    if thin:
        return "inconclusive", thin
    if not est.estimable or est.p_value is None:
        return "inconclusive", "the interval could not be estimated"
    if est.method == "did":
        sides = {"adopting": est.extra.get("treated_teams"), "comparison": est.extra.get("comparison_teams")}
        few = {side: n for side, n in sides.items() if n is not None and n < MIN_VERDICT_TEAMS}
        if few:
            side, n = next(iter(few.items()))
            return "inconclusive", (
                f"only {n} {side} teams: below {MIN_VERDICT_TEAMS} teams on a side the team-level "
                "interval is too narrow to trust (with 3, a third of null initiatives got a call in "
                "the calibration)"
            )
        if trend is None or not trend.ran:
            return "inconclusive", (
                "the pre-trend check could not run (baseline shorter than 4 weeks, or too few teams "
                "with data in its weeks)"
            )
        if trend.adjusted is None:
            return "inconclusive", (
                "the pre-adoption trend could not be estimated (fewer than 3 usable bins before "
                "adoption), so the change cannot be told from a drift between the groups"
            )
    # The test's 95% interval decides (for t-based intervals this is exactly p < 0.05; for
    # bootstrap percentile intervals it keeps the verdict and the interval shown consistent).
    test = decision(est, trend)
    if test.low <= 0 <= test.high:
        return "no detectable change", None
    return ("improved" if test.theta * better > 0 else "worsened"), None


@dataclass(frozen=True)
class RowTest:
    """The test a row's verdict rests on, on the adopting teams' log scale."""

    theta: float
    low: float
    high: float
    p: float | None
    se: float | None
    df: float | None
    trend_adjusted: bool


def decision(est: Estimate, trend: TrendCheck | None) -> RowTest:
    """The trend-adjusted test for difference-in-differences rows (when it could be formed),
    else the row's own estimate."""
    if est.method == "did" and trend is not None and trend.adjusted is not None:
        return RowTest(
            trend.adjusted,
            trend.adjusted_low,
            trend.adjusted_high,
            trend.adjusted_p,
            trend.adjusted_se,
            trend.adjusted_df,
            True,
        )
    return RowTest(est.theta, est.low, est.high, est.p_value, est.se, est.df, False)


def mde(test: RowTest, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest effect (log scale) the test finds with `power` at two-sided `alpha`, from its
    own standard error: (t_{1-alpha/2} + t_{power}) x se, with the test's degrees of freedom
    (normal quantiles when it has none). A standard error not given is read off the interval."""
    se, df = test.se, test.df
    if se is None or not math.isfinite(se):
        if test.low is None or test.high is None or not math.isfinite(test.high - test.low):
            return None
        se, df = (test.high - test.low) / (2 * float(stats.norm.ppf(1 - alpha / 2))), None
    if df is not None and math.isfinite(df) and df >= 1:
        k = float(stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df))
    else:
        k = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return k * se


def floor_conflict(est: Estimate) -> str | None:
    """Why a floor-sensitive call is withheld (a part is significant against it), or None."""
    if not est.extra.get("floor_sensitive") or est.theta is None:
        return None
    called = 1 if est.theta > 0 else -1  # the floored duration's direction: +1 longer
    share, positive = est.extra.get("instant_share_change"), est.extra.get("positive_change")
    share_p, positive_p = est.extra.get("instant_share_p"), est.extra.get("positive_p")
    against = any(
        change is not None and p is not None and p < ALPHA and sign * change * called < 0
        for change, p, sign in ((share, share_p, -1), (positive, positive_p, +1))
    )
    if not against:
        return None

    def part(change: float | None, p: float | None) -> str:
        return "n/a" if change is None else f"{change * 100:+.0f}% (p = {p:.3g})".replace("-", "−")

    shares = max(est.extra["instant_share_before"], est.extra["instant_share_after"])
    return (
        f"the floored geometric mean {'rose' if called > 0 else 'fell'}, but its two parts disagree: "
        f"the share of durations under a minute {part(share, share_p)}, durations of a minute or "
        f"more {part(positive, positive_p)}; with {shares:.0%} of durations under a minute, the "
        "floored mean's direction depends on the 1-minute floor"
    )
