"""The Initiatives page's table and charts, built from warehouse.impact's results.

Presentation only: each number is an estimate's own field; what is computed here is how it is
shown (the counterfactual a difference-in-differences change is measured against, and the
absolute change where a relative one would mislead).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from warehouse.impact import did
from warehouse.impact.measures import BY_NAME, STAGES
from warehouse.impact.summary import verdict_words

# A base this small makes any relative change a four-digit percentage: show the absolute one.
NEAR_ZERO = 0.25


def label(metric: str) -> str:
    m = BY_NAME.get(metric)
    return m.label if m else metric.replace("_", " ")


def counterfactual(row: dict) -> float | None:
    """What the adopting teams would show without the initiative: for difference-in-
    differences the adopters' after value taken back by the estimated change; for the
    single-group methods their own before value."""
    after, rel = row.get("after"), row.get("relative_change")
    if row.get("method") == "did":
        if after is None or rel is None or rel <= -1:
            return None
        return after / (1 + rel)
    return row.get("before")


def number(metric: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    unit = BY_NAME[metric].unit if metric in BY_NAME else ""
    if unit.startswith("share"):
        return f"{value:.1%}"
    if unit.startswith("hours"):
        return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"
    return f"{value:.2f}"


def change(row: dict) -> str:
    """The change as a reader compares it: relative, or absolute from a near-zero base."""
    metric, rel = row["metric"], row.get("relative_change")
    base, after = counterfactual(row), row.get("after")
    if rel is None:
        return "–"
    unit = BY_NAME[metric].unit if metric in BY_NAME else ""
    count_like = not unit.startswith(("hours", "share"))
    if base is not None and after is not None and count_like and abs(base) < NEAR_ZERO:
        shown = f"{number(metric, base)} → {number(metric, after)} {unit}".strip()
        return f"{after - base:+.2f} ({shown})"
    return f"{rel:+.1%}"


def interval(row: dict) -> str:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return "–" if lo is None or hi is None else f"{lo:+.1%} to {hi:+.1%}"


METHODS = {"did": "difference-in-differences", "its": "time series", "before_after": "before/after"}
GROUPS = {"treated teams": "adopting teams", "org": "whole org"}


def p_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def adjusted(row: dict) -> str:
    """The p-value the verdict follows: the test's own for the primary metric, Holm's over the
    other DORA metrics (with the family's size) for a secondary one; none on other rows."""
    q = row.get("p_adjusted")
    if q is None:
        return "–"
    if row.get("role") != "secondary":
        return p_value(q)
    size = row.get("family_size")
    return f"{p_value(q)} (Holm" + (f", {size} metrics)" if size else ")")


def tested(row: dict) -> str:
    """The test a difference-in-differences verdict rests on: the trend-adjusted estimate."""
    value, lo, hi = (row.get(k) for k in ("trend_adjusted_change", "trend_adjusted_ci_low",
                                          "trend_adjusted_ci_high"))
    if row.get("method") != "did":
        return "–"
    return "–" if None in (value, lo, hi) else f"{value:+.1%} ({lo:+.1%} to {hi:+.1%})"


def detectable(row: dict) -> str:
    mde = row.get("mde")
    return "–" if mde is None else f"±{mde:.0%}"


def table(rows: list[dict]) -> pl.DataFrame:
    """One row per estimate, in words and formatted numbers."""
    return pl.DataFrame(
        {
            "Metric": [label(r["metric"]) for r in rows],
            # primary / secondary / descriptive / exploratory (warehouse/impact/multiplicity.py)
            "Endpoint": [r.get("role") or "–" for r in rows],
            "Group": [GROUPS.get(r["group"], r["group"]) for r in rows],
            "Method": [METHODS.get(r["method"], r["method"]) for r in rows],
            "Without the initiative": [number(r["metric"], counterfactual(r)) for r in rows],
            "Adopters, after": [number(r["metric"], r.get("after")) for r in rows],
            "Change": [change(r) for r in rows],
            "95% interval (relative)": [interval(r) for r in rows],
            "Trend taken out (the test)": [tested(r) for r in rows],
            "p": [p_value(r.get("p_value")) for r in rows],
            "p adjusted": [adjusted(r) for r in rows],
            "Detectable (mde)": [detectable(r) for r in rows],
            "Verdict": [verdict_words(r) for r in rows],
            "Why": [r.get("reason") or "" for r in rows],
        },
        schema_overrides={"Why": pl.String},
    )


def event_study_chart(frame: pl.DataFrame) -> go.Figure | None:
    """One panel per metric: the effect in each week relative to adoption, with its 95%
    interval; the weeks before adoption show whether the trends were parallel."""
    if frame.is_empty():
        return None
    metrics = frame["metric"].unique(maintain_order=True).to_list()
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[label(m) for m in metrics])
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        part = frame.filter(pl.col("metric") == metric).sort("relative_week")
        x = part["relative_week"].to_list()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=part["ci_high"].to_list() + part["ci_low"].to_list()[::-1],
                                 fill="toself", fillcolor="rgba(9,105,218,0.15)", line={"width": 0},
                                 hoverinfo="skip", showlegend=False), r, c)
        fig.add_trace(go.Scatter(x=x, y=part["estimate"], mode="lines+markers", marker={"size": 4},
                                 name=label(metric), showlegend=False,
                                 hovertemplate="week %{x}: %{y:+.1%}<extra></extra>"), r, c)
        fig.add_hline(y=0, line_color="grey", line_dash="dash", row=r, col=c)
        fig.add_vline(x=0, line_color="#cf222e", line_dash="dot", row=r, col=c)
    fig.update_yaxes(tickformat="+.0%")
    fig.update_xaxes(title_text="weeks from adoption")
    fig.update_layout(height=300 * rows, margin={"t": 40, "b": 20})
    return fig


