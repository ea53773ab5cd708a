"""The effect model: which teams adopt which initiative when, and how much each turns the
knobs that generate the history (docs/demo-org.md). Dates are relative to the history's end."""

from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from collectors.synthetic.org import TEAM_REPOS

WEEK_H = 7 * 24.0

INJECTED_EFFECTS: dict[str, dict[str, Any]] = {
    "deploy-platform": {
        "kind": "deploy platform",
        # The analysis plan (docs/impact-method.md): the metric it is judged on first.
        "primary_metric": "deployment_frequency",
        "cohorts": [
            {"teams": ["checkout", "payments", "marketplace"], "weeks_before_end": 52},
            {"teams": ["search", "catalog", "billing"], "weeks_before_end": 42},
        ],
        "ramp_weeks": 4,
        # The truth the impact analysis should find for the adopting teams after the ramp:
        # DORA 2024 for more platform focus (instability +14 %, throughput -8 %), with the
        # deployment rate cut harder (x0.84: every change now waits for a platform approval),
        # since a -8 % deployment frequency on six teams is below what the impact analysis
        # can call in one draw (docs/demo-org.md). Lead time x1.09 is what the review waits
        # and the rarer deployments give together (measured, docs/demo-org.md).
        "effects": {
            "deployment_frequency": 0.84,
            "lead_time": 1.09,
            "recovery_time": 1.08,
            "change_fail_rate": 1.14,
            "rework_rate": 1.14,
        },
        "factors": {"throughput": 0.89, "instability": 1.14},
        # How the generator produces those effects. Every pull request of an adopting team
        # needs an approval from a platform-team member (handoff_team) and its pickup and
        # review waits are x review_wait; detection, resolution and fix times are
        # x recovery_scale. Fewer deployments also lengthen deploy waits and the gaps a fix
        # waits for, so both values are calibrated (simulations in docs/demo-org.md)
        # to give the `effects` above on the metrics as docs/metrics.md defines them (review
        # wait for a lead time x1.08 at the DORA deployment rate x0.92; at x0.84 the same
        # review wait gives x1.09).
        # The probability of a bad deployment and of a failed run is x failure_rate (failed
        # runs also sit in the fail rate's denominator, so the knob turns a bit further than
        # the metric). The deployment rate takes the metric's effect, x0.84.
        "process": {
            "handoff_team": "platform", "review_wait": 1.163, "recovery_scale": 1.09, "failure_rate": 1.145,
        },
        "description": "Central deploy platform: pipelines move to the platform team's "
        "deploy service, whose changes need a platform-team approval.",
        # The adoption curve: production deployments run by the platform's workflow. Adopters'
        # deployments move to it as they ramp in (those a portal template runs stay there).
        "workflow": {"name": "platform-deploy", "path": ".github/workflows/platform-deploy.yml",
                     "share": 1.0},
        "adoption_workflow": "^platform-deploy",
    },
    "preview-environments": {
        "kind": "environments",
        "primary_metric": "lead_time",
        # Six teams: below four on a side no difference-in-differences verdict is given, and
        # with four the adopters' own baseline drift too often explains a call away.
        "cohorts": [{"teams": ["growth", "mobile", "fulfilment", "identity", "loyalty", "content"],
                     "weeks_before_end": 46}],
        "ramp_weeks": 4,
        "effects": {
            "deployment_frequency": 1.15,
            "lead_time": 0.85,
            "recovery_time": 1.0,
            "change_fail_rate": 0.80,
            # Fewer bad deployments mean fewer hotfixes and rollbacks: rework moves with them.
            "rework_rate": 0.80,
        },
        "factors": {"throughput": 1.15, "instability": 0.80},
        # Each pull request gets deployments to the "preview" environment, reviewers try it
        # there: pickup and review waits x review_wait; failures x failure_rate;
        # recovery_scale offsets fixes shipping sooner with more deployments. All calibrated
        # like the deploy platform's.
        "process": {
            "preview_deployments": True, "review_wait": 0.687, "failure_rate": 0.793, "recovery_scale": 1.02,
        },
        "description": "Every pull request gets a preview environment that reviewers can try.",
        # The adoption curve: production deployments that shipped a pull request previewed here.
        "adoption_environment": "^preview$",
    },
    "developer-portal": {
        "kind": "portal",
        "primary_metric": "lead_time",
        # Rolled out well before the paved paths, to the busiest product teams; its window
        # (26 weeks either side) ends before the deploy platform starts, so neither confounds
        # the other.
        "cohorts": [{"teams": ["checkout", "payments", "search", "growth", "mobile", "fulfilment"],
                     "weeks_before_end": 86}],
        "ramp_weeks": 4,
        # No effect on any delivery metric: the portal's catalogue and templates exist, but
        # almost nobody deploys through them.
        "effects": {m: 1.0 for m in ("deployment_frequency", "lead_time", "recovery_time",
                                     "change_fail_rate", "rework_rate")},
        "factors": {"throughput": 1.0, "instability": 1.0},
        "process": {},
        "description": "Developer portal (service catalogue and golden-path templates); "
        "services scaffolded from a template deploy with its workflow.",
        # Adoption stalls near 10%: a tenth of the adopting teams' deployments run the
        # golden-path workflow once it is in, the rest keep their own pipelines.
        "workflow": {"name": "portal-golden-path", "path": ".github/workflows/portal-golden-path.yml",
                     "share": 0.10},
        "adoption_workflow": "portal-golden-path",
        # A history too short to hold it (weeks < 94) leaves the portal out rather than fail.
        "optional": True,
    },
}
"""The injected effects: adopting cohorts (weeks before `end` when each starts), the ramp,
and the multiplicative effect per DORA metric once the ramp is over. `injected_effects(end)`
resolves the cohorts to dates and lists the control teams."""

