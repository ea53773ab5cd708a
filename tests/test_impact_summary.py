"""The summary's sentences: a count rising from near zero reads as an absolute change."""

from __future__ import annotations

import math

from warehouse.impact.analysis import Judged
from warehouse.impact.estimate import Estimate
from warehouse.impact.summary import count_change


def judged(method: str, rel: float, low: float, high: float, before: float | None, after: float) -> Judged:
    est = Estimate(method, "outside_reviews", theta=math.log1p(rel), low=math.log1p(low),
                   high=math.log1p(high), before=before, after=after)
    return Judged("treated teams", est, "worsened", None, primary=True)


def test_a_handoff_count_from_a_near_zero_base_reads_as_from_to():
    # After 1.03 reviews per pull request, estimated x14 (+1300%): without the initiative the
    # adopters would show 1.03 / 14 = 0.0736, so the count rose by 1.03 - 0.07 = +0.96.
    assert count_change(judged("did", 13.0, 2.0, 50.0, None, 1.03)) == "rose from 0.07 to 1.03 (+0.96)"
    # Single-group methods compare with the group's own before value.
    assert count_change(judged("before_after", -0.5, -0.7, -0.2, 0.2, 0.1)) == "fell from 0.20 to 0.10 (−0.10)"


def test_a_count_with_a_real_base_keeps_its_relative_change():
    # 2.0 after a +50% change: the base is 1.33, no longer near zero.
    assert count_change(judged("did", 0.5, 0.1, 1.0, None, 2.0)) == "rose 50% (95% CI +10% to +100%)"