def stage_chart(stages: list[dict]) -> go.Figure | None:
    """Lead-time stages stacked: without the initiative (counterfactual) and with it."""
    shown = [s for s in stages if s["metric"] in STAGES and s.get("after") is not None]
    if not shown:
        return None
    fig = go.Figure()
    for s in shown:
        base = counterfactual(s)
        fig.add_trace(go.Bar(
            y=["without the initiative", "adopters, after"], x=[base, s["after"]], name=label(s["metric"]),
            orientation="h", hovertemplate="%{y}: %{x:.1f} h<extra>" + label(s["metric"]) + "</extra>",
        ))
    fig.update_layout(barmode="stack", height=240, xaxis_title="hours per pull request (geometric mean)",
                      margin={"t": 20, "b": 20}, legend={"orientation": "h", "y": -0.45})
    return fig


GROUP_METRICS = ("deployment_frequency", "lead_time", "change_fail_rate", "rework_rate", "recovery_time")
SMOOTH_WEEKS = 4  # the weekly series are summed over this many weeks: one week is mostly noise


def comparison_weeks(panel, design, measure) -> np.ndarray:
    """(teams, weeks) bool: the teams the difference-in-differences estimate of `measure`
    compares with in each week, chosen as it chooses them (warehouse.impact.did.replicates):
    for every cohort, in each week after its ramp, the teams with baseline data that had not
    adopted by then (later cohorts included) and held a steady status on every other
    initiative; in its weeks before, those same teams (their baseline). Weeks outside every
    cohort's window compare nothing."""
    den = panel[measure.den]
    out = np.zeros((panel.n_teams, len(panel.weeks)), dtype=bool)
    for window in did.usable(panel, measure, design.cohorts):
        has_pre = den[:, window.pre].sum(axis=1) > 0
        masks = design.exposure.controls(window, window.post) & has_pre[None, :]  # (weeks, teams)
        out[:, window.post] |= masks.T
        out[:, window.pre] |= masks.any(axis=0)[:, None]
    return out


