"""Who is compared with whom, and over which weeks, for one initiative.

* Each cohort (teams that adopted on one date) has a window of `window_weeks` before its
  start and `window_weeks` after its ramp; the ramp weeks (settling in) are left out.
* A comparison (control) team for a cohort in a given week is one that has not adopted this
  initiative by that week (never-adopters and not-yet-adopters alike) and whose exposure to
  every *other* initiative is the same in that week as throughout the cohort's baseline weeks
  and is not ramping. A team already settled on another platform is a fair comparison - its
  own before/after cancels that - but not one switching platforms mid-comparison.
* The group series (interrupted time series, before/after) uses the weeks before the first
  cohort started and the weeks after the last cohort's ramp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from warehouse.impact.initiatives import Initiative
from warehouse.impact.panel import Panel

NEVER = 1 << 30  # week index of an adoption that never happens


@dataclass(frozen=True)
class Window:
    treated: np.ndarray  # bool (teams,): the teams of this cohort
    start: int  # week index the cohort adopted (its ramp begins)
    pre: np.ndarray  # week indices before
    post: np.ndarray  # week indices after the ramp


@dataclass
class Exposure:
    start: np.ndarray  # (teams,) week index this initiative reaches each team, NEVER if not
    signature: np.ndarray  # (teams, weeks) code of the team's status on all other initiatives
    ramping: np.ndarray  # (teams, weeks) the team is settling into another initiative

    def controls(
        self,
        window: Window,
        weeks: np.ndarray,
        start: np.ndarray | None = None,
        members: np.ndarray | None = None,
    ) -> np.ndarray:
        """(len(weeks), teams) bool: the clean comparison teams for each of these weeks.

        start, members: other adoption weeks and cohort members than the real ones, e.g.
        (draws, teams) re-drawn ones for randomization inference; then (draws, weeks, teams)."""
        start = self.start if start is None else start
        members = window.treated if members is None else members
        pre = window.pre
        if len(pre) == 0 or len(weeks) == 0:
            return np.zeros(start.shape[:-1] + (len(weeks), len(self.start)), dtype=bool)
        baseline = self.signature[:, pre[0]]
        steady = (self.signature[:, pre] == baseline[:, None]).all(axis=1)
        steady &= ~self.ramping[:, pre].any(axis=1)
        same_now = (self.signature[:, weeks].T == baseline[None, :]) & ~self.ramping[:, weeks].T
        # Not adopted by the week, nor during the baseline: a team of an earlier cohort is no
        # comparison in this cohort's pre-adoption bins either, since its own treated weeks
        # would sit in the baseline the bins are measured from.
        not_yet = (start[..., None, :] > weeks[:, None]) & (start > pre[-1])[..., None, :]
        return (steady & ~members)[..., None, :] & not_yet & same_now


@dataclass
class Design:
    cohorts: list[Window]
    treated: np.ndarray  # bool (teams,): every team that adopted
    exposure: Exposure
    series_pre: np.ndarray  # weeks before the first cohort started
    series_post: np.ndarray  # weeks after the last cohort's ramp
    notes: list[str] = field(default_factory=list)


def _span(start: int, stop: int, limit: int) -> np.ndarray:
    return np.arange(max(start, 0), max(min(stop, limit), 0))


def _status(panel: Panel, initiative: Initiative) -> np.ndarray:
    """(teams, weeks) 0 before, 1 ramping, 2 settled, 3 after the initiative ended."""
    weeks = np.arange(len(panel.weeks))
    status = np.zeros((panel.n_teams, len(weeks)), dtype=np.int64)
    end = panel.week_index(initiative.ended_on) if initiative.ended_on else NEVER
    for cohort in initiative.cohorts:
        members = panel.mask(cohort.teams) if cohort.teams else np.ones(panel.n_teams, dtype=bool)
        s = panel.week_index(cohort.started_on)
        row = np.where(weeks < s, 0, np.where(weeks < s + initiative.ramp_weeks, 1, 2))
        row = np.where(weeks >= end, 3, row)
        status[members] = np.maximum(status[members], row[None, :])
    return status


def build(panel: Panel, initiative: Initiative, others: list[Initiative], window_weeks: int) -> Design:
    n, limit = panel.n_teams, panel.complete_weeks
    if initiative.ended_on is not None:
        limit = min(limit, panel.week_index(initiative.ended_on))
    ramp = initiative.ramp_weeks
    start = np.full(n, NEVER, dtype=np.int64)
    cohorts: list[Window] = []
    notes: list[str] = []
    for spec in initiative.cohorts:
        members = panel.mask(spec.teams) if spec.teams else np.ones(n, dtype=bool)
        missing = [t for t in spec.teams if t not in panel.teams]
        if missing:
            notes.append(f"no delivery data for team(s) {', '.join(missing)}")
        s = panel.week_index(spec.started_on)
        members &= start == NEVER  # a team in two cohorts counts from its first
        start[members] = np.minimum(start[members], s)
        if members.any():
            cohorts.append(
                Window(
                    members,
                    s,
                    _span(s - window_weeks, s, limit),
                    _span(s + ramp, s + ramp + window_weeks, limit),
                )
            )
    treated = start < NEVER

    signature = np.zeros((n, len(panel.weeks)), dtype=np.int64)
    ramping = np.zeros((n, len(panel.weeks)), dtype=bool)
    if cohorts:
        lo = max(min(c.start for c in cohorts) - window_weeks, 0)
        hi = max(min(max(c.start for c in cohorts) + ramp + window_weeks, len(panel.weeks)), lo)
    for k, other in enumerate(o for o in others if o.name != initiative.name):
        status = _status(panel, other)
        signature += status * (4**k)
        ramping |= status == 1
        if cohorts and hi > lo:
            shifts = (status[:, lo:hi] != status[:, lo : lo + 1]).any(axis=1)
            overlap = [panel.teams[i] for i in np.flatnonzero(treated & shifts)]
            if overlap:
                shown = ", ".join(overlap[:5]) + (", ..." if len(overlap) > 5 else "")
                notes.append(
                    f"{len(overlap)} adopting team(s) also changed status on {other.name!r} within "
                    f"the comparison window ({shown}): part of the measured change may be that "
                    "initiative's"
                )
    exposure = Exposure(start, signature, ramping)
    if cohorts:
        first_start = min(c.start for c in cohorts)
        last_start = max(c.start for c in cohorts)
        series_pre = _span(first_start - window_weeks, first_start, limit)
        series_post = _span(last_start + ramp, last_start + ramp + window_weeks, limit)
    else:
        series_pre = series_post = np.arange(0)
    return Design(cohorts, treated, exposure, series_pre, series_post, notes)
