"""The regression detector on weekly arrays: a CUSUM of quasi-likelihood ratios against a frozen
baseline (docs/alerts.md, "Detection"). Pure numpy, shared by warehouse/alerts.py and
bench/alerts.py, so that the bench measures the code that runs.

A series is one of three kinds:

* "share": y events out of n trials per week, judged as a binomial proportion. A team's
  deployments against the org's (n = team + rest): a week when every team deploys less moves
  y and n together and leaves the share alone, so holidays and org-wide drift cancel. The
  change fail rate (failed deployments out of deployments) is a share too, and the org's
  deployments this week against the same week a year before (n = this + last year's).
* "count": y events per week against the series' own level (Poisson), when there is nothing
  to compare with (the org with under a year and a half of history).
* "gauss": a value per week on the log scale (log weekly median hours, a team's minus the
  org's), normal with the baseline's mean and standard deviation.

Each week adds the log-likelihood ratio of "the change has happened" against "the baseline
still holds" to S = max(0, S + llr), for two alternatives at once (DESIGN_POWERS): for the
default 25% fall, a 25% and a 44% fall (the first catches a 30% drop, the second a 50% drop in
fewer weeks); a regression opens
when either S reaches the threshold H and the change since its onset is at least
GATE_FRACTION of the rule's. Counts' ratios are divided by the baseline's overdispersion
(Pearson chi-square over its degrees of freedom less its standard error, at least 1): a
quasi-likelihood, so that a team whose weeks vary more than Poisson does not alarm more often.
The baseline is the weeks before the current excursion began (at least BASELINE_WEEKS, up to
MAX_BASELINE_WEEKS when the history holds them), estimated again only after S has stood at 0
for CALM_WEEKS weeks in a row (or when a regression closed, or an excursion started anew): it
does not move while evidence accumulates, and a good week inside a drop does not pull the drop
into it. An open regression closes when a recovery CUSUM, R = max(0, R - llr), reaches
CLOSE_FRACTION x H; the baseline then restarts. H is set by bench/alerts.py to the
false-alarm goal under persistent (AR(1)) team drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Kind = Literal["share", "count", "gauss"]
BASELINE_WEEKS = 26
# The baseline takes up to a year when the history holds it: a rate estimated from 52 weeks
# has half the variance of one from 26 (a low-volume team's 26-week rate is off by about 8%).
MAX_BASELINE_WEEKS = 52
# Weeks in a row at S = 0 before the baseline is estimated again. Half a year: a baseline taken
# again as soon as the evidence is back at zero is taken just after weeks that ran above the
# reference (that is what brought S to zero), and under persistent team drift such a baseline
# is too high for the weeks after it: false alarms (`bench/alerts.py --without calm`). The
# price: a series seldom calm for half a year keeps an old baseline.
CALM_WEEKS = 26
MIN_BASELINE_USABLE = 13  # at least half the baseline weeks must carry data
# Thresholds per kind, and for counts and shares per volume band, set by `bench/alerts.py
# --calibrate --orgs 30` under the persistent-drift noise model to a team's false-alarm budget
# of 0.17 a year for its two default rules (the goal is 0.2; the rest is margin), split: 0.145
# for deployment frequency (shares, and counts alike), 0.025 for lead time (log values). The
# bands give every team the same false-alarm rate whatever its volume: at one threshold a team
# deploying 20 or more times a week alarmed about five times as often under drift as one
# deploying under 5 (its weeks are mostly drift, the other's mostly Poisson noise, which the
# overdispersion divisor does not tell apart), so the budget went to the teams that least
# needed it.
VOLUME_BANDS = (5.0, 10.0, 20.0)  # the baseline's events a week: under 5, 5-10, 10-20, 20 or more
THRESHOLD: dict[str, tuple[float, ...]] = {
    "share": (4.38, 5.16, 6.27, 7.64),
    "count": (4.38, 5.16, 6.27, 7.64),
    "gauss": (10.69,),
}
CLOSE_FRACTION = 0.5
GATE_FRACTION = 0.8  # an alarm needs at least 80% of the rule's change since its onset
MIN_SIGMA = 0.02  # log scale: a constant series still has some noise
MAX_RHO = 0.5  # the persistence correction (log values) at most triples the variance
# The two CUSUMs' alternatives, as powers of the rule's ratio: the rule's change and twice it
# (for the default 25% fall, a 25% and a 44% fall).
DESIGN_POWERS = (1.0, 2.0)
MAX_HOLIDAY_RUN = 3  # a quiet stretch longer than this is a real dip, not a holiday


def quiet_mask(org_counts: np.ndarray, window: int = BASELINE_WEEKS) -> np.ndarray:
    """Org-wide quiet weeks (holidays): under half the median of the `window` weeks before,
    in runs of at most MAX_HOLIDAY_RUN weeks (a dip that lasts is a regression, not a holiday).
    Computed from the past only, so that it is the same whichever week a run stops at, except
    for a run of quiet weeks still growing at the end."""
    c = np.asarray(org_counts, dtype=float)
    quiet = np.zeros(len(c), dtype=bool)
    for t in range(len(c)):
        before = c[max(0, t - window):t]
        before = before[~quiet[max(0, t - window):t]]
        if len(before) >= 4:
            quiet[t] = c[t] < 0.5 * float(np.median(before))
    out = quiet.copy()
    t = 0
    while t < len(c):
        if quiet[t]:
            end = t
            while end < len(c) and quiet[end]:
                end += 1
            if end - t > MAX_HOLIDAY_RUN:
                out[t:end] = False
            t = end
        else:
            t += 1
    return out


@dataclass
class Baseline:
    """The frozen reference: a share p, a rate, or a mean and sd on the log scale."""

    level: float
    spread: float  # overdispersion (count kinds) or sd (gauss)
    weeks: int  # usable weeks it was estimated from
    start: int  # index of its first week
    stop: int  # index after its last week
    volume: float = 0.0  # events a week (count kinds): what its threshold depends on


@dataclass
class Path:
    """The detector run over a whole series: every alarm, and the state after the last week."""

    status: Literal["open", "ok", "skipped"] = "skipped"
    reason: str = "no baseline yet"
    s: float = 0.0  # the CUSUM after the last week
    onset: int | None = None  # first week of the current excursion / open regression
    opened: int | None = None  # week the open regression was raised
    baseline: Baseline | None = None
    alarms: list[int] = field(default_factory=list)  # weeks at which a regression opened
    closes: list[int] = field(default_factory=list)
    absorbed: list[int] = field(default_factory=list)  # weeks a long regression became the baseline
    change: float | None = None  # relative change since onset, in the rule's metric


def _baseline(kind: Kind, y, n, usable, stop: int, weeks: int, floor: int = 0) -> Baseline | None:
    """The reference from the weeks before `stop`: at least `weeks` of them, up to
    MAX_BASELINE_WEEKS when the history holds them, never before `floor` (the onset of a level
    the series settled at)."""
    if stop - weeks < floor:
        return None
    start = max(floor, stop - max(weeks, MAX_BASELINE_WEEKS))
    u = usable[start:stop]
    m = int(u.sum())
    if m < MIN_BASELINE_USABLE:
        return None
    yy = y[start:stop][u]
    if kind == "gauss":
        mean = float(np.mean(yy))
        sd = max(float(np.std(yy, ddof=1)), MIN_SIGMA)
        return Baseline(mean, sd * math.sqrt(persistence(yy - mean)), m, start, stop)
    volume = float(np.mean(yy))
    if kind == "share":
        nn = n[start:stop][u]
        total = float(nn.sum())
        p = float(yy.sum()) / total if total else 0.0
        if not 0 < p < 1:
            return None
        resid = (yy - nn * p) / np.sqrt(np.maximum(nn, 1e-9) * p * (1 - p))
        resid = resid[nn > 0]
    else:
        p = float(np.mean(yy))
        if p <= 0:
            return None
        resid = (yy - p) / math.sqrt(p)
    return Baseline(p, dispersion(resid), m, start, stop, volume)


def threshold_for(kind: Kind, base: Baseline) -> float:
    """The calibrated threshold of a kind, for counts and shares that of the baseline's volume band."""
    bands = THRESHOLD[kind]
    if len(bands) == 1:
        return bands[0]
    return bands[int(np.searchsorted(VOLUME_BANDS, base.volume, side="right"))]