def group_series(impact, metrics: tuple[str, ...] = GROUP_METRICS) -> pl.DataFrame:
    """week, metric, group (adopting / comparison teams), value, teams (the group's distinct
    teams), week_teams (those in this week): each group's metric over a trailing
    SMOOTH_WEEKS-week sum of the panel's numerators and denominators (rates through their
    counts, durations as geometric means in hours), complete weeks only. The comparison
    teams are the estimate's own, week by week and metric by metric (comparison_weeks); a
    week whose trailing weeks are not all compared has no comparison value."""
    panel, design = impact.panel, impact.design
    if panel is None or not design.cohorts:
        return pl.DataFrame()
    weeks = panel.weeks[: panel.complete_weeks]
    adopting = np.repeat(design.treated[:, None], len(weeks), axis=1)
    kernel = np.ones(SMOOTH_WEEKS)
    rows = []
    for name in metrics:
        m = BY_NAME[name]
        compared = comparison_weeks(panel, design, m)[:, : len(weeks)]
        for group, mask in {"adopting teams": adopting, "comparison teams": compared}.items():
            if not mask.any():
                continue
            num = np.where(mask, panel[m.num][:, : len(weeks)], 0).sum(axis=0)
            den = np.where(mask, panel[m.den][:, : len(weeks)], 0).sum(axis=0)
            num = np.convolve(num, kernel)[: len(weeks)]
            den = np.convolve(den, kernel)[: len(weeks)]
            covered = np.convolve(mask.any(axis=0).astype(float), kernel)[: len(weeks)] == SMOOTH_WEEKS
            with np.errstate(divide="ignore", invalid="ignore"):
                value = num / den
            if m.kind == "log":
                value = np.exp(value)
            value[~covered] = np.nan
            teams, week_teams = int(mask.any(axis=1).sum()), mask.sum(axis=0)
            rows += [
                {"week": w, "metric": name, "group": group, "value": None if not np.isfinite(v) else float(v),
                 "teams": teams, "week_teams": int(k)}
                for w, v, k in zip(weeks, value, week_teams, strict=True)
            ]
    return pl.DataFrame(rows, infer_schema_length=None)


GROUP_COLOURS = {"adopting teams": "#cf222e", "comparison teams": "#0969da"}


def groups_chart(frame: pl.DataFrame, starts: list) -> go.Figure | None:
    """One panel per metric: the adopting and the comparison teams' series, adoption dates
    dotted."""
    if frame.is_empty():
        return None
    metrics = frame["metric"].unique(maintain_order=True).to_list()
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[label(m) for m in metrics],
                        shared_xaxes="all", vertical_spacing=0.14)
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        unit = BY_NAME[metric].unit
        for group, colour in GROUP_COLOURS.items():
            part = frame.filter((pl.col("metric") == metric) & (pl.col("group") == group))
            if part.is_empty():
                continue
            fig.add_trace(go.Scatter(
                x=part["week"], y=part["value"], mode="lines", line={"color": colour, "width": 1.5},
                name=f"{group} ({part['teams'][0]})", legendgroup=group, showlegend=i == 0,
                customdata=part["week_teams"],
                hovertemplate=f"{group}, 4 weeks to %{{x}}: %{{y:.3g}} (%{{customdata}} teams that week)"
                f"<extra>{label(metric)}</extra>",
            ), r, c)
        if unit.startswith("share"):
            fig.update_yaxes(tickformat=".0%", row=r, col=c)
        elif unit.startswith("hours"):
            fig.update_yaxes(ticksuffix=" h", row=r, col=c)
        for day in starts:
            fig.add_vline(x=day.isoformat(), line_dash="dot", line_color="#6e7781", row=r, col=c)
    fig.update_layout(height=290 * rows + 40, margin={"t": 60, "b": 20},
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.08})
    return fig
