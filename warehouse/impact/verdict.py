"""From an estimate to a verdict, by one stated rule.

Thin data (docs/impact-method.md): `inconclusive` when the adopting group (or the org) has
fewer than MIN_WEEKS weeks with data before or after, fewer than MIN_N observations
(deployments; changes or pull requests for durations; failed deployments for recovery time)
before or after, fewer than MIN_EVENTS counted events of a rate (failures, rework) before and
after together, or when the interval could not be estimated. A difference-in-differences
estimate is also `inconclusive` when its pre-trend check fails: the placebo change (a fake
adoption halfway through the baseline) is significant (p < 0.05) and at least a quarter of the
estimated effect. A steady drift that large, carried over the longer before-to-after distance
(about twice the half-baseline distance), could account for half of the effect or more; a
tiny but significant drift beside a very large effect (as with millions of events) does not.

Otherwise: `improved` or `worsened` when the 95% interval excludes no change (p < 0.05), by
the metric's direction (more deployments is better; longer durations, more failures and more
handoffs are worse), else `no detectable change`.
"""

from __future__ import annotations

import math

from warehouse.impact.estimate import Estimate
from warehouse.impact.measures import MIN_EVENTS, MIN_N, MIN_WEEKS, Measure

PRE_TREND_ALPHA = 0.05
PRE_TREND_SHARE = 0.25
ALPHA = 0.05

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


def pre_trend_failed(change: float | None, p: float | None, theta: float | None) -> bool:
    """Significant, and large enough to matter next to the effect (see the module docstring)."""
    if change is None or p is None or p >= PRE_TREND_ALPHA:
        return False
    return theta is None or abs(math.log1p(change)) >= abs(theta) * PRE_TREND_SHARE


def judge(
    est: Estimate,
    better: int,
    thin: str | None,
    pre_trend: tuple[float | None, float | None] = (None, None),
    effect_theta: float | None = None,
) -> tuple[str, str | None]:
    """(verdict, reason when inconclusive). pre_trend: (placebo relative change, p) for did;
    effect_theta: the adopting teams' effect the placebo is weighed against (default: est's)."""
    if est.unavailable:
        return "inconclusive", est.unavailable
    if thin:
        return "inconclusive", thin
    if not est.estimable or est.p_value is None:
        return "inconclusive", "the interval could not be estimated"
    if est.method == "did":
        change, p = pre_trend
        if p is None:
            return "inconclusive", "the pre-trend check could not run (baseline shorter than 4 weeks)"
        if pre_trend_failed(change, p, est.theta if effect_theta is None else effect_theta):
            return "inconclusive", (
                f"pre-trend check failed (placebo change {change:+.1%}, p = {p:.3f}): adopting and "
                "comparison teams were already drifting apart"
            )
    # The 95% interval decides (for t-based intervals this is exactly p < 0.05; for bootstrap
    # percentile intervals it keeps the verdict and the interval shown consistent).
    if est.low <= 0 <= est.high:
        return "no detectable change", None
    return ("improved" if est.theta * better > 0 else "worsened"), None