def dispersion(resid: np.ndarray) -> float:
    """The quasi-likelihood's divisor for counts: the Pearson overdispersion of the baseline's
    standardised residuals less one standard error of it (sqrt(2 / df), what a Poisson series'
    estimate wanders by), at least 1 (Poisson is the floor). Without the standard error taken
    off, a Poisson team's estimate is above 1 half the time by chance and its evidence is divided
    by it; those are the low-volume teams, where the misses are. No persistence factor here: on
    counts its lag-1 estimate is mostly Poisson noise, it widened the band of low-volume teams
    more than that of the high-volume ones (where drift raises false alarms), and detection was
    better without it at the same false-alarm rate (bench/alerts.py)."""
    df = max(len(resid) - 1, 1)
    return max(1.0, float(np.sum(resid**2)) / df - math.sqrt(2 / df))


def persistence(resid: np.ndarray) -> float:
    """How much more a sum of these weeks varies than independent weeks would: the long-run
    variance factor (1 + rho) / (1 - rho) of the lag-1 autocorrelation rho, clipped to
    [0, MAX_RHO]. A team with good and bad quarters gets a wider band, one whose weeks are
    independent keeps the full sensitivity."""
    if len(resid) < 4:
        return 1.0
    r = resid - resid.mean()
    denom = float(np.sum(r**2))
    rho = float(np.sum(r[1:] * r[:-1])) / denom if denom > 0 else 0.0
    rho = min(max(rho, 0.0), MAX_RHO)
    return (1 + rho) / (1 - rho)


