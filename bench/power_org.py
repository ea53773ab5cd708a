"""An org simulated independently of warehouse/impact/simulate.py, and the best tests on it.

The design the power cells of bench/calibration.py use (docs/impact-method.md, "Power against
the best"): 30 teams, 10 adopters in 5 cohorts of 2 over 8 weeks, a year of history before the
first adoption, a 4-week ramp and 26 weeks after the last. Team deployment rates are lognormal
around 8 a week (sd 0.5 on the log scale); each team drifts slowly on its own (AR(1), rho 0.9,
innovations sd 0.03); all teams share an org-wide weekly factor (sd 0.05) and a Christmas dip
(x0.45 in the week of 25 December, x0.75 the week after); counts are Poisson. Each deployment
ships Poisson(2) changes whose log lead times are normal (sd 1.0) around the team's level
(24 h x lognormal sd 0.4), which drifts like the rate and moves with the org (the org factor
x -0.5: a slow week is a long one) and in the holidays (x1.3).

Breaks: a linear adopter drift (log per week, every week, in the worse direction: fewer
deployments, longer lead times), and an org-wide slowdown after the first adoption (rates
x0.75 over 8 weeks, lead times x1.15), which comparison teams share.

The best tests, given the same data with the ramp weeks left out:

* deployment frequency: a Poisson regression with team and week fixed effects and an
  adopted-after-the-ramp indicator (two-way fixed effects; with no effect heterogeneity across
  cohorts it is the efficient estimator here);
* lead time: the same two-way fixed-effects regression of each team-week's mean log lead time,
  weighted by its changes;
* each also with a linear trend for the adopting teams (its slope estimated on all weeks): the
  best test robust to a linear differential drift.

"Variance known": the test divides the estimate by its true standard deviation, the spread of
the estimates across the cell's orgs (an oracle no analysis of one org has), so its power is
an upper bound for any test of one org with the same estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from warehouse.impact.initiatives import CohortSpec, Initiative
from warehouse.impact.panel import Panel

FIRST_MONDAY = date(2024, 1, 1)
LEAD_HOURS = 24.0


@dataclass(frozen=True)
class Cell:
    name: str
    teams: int = 30
    cohorts: tuple[tuple[int, int], ...] = ((2, 52), (2, 54), (2, 56), (2, 58), (2, 60))
    after: int = 26  # weeks after the last cohort's ramp
    ramp: int = 4
    rate: float = 1.0  # multiplier of the adopters' deployment rate once settled
    lead: float = 1.0  # multiplier of their lead times
    drift: float = 0.0  # adopters' linear drift, log per week (worse direction)
    slowdown: bool = False
    window: int = 26  # the plan's window
    primary: str = "lead_time"  # the plan's primary metric
    alternatives: tuple[str, ...] = field(default=("deployment_frequency", "lead_time"))

    @property
    def weeks(self) -> int:
        return max(s for _, s in self.cohorts) + self.ramp + self.after


def simulate(cell: Cell, rng: np.random.Generator) -> tuple[Panel, Initiative]:
    n, t = cell.teams, cell.weeks
    weeks = np.arange(t)
    days = [FIRST_MONDAY + timedelta(weeks=int(w)) for w in weeks]
    christmas = np.array([d <= date(d.year, 12, 25) < d + timedelta(days=7) for d in days])
    after_christmas = np.roll(christmas, 1)
    after_christmas[0] = False
    holiday = np.where(christmas, math.log(0.45), 0.0) + np.where(after_christmas, math.log(0.75), 0.0)
    names = [f"team-{i:02d}" for i in range(n)]
    share = np.zeros((n, t))
    adopter = np.zeros(n, dtype=bool)
    cohorts, k = [], 0
    for size, start in cell.cohorts:
        share[k : k + size] = np.clip((weeks - start + 1) / (cell.ramp + 1), 0, 1)[None, :]
        adopter[k : k + size] = True
        cohorts.append(CohortSpec(tuple(names[k : k + size]), days[start]))
        k += size

    def ar1(rho: float = 0.9, sd: float = 0.03) -> np.ndarray:
        out = np.zeros((n, t))
        out[:, 0] = rng.normal(0, sd / math.sqrt(1 - rho**2), n)
        shocks = rng.normal(0, sd, (n, t))
        for w in range(1, t):
            out[:, w] = rho * out[:, w - 1] + shocks[:, w]
        return out

    org = rng.normal(0, 0.05, t)
    slow = np.zeros(t)
    if cell.slowdown:
        first = min(s for _, s in cell.cohorts)
        slow = np.where(weeks >= first, np.minimum((weeks - first + 1) / 8, 1), 0.0)
    drift = cell.drift * adopter[:, None] * (weeks[None, :] - t / 2)
    log_rate = (
        math.log(8) + rng.normal(0, 0.5, n)[:, None] + ar1() + org + holiday
        + slow * math.log(0.75) + share * math.log(cell.rate) - drift
    )
    deployments = rng.poisson(np.exp(log_rate)).astype(float)
    changes = rng.poisson(2.0 * deployments).astype(float)

    def log_sum(count: np.ndarray, hours: float, effect: float = 1.0, sigma: float = 1.0) -> np.ndarray:
        level = (
            math.log(hours) + rng.normal(0, 0.4, n)[:, None] + ar1() - 0.5 * org
            + np.where(christmas | after_christmas, math.log(1.3), 0.0)
            + slow * math.log(1.15) + share * math.log(effect) + drift
        )
        return count * level + np.sqrt(count) * sigma * rng.standard_normal((n, t))

    fail_p = np.clip(0.1 * np.exp(rng.normal(0, 0.3, n)), 0, 0.9)[:, None]
    failed = rng.binomial(deployments.astype(int), np.broadcast_to(fail_p, (n, t))).astype(float)
    rework = rng.binomial(deployments.astype(int), 0.05).astype(float)
    prs = rng.binomial(changes.astype(int), 0.5).astype(float)
    values = {
        "active": np.ones((n, t)),
        "deployments": deployments,
        "production_deployments": deployments,
        "failed": failed,
        "rework": rework,
        "recoveries": failed,
        "recovery_log": log_sum(failed, 3.0),
        "changes": changes,
        "lead_log": log_sum(changes, LEAD_HOURS, cell.lead),
        "prs": prs,
        "outside_reviews": rng.poisson(0.5 * prs).astype(float),
        "teams_touching": prs + rng.poisson(0.2 * prs),
    }
    for stage, hours in (("coding", 8.0), ("pickup", 3.0), ("review", 5.0), ("deploy_wait", 4.0)):
        values[f"{stage}_n"] = prs
        values[f"{stage}_log"] = log_sum(prs, hours)
    panel = Panel(names, days, values, t)
    initiative = Initiative(
        cell.name, "deploy platform", tuple(cohorts), ramp_weeks=cell.ramp,
        primary_metric=cell.primary, window_weeks=cell.window,
    )
    return panel, initiative


def best_estimates(panel: Panel, cell: Cell) -> dict[str, float]:
    """The two-way fixed-effects estimates (log scale) of the adopters' effect, plain and with
    the adopters' linear trend: keys deployment_frequency, lead_time, and the same + '_trend'."""
    n, t = panel.n_teams, len(panel.weeks)
    weeks = np.arange(t)
    treated = np.zeros((n, t))
    ramp = np.zeros((n, t), dtype=bool)
    adopter = np.zeros(n)
    k = 0
    for size, start in cell.cohorts:
        treated[k : k + size] = (weeks >= start + cell.ramp)[None, :]
        ramp[k : k + size] = ((weeks >= start) & (weeks < start + cell.ramp))[None, :]
        adopter[k : k + size] = 1
        k += size
    keep = ~ramp.ravel()
    team = np.repeat(np.arange(n), t)[keep]
    week = np.tile(weeks, n)[keep]
    base = np.column_stack([
        np.eye(n)[team],
        np.eye(t)[week][:, 1:],
        treated.ravel()[keep],
    ])
    trend = (adopter[:, None] * (weeks[None, :] - t / 2)).ravel()[keep] / t
    out = {}
    y = panel["deployments"].ravel()[keep]
    changes = panel["changes"].ravel()[keep]
    lead_log = panel["lead_log"].ravel()[keep]
    mean_log = np.divide(lead_log, changes, out=np.zeros_like(changes), where=changes > 0)
    ok = changes > 0
    for suffix, x in (("", base), ("_trend", np.column_stack([base, trend]))):
        out["deployment_frequency" + suffix] = float(poisson(y, x)[n + t - 1])
        out["lead_time" + suffix] = float(weighted_ls(mean_log[ok], x[ok], changes[ok])[n + t - 1])
    return out


def weighted_ls(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    xw = x * w[:, None]
    return np.linalg.lstsq(xw.T @ x, xw.T @ y, rcond=None)[0]


def poisson(y: np.ndarray, x: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Poisson maximum likelihood by iteratively reweighted least squares (the fixed effects
    are dummies in x; a few thousand rows and ~120 columns solve in milliseconds)."""
    mu = y + 0.5
    eta = np.log(mu)
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        z = eta + (y - mu) / mu
        new = weighted_ls(z, x, mu)
        eta = np.clip(x @ new, -30, 30)
        mu = np.exp(eta)
        if np.max(np.abs(new - beta)) < 1e-9:
            return new
        beta = new
    return beta


def oracle_power(estimates: list[float]) -> float:
    """Share of orgs the known-variance test calls (|estimate| / true sd > 1.96): the true sd
    is the spread of the estimates across the cell's orgs."""
    x = np.asarray(estimates)
    sd = float(x.std(ddof=1))
    return float(np.mean(np.abs(x) / sd > 1.959964))
