"""The plain-language summary of one initiative's impact, for a leader to read."""

from __future__ import annotations

from warehouse import catalog
from warehouse.impact.adoption import Adoption
from warehouse.impact.analysis import ORG, TREATED, InitiativeImpact, Judged
from warehouse.impact.estimate import relative
from warehouse.impact.measures import BY_NAME, FACTORS, STAGES
from warehouse.impact.plans import Registered

HEADLINE = catalog.ORDER  # the five DORA metrics
LABELS = {**{m.name: m.label for m in BY_NAME.values()}, **{f.name: f.label for f in FACTORS}}
# A count this close to zero (reviews from outside the team per pull request before a handoff
# exists) turns any rise into a four-digit percentage: give the absolute change instead, as the
# dashboard's table does (dashboards/impact_view.py).
NEAR_ZERO = 0.25
COMPARED = {
    "did": "relative to teams that had not adopted",
    "its": "against the trend before adoption",
    "before_after": "before against after, with nothing to compare against",
}


def pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.0f}%".replace("-", "−")


def _change(j: Judged) -> str:
    rel, low, high = relative(j.est.theta), relative(j.est.low), relative(j.est.high)
    if rel is None or low is None or high is None:
        return "could not be estimated"
    verb = "rose" if rel > 0 else "fell"
    return f"{verb} {abs(rel) * 100:.0f}% (95% CI {pct(low)} to {pct(high)})"


def count_change(j: Judged) -> str:
    """A count's change: relative, or from-to when its base is near zero. The base is what the
    adopters would show without the initiative: for difference-in-differences their after
    value taken back by the estimated change, else their own before value."""
    rel, after = relative(j.est.theta), j.est.after
    base = j.est.before
    if j.est.method == "did":
        base = after / (1 + rel) if after is not None and rel is not None and rel > -1 else None
    if base is None or after is None or abs(base) >= NEAR_ZERO:
        return _change(j)
    verb = "rose" if after > base else "fell"
    return f"{verb} from {base:.2f} to {after:.2f} ({after - base:+.2f})".replace("-", "−")


def verdict_words(row: dict) -> str:
    """A row's verdict in words (CLI, dashboard, report): a row without a call says how large
    a change it could have seen (inside a declared equivalence margin, at most how large the
    change is); a row that carries no verdict (descriptive, exploratory) shows a dash."""
    verdict = row.get("verdict")
    if verdict is None:
        return "– (exploratory)" if row.get("exploratory") else "–"
    if verdict != "no detectable change":
        return verdict
    if row.get("equivalent") and row.get("equivalence_margin"):
        return f"at most ±{row['equivalence_margin'] * 100:.0f}% (equivalent)"
    if row.get("mde") is None:
        return verdict
    return f"no change larger than ±{row['mde'] * 100:.0f}% could have been seen"


def detectable(j: Judged) -> str:
    """What a row without a call says: the largest change it could have missed, or the bound
    the declared equivalence margin gives."""
    margin = j.est.extra.get("equivalence_margin")
    if j.equivalent and margin:
        return f"the change is at most ±{margin * 100:.0f}% (inside the declared equivalence margin)"
    if j.mde is None:
        return "no detectable change"
    return f"no change larger than ±{relative(j.mde) * 100:.0f}% could have been seen"


def _adjusted(j: Judged) -> str:
    """The trend-adjusted estimate the did verdict rests on, when it differs from the plain."""
    test = j.test
    if not test.trend_adjusted or j.group != TREATED:
        return ""
    return (
        f"; with the pre-adoption trend taken out {pct(relative(test.theta))} "
        f"({pct(relative(test.low))} to {pct(relative(test.high))})"
    )


def _sentence(j: Judged, subject: str) -> str:
    label = LABELS[j.est.metric]
    if relative(j.est.theta) is None or relative(j.est.low) is None:
        return f"{subject} {label}: inconclusive, {j.reason or 'no estimate'}."
    text = f"{subject} {label} {_change(j)}{_adjusted(j)}"
    if j.verdict is None:
        return f"{text} ({j.reason})." if j.reason else f"{text}."
    if j.verdict == "inconclusive":
        return f"{text}, but this is inconclusive: {j.reason}."
    if j.verdict == "no detectable change":
        # Significant alone but not after the multiple-testing adjustment: say so.
        return f"{text}: {detectable(j)}{f' ({j.reason})' if j.reason else ''}."
    return f"{text}: {j.verdict}."


def stage_breakdown(impact: InitiativeImpact, group: str = TREATED) -> list[dict]:
    """Per stage and handoff measure: primary estimate and, for stages, hours added per PR."""
    out = []
    for name in (*STAGES, "outside_reviews", "teams_per_change"):
        j = impact.primary(group, name)
        if j is None:
            continue
        est = j.est
        rel = relative(est.theta)
        added = None
        if BY_NAME[name].family == "stage" and rel is not None and est.after is not None:
            added = (
                est.after - est.after / (1 + rel)
                if est.method == "did"
                else (est.after - est.before if est.before is not None else None)
            )
        out.append(
            {
                "metric": name,
                "label": BY_NAME[name].label,
                "method": est.method,
                "before": est.before,
                "after": est.after,
                "relative_change": rel,
                "ci_low": relative(est.low),
                "ci_high": relative(est.high),
                "added_hours": added,
                "verdict": j.verdict,  # None unless the plan names it primary
                "mde": relative(j.mde),
            }
        )
    return out