def shifted(kind: Kind, base: Baseline, ratio: float) -> float:
    """The alternative: the rate (odds of the share's events, for a share) times `ratio`, or
    the log-scale mean moved by log(ratio)."""
    if kind == "gauss":
        return base.level + math.log(ratio)
    if kind == "share":
        odds = base.level / (1 - base.level) * ratio
        return odds / (1 + odds)
    return base.level * ratio


def llr(kind: Kind, base: Baseline, alt: float, y: float, n: float) -> float:
    """Log-likelihood ratio of one week, the alternative against the baseline."""
    if kind == "gauss":
        mu0, sd = base.level, base.spread
        return (alt - mu0) * (y - (mu0 + alt) / 2) / sd**2
    if kind == "share":
        p0 = base.level
        return (y * math.log(alt / p0) + (n - y) * math.log((1 - alt) / (1 - p0))) / base.spread
    return (y * math.log(alt / base.level) - (alt - base.level)) / base.spread


def relative_change(kind: Kind, base: Baseline, y: np.ndarray, n: np.ndarray) -> float | None:
    """The change since onset in the metric's own terms: the rate ratio (for a share, its odds
    ratio: the team's rate against the rest's) or exp of the log-mean difference, minus 1."""
    if len(y) == 0:
        return None
    if kind == "gauss":
        return math.expm1(float(np.mean(y)) - base.level)
    if kind == "share":
        yes, total = float(y.sum()), float(n.sum())
        if total <= 0:
            return None
        p = min(max(yes / total, 1e-9), 1 - 1e-9)
        return (p / (1 - p)) / (base.level / (1 - base.level)) - 1
    return float(np.mean(y)) / base.level - 1