def fitting(effects: dict[str, dict[str, Any]], weeks: int) -> dict[str, dict[str, Any]]:
    """The effects a history of `weeks` holds: optional initiatives that start too early for
    it are left out (Schedule refuses the others)."""
    return {
        name: spec for name, spec in effects.items()
        if not spec.get("optional") or all(c["weeks_before_end"] + 8 <= weeks for c in spec["cohorts"])
    }


# Generating knob -> the metric it moves.
KNOBS = {
    "deployment_rate": "deployment_frequency",
    "failure_rate": "change_fail_rate",
    "recovery_scale": "recovery_time",
}


def default_end(today: date | None = None) -> date:
    """Monday of the current week (UTC): the demo always ends now."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


def window(end: date | None = None, weeks: int = 104) -> tuple[date, date]:
    """(first day, day after the last) of the generated history; `end` snaps to its Monday."""
    end = default_end(end)
    return end - timedelta(weeks=weeks), end


def injected_effects(end: date | None = None) -> dict[str, dict[str, Any]]:
    """INJECTED_EFFECTS with each cohort's `started_on`, all adopting `teams` and the
    `control_teams` (teams that adopted no initiative) for a history ending at `end`."""
    return resolve(INJECTED_EFFECTS, end)


def resolve(effects: dict[str, dict[str, Any]], end: date | None) -> dict[str, dict[str, Any]]:
    _, stop = window(end)
    resolved = copy.deepcopy(effects)
    adopters: set[str] = set()
    for spec in resolved.values():
        for cohort in spec["cohorts"]:
            cohort["started_on"] = stop - timedelta(weeks=cohort["weeks_before_end"])
        spec["teams"] = [t for c in spec["cohorts"] for t in c["teams"]]
        spec["started_on"] = min(c["started_on"] for c in spec["cohorts"])
        adopters.update(spec["teams"])
    controls = [t for t in TEAM_REPOS if t not in adopters]
    for spec in resolved.values():
        spec["control_teams"] = controls
    return resolved


class Schedule:
    """Who adopted what when: adoption fraction (0 before, ramping linearly to 1) per row."""

    def __init__(self, effects: dict[str, dict[str, Any]], teams: list[str], weeks: int) -> None:
        self.effects = effects
        self.cohorts: list[tuple[str, np.ndarray, float, float]] = []
        for name, spec in effects.items():
            for cohort in spec["cohorts"]:
                if cohort["weeks_before_end"] + 8 > weeks:
                    raise ValueError(f"{name}: needs at least {cohort['weeks_before_end'] + 8} weeks")
                mask = np.isin(np.array(teams), cohort["teams"])
                start = (weeks - cohort["weeks_before_end"]) * WEEK_H
                self.cohorts.append((name, mask, start, spec["ramp_weeks"] * WEEK_H))

    def adoption(self, name: str, team: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.zeros(len(t))
        for cohort, mask, start, ramp in self.cohorts:
            if cohort != name:
                continue
            frac = np.clip((t - start) / ramp, 0, 1) if ramp > 0 else (t >= start).astype(float)
            out = np.where(mask[team], frac, out)
        return out

    def multiplier(self, knob: str, team: np.ndarray, t: np.ndarray) -> np.ndarray:
        """How much an initiative turns a generating knob (a rate or a time scale), ramping
        geometrically: the metric's effect itself, unless the initiative's "process" gives a
        calibrated value for the knob."""
        log = np.zeros(len(t))
        for name, spec in self.effects.items():
            m = spec.get("process", {}).get(knob, spec["effects"].get(KNOBS[knob], 1.0))
            if m != 1.0:
                log += self.adoption(name, team, t) * math.log(m)
        return np.exp(log)