def _where_time_went(impact: InitiativeImpact, group: str) -> str | None:
    """Which stages carry the lead-time change: those whose own change is significant."""
    lead = impact.primary(group, "lead_time")
    stages = [s for s in stage_breakdown(impact, group) if s["added_hours"] is not None]
    if lead is None or lead.est.theta is None or not stages:
        return None
    rising = lead.est.theta > 0
    # Stages are descriptive (no verdict word): those whose interval excludes no change on the
    # lead time's side are named.
    called = [
        s for s in stages
        if s["ci_low"] is not None and (s["ci_low"] > 0 if rising else s["ci_high"] < 0)
    ]
    if not called:
        return None
    total = sum(s["added_hours"] for s in stages)
    part = sum(s["added_hours"] for s in called)
    names = " and ".join(f"{s['label'].split(' (')[0]} {pct(s['relative_change'])}" for s in called)
    word = "added" if rising else "saved"
    # The called stages can move more than the four together when another stage moved the
    # other way, so both figures are stated rather than one as a share of the other.
    return (
        f"the {word} time per pull request is in {names} ({_hours(part)} in these stages, "
        f"{_hours(total)} across all four)."
    )


def _hours(value: float) -> str:
    return f"{value:+.1f} h".replace("-", "−")


def _plan(impact: InitiativeImpact, registered: Registered | None) -> str:
    primary = LABELS.get(impact.primary_metric, impact.primary_metric)
    text = f"Plan: {primary} is the primary metric, then the other DORA metrics (Holm), "
    text += f"over {impact.window_weeks} weeks"
    if registered is not None and registered.first_seen is not None:
        text += f"; registered {registered.first_seen.date().isoformat()}"
        if registered.first_seen.date() > impact.initiative.started_on:
            text += " (after the initiative started)"
    if impact.exploratory:
        return text + f". This analysis is exploratory: it {impact.exploratory}, so it gives no verdicts."
    return text + "."


def summarise(
    impact: InitiativeImpact, adoption: Adoption | None, registered: Registered | None = None
) -> list[str]:
    ini = impact.initiative
    cohorts = "; ".join(
        f"{', '.join(c.teams) if c.teams else 'all teams'} from {c.started_on.isoformat()}"
        for c in ini.cohorts
    )
    lines = [
        f"{ini.name} ({ini.kind}): adopted by {cohorts}. The first {ini.ramp_weeks} weeks after "
        f"each adoption are left out as settling-in; up to {impact.window_weeks} weeks on each side "
        "are compared."
    ]
    lines.append(_plan(impact, registered))
    group = TREATED if not ini.org_wide else ORG
    subject = "Adopting teams'" if group == TREATED else "The org's"
    method = next((impact.primary(group, m).est.method for m in HEADLINE if impact.primary(group, m)), None)
    if method:
        lines.append(f"Primary comparison: {COMPARED[method]}.")
    first = impact.primary(group, impact.primary_metric)
    if first:
        lines.append(_sentence(first, subject))
    for f in FACTORS:
        j = impact.primary(group, f.name)
        if j and j is not first:
            lines.append(_sentence(j, subject))
    for name in HEADLINE:
        j = impact.primary(group, name)
        if j is first:
            continue
        if j:
            sentence = _sentence(j, subject)
            if name == "lead_time":
                where = _where_time_went(impact, group)
                if where:
                    sentence = sentence[:-1] + f"; {where}"
            lines.append(sentence)
    handoff = impact.primary(group, "outside_reviews")
    if handoff and handoff.est.estimable and (handoff.est.low > 0 or handoff.est.high < 0):
        per = "reviews from people outside the author's team per pull request"
        lines.append(f"Handoffs: {per} {count_change(handoff)}.")
    if group == TREATED:
        org = impact.primary(ORG, "throughput")
        if org and org.est.theta is not None and org.est.low is not None:
            how = "difference-in-differences" if org.est.method == "did" else org.est.method.replace("_", "/")
            lines.append(
                f"For the whole org this amounts to a throughput change of {pct(relative(org.est.theta))} "
                f"(95% CI {pct(relative(org.est.low))} to {pct(relative(org.est.high))}; {how})."
            )
    for label in dict.fromkeys(j.group for j in impact.judged if j.group not in (TREATED, ORG)):
        parts = [
            f"{f.label} {_change(j)}"
            for f in FACTORS
            for j in impact.judged
            if j.group == label and j.est.metric == f.name and j.est.method == "did"
        ]
        if parts:
            lines.append(
                f"By adoption level, {label}: "
                + "; ".join(parts)
                + ". Teams chose how much to adopt, so read this as a description, not a cause."
            )
    if adoption is not None:
        latest = adoption.latest
        if adoption.signal and latest:
            lines.append(
                f"Adoption ({adoption.signal}): in the week of {latest['week'].isoformat()}, "
                f"{_share(latest['share'])} of the adopting teams' deployments and "
                f"{_share(latest['repo_share'])} of their active repositories went through the new path."
            )
        else:
            lines.append(f"Adoption: {adoption.message}.")
    for note in impact.notes:
        lines.append(f"Note: {note}.")
    return lines


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"
