"""How well `alert` separates regressions from noise, on simulated weekly series.

The series are built like the demo org's (collectors/synthetic.py): per week, a team's expected
deployments are its volume x holidays (August 0.72, late December 0.45, Christmas week 0.12) x
an org-wide drift (a random walk, 1% a week) x org-week noise (lognormal, sd 0.06) x team-week
noise (lognormal, sd 0.10), and the count is Poisson. Each change's lead time is lognormal
around 24 h (sd 1.0 on the log scale) with the same org and team-week noise (sd 0.10) and 30%
longer in holiday weeks; a team has twice as many changes as deployments. The team sits in an
org of 11 other teams of 25 deployments a week.

Measured, for deployment frequency falling and lead time rising, at team volumes of 5, 25 and
100 deployments a week and for the org as a whole (all 12 teams moving together):

* false alarms per team-year with no change: weekly runs of the default rule (4 recent weeks
  against 12, at least 20%), counting every regression it opens;
* detection delay, the weekly runs from the start of a sustained 10%, 20% or 30% change until
  the alert (at most 26; a change still undetected then counts as never);
* the same delay for the optimal sequential test that knows the rates before and after: a CUSUM
  of the log-likelihood ratio on the counts (on the changes' log lead times), with its
  threshold set so that it raises the same false alarms per team-year as the rule, in the same
  bench.

    .venv/bin/python bench/alerts.py            # ~1 min
    .venv/bin/python bench/alerts.py --reps 50  # quicker

Prints Markdown tables (pasted into docs/alerts.md).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warehouse.alert_rules import AlertRule  # noqa: E402
from warehouse.alerts import judge_series, quiet_weeks  # noqa: E402

RULE = {m: AlertRule(metric=m) for m in ("deployment_frequency", "lead_time")}
WINDOW = 16  # 12 baseline + 4 recent weeks
MAX_DELAY = 26
OTHER_TEAMS, OTHER_VOLUME = 11, 25.0
LEAD_SIGMA, LEAD_MEDIAN_H = 1.0, 24.0


def season(weeks: np.ndarray) -> np.ndarray:
    woy = weeks % 52
    out = np.ones(len(weeks))
    out[(woy >= 31) & (woy <= 34)] = 0.72
    out[(woy == 50) | (woy == 0)] = 0.45
    out[woy == 51] = 0.12
    return out


@dataclass
class Series:
    """One simulated team inside its org: weekly values, and what the oracle knows."""

    team: np.ndarray  # deployments, or weekly median lead hours
    team_n: np.ndarray  # changes per week (lead time)
    org: np.ndarray
    org_n: np.ndarray
    org_deployments: np.ndarray
    mean0: np.ndarray  # the oracle's pre-change mean: expected count, or mean log lead time
    raw: list  # lead time: each week's log lead times of the team (the oracle's data)


def simulate(rng, metric: str, volume: float, weeks: int, change_at: int | None, size: float,
             org_wide: bool) -> Series:
    t = np.arange(weeks)
    offset = rng.integers(0, 52)
    s = season(t + offset)
    drift = np.exp(np.cumsum(rng.normal(0, 0.01, weeks)))
    org_noise = rng.lognormal(0, 0.06, weeks)
    common = s * drift * org_noise
    team_noise = rng.lognormal(0, 0.10, weeks)
    other_noise = rng.lognormal(0, 0.10, (OTHER_TEAMS, weeks))
    changed = np.zeros(weeks, dtype=bool) if change_at is None else t >= change_at
    freq_effect = np.where(changed, 1 - size, 1.0) if metric == "deployment_frequency" else np.ones(weeks)
    lead_effect = np.where(changed, 1 + size, 1.0) if metric == "lead_time" else np.ones(weeks)
    team = rng.poisson(volume * common * team_noise * freq_effect).astype(float)
    other_scale = freq_effect if org_wide else np.ones(weeks)
    others = rng.poisson(OTHER_VOLUME * common * other_noise * other_scale).astype(float)
    org_deployments = team + others.sum(axis=0)
    if metric == "deployment_frequency":
        mean0 = volume * common
        return Series(team, team, org_deployments, org_deployments, org_deployments, mean0, [])
    holiday_slow = np.where(s < 1, 1.3, 1.0)
    mu = math.log(LEAD_MEDIAN_H) + np.log(holiday_slow * org_noise)
    team_med, team_n, org_med, org_n, raw = (np.full(weeks, np.nan), np.zeros(weeks), np.full(weeks, np.nan),
                                             np.zeros(weeks), [])
    other_effect = lead_effect if org_wide else np.ones(weeks)
    for w in range(weeks):
        n = rng.poisson(2 * team[w]) if team[w] > 0 else 0
        y = rng.normal(mu[w] + math.log(team_noise[w]) + math.log(lead_effect[w]), LEAD_SIGMA, n)
        m = rng.poisson(2 * others[:, w])
        z = np.concatenate([rng.normal(mu[w] + math.log(other_noise[k, w]) + math.log(other_effect[w]),
                                       LEAD_SIGMA, m[k]) for k in range(OTHER_TEAMS)])
        pooled = np.concatenate([y, z])
        raw.append(y if not org_wide else pooled)
        team_n[w], org_n[w] = n, len(pooled)
        if n:
            team_med[w] = math.exp(float(np.median(y)))
        if len(pooled):
            org_med[w] = math.exp(float(np.median(pooled)))
    return Series(team_med, team_n, org_med, org_n, org_deployments, mu, raw)


def rule_alarms(metric: str, sr: Series, start: int, stop: int, is_org: bool) -> list[int]:
    """Runs (week indices t: judged on weeks t-16 .. t-1) at which the rule opens a regression."""
    rule = RULE[metric]
    frozen, alarms = None, []
    values = sr.org if is_org else sr.team
    counts = sr.org_n if is_org else sr.team_n
    for t in range(start, stop):
        w = slice(t - WINDOW, t)
        quiet = quiet_weeks(sr.org_deployments[w], rule.recent_weeks)
        ly = slice(t - WINDOW - 52, t - 52)
        has_year = is_org and t - WINDOW - 52 >= 0
        last_year = (values[ly], counts[ly], sr.org_deployments[ly]) if has_year else None
        j = judge_series(metric, values[w], sr.org[w], quiet, rule.recent_weeks, rule.min_change,
                         rule.direction, is_org, counts[w], sr.org_n[w], frozen, last_year)
        if j.status == "regressed" and frozen is None:
            alarms.append(t)
            frozen = (j.center, j.scale)
        elif j.status == "ok" and frozen is not None:
            frozen = None
    return alarms


def cusum_increments(metric: str, sr: Series, size: float, is_org: bool) -> np.ndarray:
    """Log-likelihood ratio per week of 'changed by size' against 'unchanged', true parameters."""
    if metric == "deployment_frequency":
        counts = sr.org_deployments if is_org else sr.team
        lam0 = sr.mean0 * ((1 + OTHER_TEAMS * OTHER_VOLUME / VOLUME[0]) if is_org else 1.0)
        ratio = 1 - size
        return counts * math.log(ratio) - (ratio - 1) * lam0
    delta = math.log(1 + size)
    sigma2 = LEAD_SIGMA**2 + 0.10**2
    pairs = zip(sr.raw, sr.mean0, strict=True)
    return np.array([float(np.sum((y - mu) * delta - delta**2 / 2) / sigma2) for y, mu in pairs])


VOLUME = [25.0]  # the simulated team's volume (read by cusum_increments for the org's mean)


def cusum_alarms(incs: np.ndarray, h: float, start: int, stop: int) -> list[int]:
    s, alarms = 0.0, []
    for t in range(start, stop):
        s = max(0.0, s + incs[t - 1])  # run t sees week t-1
        if s > h:
            alarms.append(t)
            s = 0.0
    return alarms


def calibrate_h(incs_list: list[np.ndarray], start: int, stop: int, target: float, years: float) -> float:
    """The smallest threshold whose false alarms per team-year are at most `target`."""
    low, high = 0.1, 60.0
    for _ in range(40):
        mid = (low + high) / 2
        rate = sum(len(cusum_alarms(i, mid, start, stop)) for i in incs_list) / years
        low, high = (mid, high) if rate > target else (low, mid)
    return high


def scenario(metric: str, volume: float, is_org: bool, reps: int, years: int, seed: int) -> dict:
    VOLUME[0] = volume
    rng = np.random.default_rng(seed)
    first = WINDOW + 52  # a year of history before the first run (the org's seasonal baseline)
    weeks = first + 52 * years
    null = [simulate(rng, metric, volume, weeks, None, 0.0, is_org) for _ in range(reps)]
    team_years = reps * years
    fa = sum(len(rule_alarms(metric, sr, first, weeks, is_org)) for sr in null) / team_years
    target = max(fa, 0.5 / team_years)
    out = {"metric": metric, "volume": "org" if is_org else volume, "false_alarms": fa,
           "team_years": team_years}
    for size in (0.1, 0.2, 0.3):
        incs_null = [cusum_increments(metric, sr, size, is_org) for sr in null]
        h = calibrate_h(incs_null, first, weeks, target, team_years)
        ours, oracle = [], []
        for _ in range(reps):
            change_at = first + int(rng.integers(0, 52))
            stop = change_at + MAX_DELAY + 1
            sr = simulate(rng, metric, volume, stop, change_at, size, is_org)
            alarms = [t for t in rule_alarms(metric, sr, change_at + 1, stop, is_org)]
            ours.append(alarms[0] - change_at if alarms else math.inf)
            incs = cusum_increments(metric, sr, size, is_org)
            c = cusum_alarms(incs, h, change_at + 1, stop)
            oracle.append(c[0] - change_at if c else math.inf)
        out[size] = (float(np.median(ours)), float(np.median(oracle)),
                     float(np.mean(np.isfinite(ours))), float(np.mean(np.isfinite(oracle))))
    return out


def fmt_delay(value: float) -> str:
    return f"> {MAX_DELAY}" if not math.isfinite(value) else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=100, help="series per scenario")
    parser.add_argument("--years", type=int, default=3, help="years per null series")
    args = parser.parse_args()
    began = time.monotonic()
    rows = []
    for metric in ("deployment_frequency", "lead_time"):
        for i, (volume, is_org) in enumerate(((5.0, False), (25.0, False), (100.0, False), (25.0, True))):
            rows.append(scenario(metric, volume, is_org, args.reps, args.years, seed=1000 + 10 * i))
            print(f"  {metric} {'org' if is_org else volume}: done ({time.monotonic() - began:.0f} s)",
                  file=sys.stderr)
    print("| metric | team volume (deploys/week) | false alarms per team-year | "
          "median delay, weeks (rule / CUSUM oracle) at 10% | at 20% | at 30% | "
          "detected within 26 weeks at 10/20/30% (rule / oracle) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        delays = " | ".join(f"{fmt_delay(r[s][0])} / {fmt_delay(r[s][1])}" for s in (0.1, 0.2, 0.3))
        detected = ", ".join(f"{r[s][2]:.0%} / {r[s][3]:.0%}" for s in (0.1, 0.2, 0.3))
        print(f"| {r['metric']} | {r['volume']} | {r['false_alarms']:.3f} ({r['team_years']} team-years) | "
              f"{delays} | {detected} |")
    print(f"\n{args.reps} series per scenario, {args.years} years each under no change; "
          f"{time.monotonic() - began:.0f} s.")


if __name__ == "__main__":
    main()
