"""Impact of one initiative: every method, group and metric, judged, with one primary each.

Methods, best first: difference-in-differences against comparison teams (did), interrupted
time series of the group's weekly series (its), plain before/after (before_after). The primary
estimate of a (group, metric) is the best method that could run; before/after is always shown
and is primary only when neither design could run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from warehouse.impact import (
    before_after,
    did,
    event_study,
    factors,
    its,
    multiplicity,
    randomization,
    two_part,
)
from warehouse.impact.design import Design, build
from warehouse.impact.estimate import Estimate, relative
from warehouse.impact.event_study import TrendCheck
from warehouse.impact.initiatives import Initiative
from warehouse.impact.measures import BY_NAME, FACTORS, MEASURES, METRIC_ORDER, Measure
from warehouse.impact.panel import Panel
from warehouse.impact.verdict import (
    ALPHA,
    FLOOR_SHARE,
    MIN_VERDICT_TEAMS,
    RowTest,
    decision,
    floor_conflict,
    judge,
    mde,
    thin_reason,
)

METHOD_RANK = {"did": 0, "its": 1, "before_after": 2}
TREATED, ORG = "treated teams", "org"
DEFAULT_WINDOW_WEEKS = 26
DEFAULT_RESAMPLES = 999
# Weeks of history before each adoption that the pre-adoption trend is estimated on, where the
# data has them: a slope's error falls as weeks^1.5, and the slope carried over ~30 weeks is
# what decides whether a drift explains a call. With the 26 weeks of the comparison's own
# baseline the carried trend's error was 2.2-2.6x the estimate's; with 52, about 1x.
TREND_WEEKS = 52

# The JSON keys of `impact --format json` (DESIGN.md's contract), then extras.
ROW_KEYS = (
    "initiative",
    "group",
    "metric",
    "method",
    "primary",
    "before",
    "after",
    "relative_change",
    "ci_low",
    "ci_high",
    "p_value",
    "n_before",
    "n_after",
    "verdict",
    "mde",
    "exploratory",
)


@dataclass
class Judged:
    group: str
    est: Estimate
    verdict: str | None  # None: a descriptive or exploratory row (multiplicity.py)
    reason: str | None
    primary: bool = False
    trend: TrendCheck | None = None  # did: the pre-adoption evidence the verdict rests on
    thin: str | None = None
    p_adjusted: float | None = None  # the primary's own p, Holm's for the secondary metrics
    family_size: int = 0  # rows in its multiple-testing family
    role: str = ""  # primary | secondary | descriptive | exploratory (multiplicity.ROLES)
    mde: float | None = None  # log scale, of the row's test (verdict.mde), on the row's scale
    equivalent: bool = False  # the test's interval lies inside the declared margin

    @property
    def test(self) -> RowTest:
        return decision(self.est, self.trend)

    @property
    def test_p(self) -> float | None:
        return self.test.p


@dataclass
class InitiativeImpact:
    initiative: Initiative
    design: Design
    judged: list[Judged]
    window_weeks: int
    notes: list[str] = field(default_factory=list)
    panel: Panel | None = None  # what it was estimated on, for the event-study chart
    primary_metric: str = "lead_time"  # the plan's (or the analysis's, when exploratory)
    exploratory: str | None = None  # how the analysis departs from the registered plan

    def rows(self) -> list[dict]:
        return [to_row(self.initiative, j, self.window_weeks) for j in self.judged]

    def primary(self, group: str, metric: str) -> Judged | None:
        return next(
            (j for j in self.judged if j.primary and j.group == group and j.est.metric == metric), None
        )


def _levels(
    panel: Panel, m: Measure, spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]], est: Estimate
) -> None:
    """Fill before/after level, n, weeks and events of est from (teams, pre, post) spans."""
    sums = {"num": [0.0, 0.0], "den": [0.0, 0.0], "n": [0.0, 0.0], "ev": [0.0, 0.0], "zero": [0.0, 0.0]}
    instant = panel.values.get(m.instant) if m.instant else None
    weeks: list[set[int]] = [set(), set()]
    for teams, *periods in spans:
        for k, span in enumerate(periods):
            if len(span) == 0 or not teams.any():
                continue
            den = panel[m.den][np.ix_(teams, span)]
            sums["num"][k] += panel[m.num][np.ix_(teams, span)].sum()
            sums["den"][k] += den.sum()
            sums["n"][k] += panel[m.count][np.ix_(teams, span)].sum()
            if m.events:
                sums["ev"][k] += panel[m.events][np.ix_(teams, span)].sum()
            if instant is not None:
                sums["zero"][k] += instant[np.ix_(teams, span)].sum()
            weeks[k] |= {int(w) for w in span[den.sum(axis=0) > 0]}
    values = []
    for k in range(2):
        if sums["den"][k] > 0:
            level = sums["num"][k] / sums["den"][k]
            values.append(math.exp(level) if m.kind == "log" else level)
        else:
            values.append(None)
    est.before, est.after = values
    est.n_before, est.n_after = int(round(sums["n"][0])), int(round(sums["n"][1]))
    est.weeks_before, est.weeks_after = len(weeks[0]), len(weeks[1])
    est.events = int(round(sum(sums["ev"]))) if m.events else None
    if instant is not None:
        shares = [float(sums["zero"][k] / sums["den"][k]) if sums["den"][k] > 0 else 0.0 for k in range(2)]
        est.extra["instant_share_before"], est.extra["instant_share_after"] = shares
        # Many durations under the 1-minute floor: the relative change of the geometric mean
        # then depends on the floor (-65% with 1 minute was -84% with 1 second and -51% with
        # 5 minutes in one review's example), so it is flagged rather than trusted as a size.
        est.extra["floor_sensitive"] = bool(max(shares) >= FLOOR_SHARE)


def _judge_metric(group: str, m: Measure, est: Estimate, trend: TrendCheck | None = None) -> Judged:
    thin = thin_reason(est, m)
    verdict, reason = judge(est, m.better, thin, trend)
    return Judged(group, est, verdict, reason, trend=trend, thin=thin)


def _trend(
    panel: Panel, m: Measure, design: Design, ramp: int, est: Estimate, history: Design | None = None
) -> TrendCheck:
    """The event study of est's pre-adoption weeks, checked against est's interval.

    history: the same cohorts with a longer baseline (trend_design), to estimate the trend on."""
    est.study = event_study.compute(panel, m, history or design, ramp, estimate_design=design)
    return event_study.check(est.study, est.low, est.high, ALPHA, est.draws, est.strata)


def trend_design(
    panel: Panel, initiative: Initiative, others: list[Initiative], design: Design, weeks: int = TREND_WEEKS
) -> Design:
    """The design the pre-adoption trend is estimated on: the same cohorts with up to `weeks`
    weeks of history before each adoption. Used only when the data has more history than the
    comparison's own baseline. A comparison team that changed status on another initiative in
    the extra weeks is not a clean comparison there, so the longer history compares the
    adopting teams with the comparison teams that stayed clean throughout (a subset of the
    estimate's); when fewer than MIN_VERDICT_TEAMS of them remain for any cohort, the trend is
    estimated on the comparison's own baseline, for all cohorts."""
    if weeks <= max((len(w.pre) for w in design.cohorts), default=0):
        return design
    longer = build(panel, initiative, others, weeks)
    if len(longer.cohorts) != len(design.cohorts):
        return design
    more = False
    for short, long in zip(design.cohorts, longer.cohorts, strict=True):
        if not np.array_equal(short.treated, long.treated):
            return design
        if not len(short.post):
            continue  # adds nothing to the estimate
        if longer.exposure.controls(long, short.post).any(axis=0).sum() < MIN_VERDICT_TEAMS:
            return design
        more |= len(long.pre) > len(short.pre)
    return longer if more else design


def _restricted(design: Design, chosen: np.ndarray) -> Design:
    """The design with only the chosen teams adopting (cohorts left empty are dropped)."""
    cohorts = [dataclasses.replace(w, treated=w.treated & chosen) for w in design.cohorts]
    return dataclasses.replace(design, cohorts=[w for w in cohorts if w.treated.any()])


def analyse(
    panel: Panel,
    initiative: Initiative,
    others: list[Initiative],
    window_weeks: int = DEFAULT_WINDOW_WEEKS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 20240601,
    metrics: tuple[str, ...] | None = None,
    subgroups: dict[str, list[str]] | None = None,
    primary_metric: str | None = None,
    exploratory: str | None = None,
) -> InitiativeImpact:
    """subgroups: label -> adopting teams, each compared with the same comparison teams by
    difference-in-differences only (e.g. teams by adoption level); always exploratory.
    primary_metric: the plan's (default: the initiative's); exploratory: how this analysis
    departs from the registered plan (its rows then carry no verdict word)."""
    primary_metric = primary_metric or initiative.primary
    measures = [m for m in MEASURES if metrics is None or m.name in metrics]
    design = build(panel, initiative, others, window_weeks)
    notes = list(design.notes)
    groups = {ORG: np.ones(panel.n_teams, dtype=bool)}
    if not initiative.org_wide:
        groups = {TREATED: design.treated, ORG: groups[ORG]}
    else:
        notes.append(
            "org-wide initiative: the adopting teams are the whole org, so there are no comparison teams"
        )
    if not design.cohorts:
        notes.append("none of the adopting teams has delivery data")
    judged: list[Judged] = []
    history = design  # the longer baseline the pre-adoption trend is estimated on
    usable: dict[tuple[str, str], dict[str, Estimate]] = {}

    def keep(j: Judged) -> None:
        judged.append(j)
        if j.est.estimable and j.thin is None:  # may enter a factor
            usable.setdefault((j.group, j.est.method), {})[j.est.metric] = j.est

    # Difference-in-differences (adopting teams, and their change as a share of the org).
    if not initiative.org_wide and design.cohorts:
        cohort_spans = [(w.treated, w.pre, w.post) for w in design.cohorts]
        post_union = np.unique(np.concatenate([w.post for w in design.cohorts])).astype(int)
        # One set of re-drawn adoption labels for every metric (randomization inference).
        drawn = randomization.assignments(panel, design, resamples, seed)
        history = trend_design(panel, initiative, others, design)
        split = two_part.derive(panel)  # durations' instant and positive parts
        for m in measures:
            reference = randomization.reference(panel, m, design, drawn)
            treated, org = did.estimate(panel, m, design, reference=reference)
            if treated.unavailable:
                notes.append(f"{m.name}: difference-in-differences not possible: {treated.unavailable}")
                continue
            # One check for both rows: the org's interval is the adopting teams', transformed,
            # so its flag and its verdict rest on the same evidence.
            trend = _trend(panel, m, design, initiative.ramp_weeks, treated, history)
            org.study = treated.study
            _levels(panel, m, cohort_spans, treated)
            _levels(panel, m, [(groups[ORG], design.series_pre, post_union)], org)
            org.n_before, org.n_after = treated.n_before, treated.n_after  # the org's information
            org.weeks_before, org.weeks_after, org.events = (
                treated.weeks_before,
                treated.weeks_after,
                treated.events,
            )
            if m.instant:
                two_part.estimate(split, m, design, drawn, treated, org, cohort_spans)
            keep(_judge_metric(TREATED, m, treated, trend))
            keep(_judge_metric(ORG, m, org, trend))

    # Subgroups of the adopting teams (by adoption level): descriptive - teams choose how much
    # they adopt, so a difference between subgroups is not an effect of adopting more.
    for label, members in (subgroups or {}).items():
        chosen = panel.mask(members)
        part, part_history = _restricted(design, chosen), _restricted(history, chosen)
        if initiative.org_wide or not part.cohorts:
            continue
        spans = [(w.treated, w.pre, w.post) for w in part.cohorts]
        for m in measures:
            est, _ = did.estimate(panel, m, part)
            if est.unavailable:
                continue
            _levels(panel, m, spans, est)
            trend = _trend(panel, m, part, initiative.ramp_weeks, est, part_history)
            j = _judge_metric(label, m, est, trend)
            j.role = "exploratory"
            keep(j)

    # Interrupted time series and before/after on each group's weekly series.
    for group, teams in groups.items():
        nums = np.stack([panel[m.num][teams].sum(axis=0) for m in measures])
        dens = np.stack([panel[m.den][teams].sum(axis=0) for m in measures])
        span = [(teams, design.series_pre, design.series_post)]
        for k, m in enumerate(measures):
            est = its.estimate(m, nums[k], dens[k], design.series_pre, design.series_post)
            if est.unavailable is None:
                _levels(panel, m, span, est)
                keep(_judge_metric(group, m, est))
        plain = before_after.estimate(
            measures, nums, dens, design.series_pre, design.series_post, resamples, seed
        )
        for m in measures:
            _levels(panel, m, span, plain[m.name])
            keep(_judge_metric(group, m, plain[m.name]))

    # Factors, from the usable metric estimates of the same group and method.
    sds = factors.spreads(panel, design.series_pre, [n for f in FACTORS for n in f.signs])
    factor_trends: dict[str, TrendCheck] = {}
    for (group, method), parts in sorted(usable.items(), key=lambda kv: kv[0][0] != TREATED):
        for f in FACTORS:
            est = factors.combine(f, parts, sds, method)
            if est.unavailable and method != "before_after":
                continue
            trend = None
            if method == "did":
                # The org's factor is the adopting teams', rescaled: it shares their check.
                trend = factor_trends.get(f.name) if group == ORG else None
                if trend is None:
                    trend = event_study.check(est.study, est.low, est.high, ALPHA, est.draws, est.strata)
                if group == TREATED:
                    factor_trends[f.name] = trend
            v, reason = judge(est, f.better, None, trend)
            judged.append(Judged(group, est, v, reason, trend=trend))

    _mark_primary(judged)
    group = ORG if initiative.org_wide else TREATED
    design_method = min(
        (j.est.method for j in judged if j.primary and j.group == group),
        key=METHOD_RANK.__getitem__,
        default="did",
    )
    if exploratory:  # nothing is tested: every row is an estimate and its interval
        for j in judged:
            j.role = "exploratory"
    else:
        multiplicity.decide(judged, primary_metric, group, ORG, design_method)
    for j in judged:
        if j.est.method == "did" and j.verdict in ("improved", "worsened"):
            # After the decision: the two parts are the same endpoint, not more of them.
            reason = floor_conflict(j.est)
            if reason:
                j.verdict, j.reason = "inconclusive", reason
        if j.role == "exploratory":
            j.verdict = None
            j.reason = f"exploratory: {exploratory or 'an adoption-level subgroup'}"
        if j.primary and j.group in (TREATED, ORG) and j.est.extra.get("floor_sensitive"):
            note = _floor_note(j)
            if note not in notes:
                notes.append(note)
        _detectable(j, initiative.equivalence_margin)
    order = {name: k for k, name in enumerate(METRIC_ORDER)}
    group_order = {TREATED: 0, **{label: k + 1 for k, label in enumerate(subgroups or {})}, ORG: 99}
    judged.sort(key=lambda j: (group_order[j.group], order.get(j.est.metric, 99), METHOD_RANK[j.est.method]))
    return InitiativeImpact(
        initiative, design, judged, window_weeks, notes, panel, primary_metric, exploratory
    )


def _detectable(j: Judged, margin: float | None) -> None:
    """The row's minimum detectable effect, on its own scale, and the equivalence reading."""
    test = j.test
    if test.theta is None or test.low is None or not math.isfinite(test.low):
        return
    k = mde(test)
    if k is None:
        return
    if test.trend_adjusted and j.group == ORG:
        # The adjusted test is on the adopting teams' scale: rescaled like the org's estimate,
        # or (the org's factors, no single function of the adopters') from the row's own error.
        k = float(j.est.scale(np.array(k))) if j.est.scale is not None else mde(decision(j.est, None))
    j.mde = k
    if margin is not None and j.verdict == "no detectable change":
        low, high = test.low, test.high
        if test.trend_adjusted and j.group == ORG and j.est.scale is not None:
            low, high = (float(j.est.scale(np.array(v))) for v in (low, high))
        j.equivalent = math.log1p(-margin) < low and high < math.log1p(margin)
        if j.equivalent:
            j.est.extra["equivalence_margin"] = margin


def _floor_note(j: Judged) -> str:
    share = max(j.est.extra["instant_share_before"], j.est.extra["instant_share_after"])
    whose = "the adopting teams'" if j.group == TREATED else "the org's"
    note = (
        f"{j.est.metric}: {share:.0%} of {whose} durations are under a minute, so the size "
        "of its relative change depends on the 1-minute floor; "
    )
    parts = two_part.describe(j.est)
    if parts:
        return note + f"in two parts, free of the floor: {parts}"
    return note + "read its direction, and the share of instant events before and after, rather than its size"


def _mark_primary(judged: list[Judged]) -> None:
    """One estimate per (group, metric) that the tool stands behind, for the adopting teams and
    the org only: adoption-level subgroups are descriptive (teams choose how much they adopt)."""
    best: dict[tuple[str, str], Judged] = {}
    for j in judged:
        if j.group not in (TREATED, ORG):
            continue
        key = (j.group, j.est.metric)
        if key not in best or METHOD_RANK[j.est.method] < METHOD_RANK[best[key].est.method]:
            best[key] = j
    for j in best.values():
        j.primary = True


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def to_row(initiative: Initiative, j: Judged, window_weeks: int) -> dict:
    est = j.est
    m = BY_NAME.get(est.metric)
    factor = next((f for f in FACTORS if f.name == est.metric), None)
    rel = relative(est.theta)
    row = {
        "initiative": initiative.name,
        "group": j.group,
        "metric": est.metric,
        "method": est.method,
        "primary": j.primary,
        "before": _num(est.before),
        "after": _num(est.after),
        "relative_change": _num(rel),
        "ci_low": _num(relative(est.low)),
        "ci_high": _num(relative(est.high)),
        "p_value": _num(est.p_value, 4),
        "n_before": est.n_before,
        "n_after": est.n_after,
        "verdict": j.verdict,
        "mde": _num(relative(j.mde)),
        "exploratory": j.role == "exploratory",
        # extras
        "reason": j.reason,
        # primary: judged first at 5%; secondary: Holm over the other DORA metrics once the
        # primary is called; descriptive / exploratory: no verdict word (multiplicity.py).
        "role": j.role,
        "p_test": _num(j.test_p, 4),
        "test": "trend-adjusted" if j.test.trend_adjusted else "plain",
        "p_adjusted": _num(j.p_adjusted, 4),
        "adjustment": {"primary": "none (primary, 5%)", "secondary": "holm"}.get(j.role),
        "family_size": j.family_size,
        "equivalence_margin": initiative.equivalence_margin,
        "equivalent": j.equivalent,
        "family": m.family if m else "factor",
        "unit": m.unit if m else "relative change (factor)",
        "higher_is": ("better" if (m.better if m else factor.better) > 0 else "worse"),
        "weeks_before": est.weeks_before,
        "weeks_after": est.weeks_after,
        "window_weeks": window_weeks,
        "ramp_weeks": initiative.ramp_weeks,
    }
    if est.events is not None:
        row["events"] = est.events
    if est.method == "did" and rel is not None and est.after is not None and j.group == TREATED and m:
        # What the adopting teams would have had without the initiative (the counterfactual).
        row["expected_after"] = _num(est.after / (1 + rel))
    if est.method == "did":
        t = j.trend or TrendCheck()
        row["pre_trend_p"] = _num(t.p, 4)
        row["pre_trend_joint_p"] = _num(t.joint_p, 4)
        row["pre_trend_slope_p"] = _num(t.slope_p, 4)
        row["pre_trend_bins"] = t.restrictions + 1 if t.ran else None
        # From the check itself, not the verdict: thin data can decide the verdict first.
        row["pre_trend_ok"] = t.ran and not t.failed
        row["pre_trend_per_week"] = _num(relative(t.slope))
        row["pre_trend_per_week_low"] = _num(relative(t.slope_low))
        row["pre_trend_per_week_high"] = _num(relative(t.slope_high))
        row["trend_distance_weeks"] = _num(t.distance, 4)
        row["pre_trend_weeks"] = t.weeks
        # The estimate with that trend carried on and taken out (docs/impact-method.md). The check
        # is the adopting teams'; an org row shows it on the org's scale (null for its factors,
        # which are no single function of the adopters' factor).
        adjusted = (t.adjusted, t.adjusted_low, t.adjusted_high)
        if j.group == ORG:
            adjusted = tuple(
                None if v is None or est.scale is None else float(est.scale(np.array(v))) for v in adjusted
            )
        row["trend_adjusted_change"] = _num(relative(adjusted[0]))
        row["trend_adjusted_ci_low"] = _num(relative(adjusted[1]))
        row["trend_adjusted_ci_high"] = _num(relative(adjusted[2]))
        row["p_trend_adjusted"] = _num(t.adjusted_p, 4)
        # Sensitivity: the differential linear trend per week that would explain the call away.
        row["breakdown_trend_per_week"] = _num(
            relative(event_study.breakdown_trend(est.low, est.high, t.distance))
        )
    if est.se is not None:
        row["se_log"] = _num(est.se)
    if est.df is not None:
        row["df"] = _num(est.df, 4)
    for key, value in est.extra.items():
        row[key] = _num(value) if isinstance(value, float) else value
    return row