def detect(
    kind: Kind,
    y: np.ndarray,
    n: np.ndarray | None,
    usable: np.ndarray,
    ratio: float,
    threshold: float | None = None,
    baseline_weeks: int = BASELINE_WEEKS,
    start: int = 0,
) -> Path:
    """Run the detector over weeks `start`.. of a series (oldest first). `ratio`: the smallest
    change to detect (0.75: a 25% fall; 1.25: a 25% rise); the CUSUMs watch for the changes
    ratio ** DESIGN_POWERS, and either raises the regression. `usable`: weeks that carry data
    and are no holiday. Deterministic in the data: a lost state is derived again by running it
    anew."""
    y = np.asarray(y, dtype=float)
    n = np.zeros(len(y)) if n is None else np.asarray(n, dtype=float)
    usable = np.asarray(usable, dtype=bool) & np.isfinite(y)
    h = math.inf  # set with each baseline: the rule's override, or the calibrated one
    ratios = tuple(ratio**k for k in DESIGN_POWERS)
    gate = GATE_FRACTION * (ratio - 1)  # the change since onset an alarm needs, signed
    out = Path()
    nc = len(ratios)
    sums, zeros, rec = [0.0] * nc, [start] * nc, 0.0
    anchor, is_open, opened, floor = start, False, start, 0
    base: Baseline | None = None
    alts: list[float] = []
    calm = CALM_WEEKS  # weeks in a row the sums have stood at 0
    for t in range(start, len(y)):
        if not is_open and max(sums) > 0 and t - anchor >= baseline_weeks:
            sums = [0.0] * nc  # an excursion as long as a baseline without an alarm: start anew
            calm = CALM_WEEKS
        if not is_open and max(sums) == 0.0:
            anchor = t  # a new excursion would start here
        if not is_open and max(sums) == 0.0 and (base is None or calm >= CALM_WEEKS):
            base = _baseline(kind, y, n, usable, t, baseline_weeks, floor)
            if base is not None:
                alts = [shifted(kind, base, r) for r in ratios]
                h = threshold_for(kind, base) if threshold is None else threshold
                if kind == "share" and not all(0 < a < 1 for a in alts):
                    base = None
        if base is None:
            out.reason = "too little data for a baseline"
            zeros = [t + 1] * nc
            continue
        if is_open and t - opened >= baseline_weeks:
            # Held for a whole baseline: the new level is the team's normal now.
            is_open, sums, rec, zeros = False, [0.0] * nc, 0.0, [t] * nc
            out.absorbed.append(t)
            anchor, floor = t, (out.onset if out.onset is not None else 0)  # only the new level
            base = _baseline(kind, y, n, usable, t, baseline_weeks, floor)
            if base is None:
                continue
            alts = [shifted(kind, base, r) for r in ratios]
            h = threshold_for(kind, base) if threshold is None else threshold
        if not usable[t]:
            continue
        steps = [llr(kind, base, a, y[t], n[t]) for a in alts]
        if is_open:
            # Recovery: evidence that the baseline holds again, against the smaller change.
            rec = max(0.0, rec - steps[0])
            if rec >= CLOSE_FRACTION * h:
                is_open, sums, rec, zeros = False, [0.0] * nc, 0.0, [t + 1] * nc
                calm = CALM_WEEKS
                out.closes.append(t)
            continue
        sums = [max(0.0, s + x) for s, x in zip(sums, steps, strict=True)]
        zeros = [t + 1 if s == 0.0 else z for s, z in zip(sums, zeros, strict=True)]
        calm = calm + 1 if max(sums) == 0.0 else 0
        crossed = [i for i in reversed(range(nc)) if sums[i] >= h]
        for i in crossed:
            # The change since this CUSUM's onset must be of the size the rule is about: a
            # slow slide of a few percent that the sum has gathered for months is no alarm.
            window = slice(zeros[i], t + 1)
            u = usable[window]
            change = relative_change(kind, base, y[window][u], n[window][u])
            if change is not None and (change <= gate if ratio < 1 else change >= gate):
                is_open, rec, opened = True, 0.0, t
                out.alarms.append(t)
                out.onset, out.change = zeros[i], change
                break
    out.s, out.baseline = max(sums), base
    if base is None:
        out.status = "skipped"
        return out
    out.status, out.reason = ("open" if is_open else "ok"), ""
    if is_open:
        out.opened = opened
        window = slice(out.onset, len(y))
        u = usable[window]
        out.change = relative_change(kind, base, y[window][u], n[window][u])
    else:
        out.opened = None
        out.onset = min(zeros) if out.s > 0 else None
        if out.onset is not None:
            window = slice(out.onset, len(y))
            u = usable[window]
            out.change = relative_change(kind, base, y[window][u], n[window][u])
        else:
            out.change = None
    return out
