"""Simulated team panels with a known effect: the ground truth the estimators are checked on.

Used by the tests and by bench/calibration.py. An org of teams delivers week by week:

* every team has its own deployment rate, change fail rate, rework rate and duration levels;
* all teams share week-to-week swings (an org-wide factor), optionally an org-wide slowdown
  (a trend down plus a two-week holiday dip) after adoption - the trap for before/after;
* each team drifts on its own (AR(1) shocks, so a team's weeks are correlated);
* deployments are over-dispersed counts (gamma-Poisson), failures and rework binomial,
  durations log-normal per event (simulated as weekly sums of logs);
* adopting cohorts get multiplicative effects, ramping in linearly over the ramp weeks
  (each cohort its own multiple of them, when `cohort_scale` says so);
* optionally teams go quiet: some stop shipping for good, some pause for 4-8 weeks, adopting
  and comparison teams alike (weeks with zero deployments that still count);
* optionally (Scenario.instant), a share of a stage's durations is under the one-minute floor:
  each team has its own share around the base, the adopters' share is multiplied by
  effects["<stage>_instant"], and only the other durations are log-normal, so the stage's
  `effects` entry moves the positive part alone (two_part.py's two parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.panel import Panel
from warehouse.impact.two_part import FLOOR_HOURS

FIRST_MONDAY = date(2024, 1, 1)
# Effects (multipliers per DORA metric) used by the calibration and the tests: DORA 2024's
# average for more platform focus (throughput -8%, instability +14%), and a large one.
DORA_EFFECT = {
    "deployment_frequency": 0.92,
    "lead_time": 1 / 0.92,
    "recovery_time": 1 / 0.92,
    "change_fail_rate": 1.14,
    "rework_rate": 1.14,
}
LARGE_EFFECT = {
    "deployment_frequency": 0.7,
    "lead_time": 1 / 0.7,
    "recovery_time": 1 / 0.7,
    "change_fail_rate": 1.5,
    "rework_rate": 1.5,
}
SIGMA_LOG = {"lead": 1.0, "recovery": 1.0, "coding": 1.0, "pickup": 1.2, "review": 1.0, "deploy_wait": 0.8}
BASE_HOURS = {"lead": 30.0, "recovery": 3.0, "coding": 8.0, "pickup": 3.0, "review": 5.0, "deploy_wait": 4.0}


@dataclass
class Scenario:
    teams: int = 30
    cohorts: tuple[tuple[int, int], ...] = ((10, 30),)  # (teams, start week)
    weeks: int = 64
    ramp: int = 4
    # Multiplicative effects on the adopting teams once settled: deployment frequency, change
    # fail rate, rework rate and durations (lead, recovery, coding, pickup, review, deploy_wait).
    effects: dict[str, float] = field(default_factory=dict)
    slowdown: bool = False  # org-wide slowdown and holiday dip after the first adoption
    # Only the first `effect_teams` adopting teams really change (None: all): declared
    # adopters that never moved to the new path.
    effect_teams: int | None = None
    deploys_per_week: float = 5.0
    # Breaking the estimators' assumptions: a differential trend of the adopting teams (log
    # per week, every week, in the worse direction: fewer deployments, longer durations), and
    # an autocorrelated org-wide factor (AR(1) with this rho, same stationary spread).
    adopter_trend: float = 0.0
    org_rho: float = 0.0
    # Each cohort's effects are `effects` with their logs times its scale (None: all 1), so
    # staggered cohorts can differ: (2, 0) is twice the effect for the first, none for the second.
    cohort_scale: tuple[float, ...] | None = None
    # Shares of teams that stop shipping for good at a random week, and that pause for 4-8
    # weeks, drawn among all teams whatever their adoption: the truth stays the effects.
    stop_share: float = 0.0
    pause_share: float = 0.0
    # Durations under the one-minute floor: base share per duration key ("pickup", "lead",
    # "coding", "review", "deploy_wait"); effects["pickup_instant"] multiplies the share.
    instant: dict[str, float] = field(default_factory=dict)
    name: str = "simulated"


def simulate(scenario: Scenario, rng: np.random.Generator) -> tuple[Panel, Initiative]:
    n, t = scenario.teams, scenario.weeks
    weeks = np.arange(t)
    effect_share = np.zeros((n, t))  # 0 before adoption, ramping to 1
    cohorts, k = [], 0
    names = [f"team-{i:02d}" for i in range(n)]
    scales = scenario.cohort_scale or (1.0,) * len(scenario.cohorts)
    for (size, start), scale in zip(scenario.cohorts, scales, strict=True):
        share = np.clip((weeks - start + 1) / (scenario.ramp + 1), 0, 1)
        effect_share[k : k + size] = scale * share[None, :]
        cohorts.append(CohortSpec(tuple(names[k : k + size]), FIRST_MONDAY + timedelta(weeks=start)))
        k += size
    if scenario.effect_teams is not None:
        effect_share[scenario.effect_teams :] = 0

    def effect(key: str) -> np.ndarray:
        return effect_share * np.log(scenario.effects.get(key, 1.0))

    def ar1(sd: float, rho: float = 0.5) -> np.ndarray:
        shocks = rng.normal(0, sd, (n, t))
        out = np.zeros((n, t))
        out[:, 0] = shocks[:, 0] / np.sqrt(1 - rho**2)
        for w in range(1, t):
            out[:, w] = rho * out[:, w - 1] + shocks[:, w]
        return out

    org = rng.normal(0, 0.08, t)  # org-wide weekly swings (log scale)
    if scenario.org_rho:
        rho = scenario.org_rho
        for w in range(1, t):
            org[w] = rho * org[w - 1] + np.sqrt(1 - rho**2) * org[w]
    adopters = np.zeros(n)
    adopters[: sum(size for size, _ in scenario.cohorts)] = 1
    drift = scenario.adopter_trend * adopters[:, None] * (weeks[None, :] - t / 2)
    if scenario.slowdown:
        first = min(s for _, s in scenario.cohorts)
        org = org + np.where(weeks >= first, -0.25 * np.minimum((weeks - first) / 8, 1), 0)
        dip = (weeks >= first + scenario.ramp + 6) & (weeks < first + scenario.ramp + 8)
        org = org + np.where(dip, -0.7, 0)
    team_rate = np.log(scenario.deploys_per_week) + rng.normal(0, 0.5, n)
    log_rate = team_rate[:, None] + org[None, :] + ar1(0.15) + effect("deployment_frequency") - drift
    mean = np.exp(log_rate) * quiet(scenario, rng, n, t)
    deployments = rng.poisson(rng.gamma(5.0, mean / 5.0))  # over-dispersed
    cfr = np.clip(
        0.12 * np.exp(rng.normal(0, 0.3, n))[:, None] * np.exp(effect("change_fail_rate") + 0.5 * ar1(0.1)),
        0,
        0.9,
    )
    failed = rng.binomial(deployments, cfr)
    rework_p = np.clip(0.06 * np.exp(rng.normal(0, 0.3, n))[:, None] * np.exp(effect("rework_rate")), 0, 0.9)
    rework = rng.binomial(deployments, rework_p)
    changes = rng.poisson(3.0 * deployments)
    prs = rng.binomial(changes, 0.5)
    # Durations get slower, not faster, when the org slows down.
    slow = -0.5 * org[None, :]

    instants: dict[str, np.ndarray] = {}

    def log_sum(count: np.ndarray, key: str, metric: str) -> np.ndarray:
        team = np.log(BASE_HOURS[key]) + rng.normal(0, 0.5, n)[:, None]
        level = team + slow + ar1(0.15) + effect(metric) + drift
        if key in scenario.instant:
            # Team shares with mean the base (log-normal spread 0.2), times the effect.
            spread = rng.normal(0, 0.2, n)[:, None] - 0.02
            share = np.clip(scenario.instant[key] * np.exp(spread + effect(f"{key}_instant")), 0, 0.95)
            instants[key] = rng.binomial(count, share).astype(float)
            floored = instants[key] * np.log(FLOOR_HOURS)
            count = count - instants[key]
        else:
            floored = 0.0
        return floored + count * level + np.sqrt(count) * SIGMA_LOG[key] * rng.standard_normal((n, t))

    values = {
        "active": np.ones((n, t)),
        "deployments": deployments.astype(float),
        "production_deployments": deployments.astype(float),
        "failed": failed.astype(float),
        "rework": rework.astype(float),
        "recoveries": failed.astype(float),
        "recovery_log": log_sum(failed, "recovery", "recovery_time"),
        "changes": changes.astype(float),
        "lead_log": log_sum(changes, "lead", "lead_time"),
        "prs": prs.astype(float),
        "outside_reviews": rng.poisson(0.6 * prs * np.exp(effect("outside_reviews"))).astype(float),
        "teams_touching": (prs + rng.poisson(0.3 * prs)).astype(float),
    }
    for stage in ("coding", "pickup", "review", "deploy_wait"):
        values[f"{stage}_n"] = prs.astype(float)
        metric = "deploy_wait" if stage == "deploy_wait" else f"{stage}_time"
        values[f"{stage}_log"] = log_sum(prs, stage, metric)
    values.update({f"{key}_instant": array for key, array in instants.items()})
    panel = Panel(names, [FIRST_MONDAY + timedelta(weeks=int(w)) for w in weeks], values, t)
    initiative = Initiative(scenario.name, "deploy platform", tuple(cohorts), ramp_weeks=scenario.ramp)
    return panel, initiative


def quiet(scenario: Scenario, rng: np.random.Generator, n: int, t: int) -> np.ndarray:
    """(teams, weeks) 0 where a team ships nothing (stopped for good, or paused), else 1.
    A quiet team still exists: its weeks count, with zero deployments and no changes."""
    out = np.ones((n, t))
    if not (scenario.stop_share or scenario.pause_share):
        return out  # no draws: every other scenario keeps its random numbers
    stopping = rng.random(n) < scenario.stop_share
    for i in np.flatnonzero(stopping):
        out[i, rng.integers(t // 4, t - 4) :] = 0
    pausing = rng.random(n) < scenario.pause_share
    for i in np.flatnonzero(pausing):
        start = rng.integers(0, t - 8)
        out[i, start : start + rng.integers(4, 9)] = 0
    return out
