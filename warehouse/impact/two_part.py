"""Durations with many zeros, in two parts: the share under a minute, and the rest.

Durations enter the panel as sums of ln(max(hours, 1 minute)) (impact_team_weeks.sql). Where
many durations are under that minute (a pull request picked up at once), the floored geometric
mean is a mixture of two things an initiative can change separately - how often the wait is
instant, and how long the other waits are - and the size of its change depends on the floor:
a fall in the instant share from 40% to 24% lengthens the floored mean by ~0.16 x (log of a
typical wait - log of the floor), which the floor sets. Each part has no floor in it:

* the instant share: durations under a minute per duration (`*_instant` / count), compared as
  a ratio metric;
* the positive part: the geometric mean of the durations of a minute or more, a log metric
  over count - instant events, whose sum of logs is the floored sum less instant x ln(floor).

Both are estimated with the duration's own difference-in-differences (did.py) and the same
re-drawn adoption labels (randomization.py), so they cost two more estimates per duration,
and only where instant events exist: with fewer than MIN_EVENTS of them among the adopting
teams, before and after together, the share is all but zero, the floored mean is the positive
part, and both parts are left null. verdict.floor_conflict uses them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from warehouse.impact import did, randomization
from warehouse.impact.design import Design
from warehouse.impact.estimate import Estimate, relative
from warehouse.impact.measures import MEASURES, MIN_EVENTS, Measure
from warehouse.impact.panel import Panel

FLOOR_HOURS = 1 / 60  # the floor of impact_team_weeks.sql's impact_log_hours macro
PARTS = ("instant_share", "positive")  # key prefixes on the duration's row
KEYS = tuple(f"{part}_{what}" for part in PARTS for what in ("change", "ci_low", "ci_high", "p"))


def _stem(m: Measure) -> str:
    return (m.instant or "").removesuffix("_instant")


def parts(m: Measure) -> tuple[Measure, Measure]:
    """(instant share, positive durations) of a duration measure with an instant column."""
    stem = _stem(m)
    share = dataclasses.replace(
        m,
        name=f"{m.name}_instant_share",
        kind="ratio",
        num=m.instant,
        events=m.instant,
        better=-m.better,  # more instant waits: shorter durations
        unit="share of durations under a minute",
        label=f"{m.label}: share under a minute",
        instant=None,
    )
    positive = dataclasses.replace(
        m,
        name=f"{m.name}_positive",
        num=f"{stem}_positive_log",
        den=f"{stem}_positive_n",
        count=f"{stem}_positive_n",
        unit="hours (geometric mean of durations of a minute or more)",
        label=f"{m.label}: a minute or more",
        instant=None,
    )
    return share, positive


def derive(panel: Panel, floor_hours: float = FLOOR_HOURS) -> Panel:
    """The panel with each duration's positive part added: `<stem>_positive_n` (count - instant)
    and `<stem>_positive_log` (sum of floored logs - instant x ln(floor)). A missing instant
    column means no instant events."""
    values = dict(panel.values)
    for m in MEASURES:
        if m.instant is None or m.den not in values:
            continue
        instant = values.get(m.instant, np.zeros_like(values[m.den]))
        values[f"{_stem(m)}_positive_n"] = values[m.den] - instant
        values[f"{_stem(m)}_positive_log"] = values[m.num] - instant * math.log(floor_hours)
    return dataclasses.replace(panel, values=values)


def instant_events(panel: Panel, m: Measure, spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> int:
    """Instant events of these (teams, pre, post) spans, before and after together."""
    column = panel.values.get(m.instant) if m.instant else None
    if column is None:
        return 0
    total = 0.0
    for teams, pre, post in spans:
        total += column[np.ix_(teams, np.concatenate([pre, post]).astype(int))].sum()
    return int(round(total))


def _record(est: Estimate, part: str, found: Estimate | None) -> None:
    usable = found is not None and found.estimable
    est.extra[f"{part}_change"] = relative(found.theta) if usable else None
    est.extra[f"{part}_ci_low"] = relative(found.low) if usable else None
    est.extra[f"{part}_ci_high"] = relative(found.high) if usable else None
    est.extra[f"{part}_p"] = found.p_value if usable else None


def estimate(
    panel: Panel,
    m: Measure,
    design: Design,
    drawn: randomization.Assignments,
    treated: Estimate,
    org: Estimate,
    spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    """Fill both parts into the duration's adopting-teams and org did estimates.

    panel: derive()'d. spans: the adopting teams' (teams, pre, post), whose instant events
    decide whether the parts are computed (the org row's information is theirs too)."""
    enough = instant_events(panel, m, spans) >= MIN_EVENTS
    for part, measure in zip(PARTS, parts(m), strict=True):
        found: tuple[Estimate | None, Estimate | None] = (None, None)
        if enough:
            reference = randomization.reference(panel, measure, design, drawn)
            found = did.estimate(panel, measure, design, reference=reference)
        for est, got in zip((treated, org), found, strict=True):
            _record(est, part, got)


def _pct(value: float) -> str:
    return f"{value * 100:+.0f}%".replace("-", "−")


def describe(est: Estimate) -> str | None:
    """The two parts in words, for the summary's floor note; None when they were not computed."""
    share, positive = est.extra.get("instant_share_change"), est.extra.get("positive_change")
    if share is None and positive is None:
        return None
    words = []
    if share is not None:
        before, after = est.extra["instant_share_before"], est.extra["instant_share_after"]
        words.append(
            f"durations under a minute {before:.0%} → {after:.0%} of all ({_pct(share)} against the "
            f"comparison teams, 95% CI {_pct(est.extra['instant_share_ci_low'])} to "
            f"{_pct(est.extra['instant_share_ci_high'])})"
        )
    if positive is not None:
        words.append(
            f"durations of a minute or more {_pct(positive)} (95% CI {_pct(est.extra['positive_ci_low'])} "
            f"to {_pct(est.extra['positive_ci_high'])})"
        )
    return ", ".join(words)
