"""The leader's report: one self-contained HTML file (or Markdown) for a quarter.

Every number about the two periods comes from warehouse.compare.compare, the function behind
`compare --format json`; the rows themselves are embedded in the HTML (a JSON script element),
so what the page says can be checked against them. The page needs no network: plotly's
JavaScript is inlined once and every figure is drawn from inline data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from jinja2 import Environment, PackageLoader, select_autoescape

from dora_impact_app.config import Config
from dora_impact_app.rows import to_json
from warehouse import formatting, palette
from warehouse.compare import Period, caveats, compare, org_size, parse_period
from warehouse.db import Warehouse
from warehouse.glance import org_answers, pct

LABELS = palette.LABELS  # the catalog's names, the factors' too
# The weekly columns the trend charts draw and embed (with the period and its coverage).
TREND_COLUMNS = (
    "period", "period_start", "period_days", "complete", "deployments", "deployments_per_week",
    "lead_time_median_hours", "change_fail_rate", "production_deployments", "failed_deployments",
)
# The platform-engineering write-ups' rule of thumb for when a platform team pays off.
PLATFORM_THRESHOLD_PEOPLE = 150


value_text = formatting.value_text  # the one formatter (warehouse/formatting.py)


def headline(row: dict) -> str:
    """"Lead time fell 18% (95% CI −25% to −10%)", and whether that is beyond the noise."""
    label = LABELS[row["metric"]]
    change = row["change"]
    if change is None:
        return f"{label}: no comparison (no data in one of the periods)."
    if abs(change) < 0.005:
        text = f"{label} was unchanged"
    else:
        text = f"{label} {'rose' if change > 0 else 'fell'} {abs(change) * 100:.0f}%"
    if row["ci_low"] is not None:
        text += f" (95% CI {pct(row['ci_low'])} to {pct(row['ci_high'])})"
    else:
        text += " (too little data for an interval)"
    if not row["beyond_noise"]:
        text += ", within week-to-week noise"
    return text + "."


def initiative_answer(ini: dict) -> str:
    """Did the initiative help, on its primary endpoints (the throughput and instability factors
    its verdicts stand on)?"""
    primary = [e for e in ini["estimates"] if e.get("endpoint") == "primary"] or ini["estimates"]
    if not primary:
        return f"Did {ini['name']} help? No estimate: too little data."
    said = []
    for e in primary:
        change = "" if e["relative_change"] is None else f" {pct(e['relative_change'])}"
        interval = "" if e["ci_low"] is None else f" (95% CI {pct(e['ci_low'])} to {pct(e['ci_high'])})"
        said.append(f"{LABELS[e['metric']].lower()} {e['verdict'] or 'no call'}{change}{interval}")
    helped = {e["verdict"] for e in primary}
    verdict = ("no" if "worsened" in helped else "yes" if "improved" in helped
               else "no detectable change" if "no detectable change" in helped else "can't tell")
    return f"Did {ini['name']} help? {verdict.capitalize()}: " + "; ".join(said) + "."


@dataclass
class Report:
    a: Period
    b: Period
    rows: list[dict]
    size: dict
    caveats: list[str]
    initiatives: list[dict] = field(default_factory=list)
    trend: list[dict] = field(default_factory=list)
    initiative_starts: list[dict] = field(default_factory=list)
    surveys: list[dict] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def org_rows(self) -> list[dict]:
        return [r for r in self.rows if r["scope"] == "org"]

    @property
    def headlines(self) -> list[str]:
        return [headline(r) for r in self.org_rows]

    @property
    def answers(self) -> list[str]:
        """One line per question a leader asks: faster? more stable? did each initiative help?"""
        return org_answers(self.rows) + [initiative_answer(ini) for ini in self.initiatives]

    @property
    def trend_rows(self) -> list[dict]:
        """The weekly rows the charts draw: complete weeks as a line, the clipped edge weeks
        (a quarter rarely starts on a Monday) marked partial."""
        return [{k: r.get(k) for k in TREND_COLUMNS} for r in self.trend]

    def team_table(self) -> list[dict]:
        """One row per team: its level in each period and each metric's change."""
        out: dict[str, dict] = {}
        for r in self.rows:
            if r["scope"] == "org":
                continue
            team = out.setdefault(r["key"], {
                "key": r["key"], "level_a": r["level_a"], "level_b": r["level_b"],
                "move": r["level_move"], "metrics": {},
            })
            team["metrics"][r["metric"]] = r
        return list(out.values())


def active_initiatives(wh: Warehouse, config: Config, period: Period) -> tuple[list[dict], list[dict]]:
    """(verdicts of the initiatives active in the period, every initiative's start for charts)."""
    from warehouse.impact import run, stage_breakdown
    from warehouse.impact.initiatives import resolve
    from warehouse.impact.summary import verdict_words

    starts = [{"name": i.name, "started_on": i.started_on.isoformat()} for i in resolve(wh, config)]
    active = []
    for result in run(wh, config):
        ini = result.initiative
        if ini.started_on >= period.end or (ini.ended_on is not None and ini.ended_on < period.start):
            continue
        group = "org" if ini.org_wide else "treated teams"
        estimates = [
            {**r, "verdict_words": verdict_words(r)} for r in result.rows()
            if r["primary"] and r["group"] == group and r["metric"] in LABELS
        ]
        stages = [s for s in stage_breakdown(result.impact, group) if s.get("added_hours") is not None]
        active.append({"name": ini.name, "started_on": ini.started_on.isoformat(), "group": group,
                       "summary": result.summary, "estimates": estimates, "stages": stages})
    return active, starts


def build(
    wh: Warehouse, config: Config, quarter: str, compare_to: str | None, by: str = "team",
    now: datetime | None = None, with_initiatives: bool = True,
) -> Report:
    from warehouse.metrics import compute_metrics
    from warehouse.surveys import perceived_against_measured

    now = now or datetime.now(UTC)
    a = parse_period(quarter)
    b = parse_period(compare_to) if compare_to else previous(a)
    rows = compare(wh, config.metrics, a, b, by=by, now=now, require_both=False)
    report = Report(a, b, rows, org_size(wh, a, now), caveats(wh, a, now), generated_at=now)
    for side in (a, b):
        first = next((r for r in rows if r["scope"] == "org"), None)
        if first and not first["complete_a" if side is a else "complete_b"]:
            days = first["covered_days_a" if side is a else "covered_days_b"]
            report.caveats.append(
                f"{side.label} is a partial period: measured over {days:.0f} days (still running, "
                "or the data covers only part of it); rates are per covered day."
            )
    first_day, last_day = min(a.start, b.start), max(a.last_day, b.last_day)
    report.trend = compute_metrics(wh, config.metrics, "org", "week", first_day, last_day)
    if with_initiatives:
        report.initiatives, report.initiative_starts = active_initiatives(wh, config, a)
    report.surveys = perceived_against_measured(wh, rows)
    return report


def previous(period: Period) -> Period:
    """The period just before (the previous quarter or month)."""
    day = period.start - timedelta(days=1)
    if period.kind == "quarter":
        return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    return parse_period(f"{day.year}-{day.month:02d}")


def _figures(report: Report) -> list[str]:
    """The trend charts as HTML fragments (no script of their own: plotly is inlined once).
    Complete weeks are the line; a week the range clips (or the data covers in part) is a
    hollow marker labelled partial, not joined: its rate is per covered day and reads wrong as
    a point of the line."""
    import plotly.graph_objects as go

    trend = report.trend_rows
    weeks = [r["period_start"] for r in trend]
    charts = [
        ("deployments_per_week", "Deployments per week (org)", None),
        ("lead_time_median_hours", "Lead time, median hours (org)", None),
        ("change_fail_rate", "Change fail rate, % of production deployments (org)", ".0%"),
    ]
    out = []
    for column, title, tick in charts:
        colour = palette.colour(column)
        whole = [r[column] if r["complete"] else None for r in trend]
        fig = go.Figure(go.Scatter(x=weeks, y=whole, mode="lines+markers", name=title,
                                   line={"color": colour}))
        partial = [r for r in trend if not r["complete"] and r[column] is not None]
        if partial:
            fig.add_trace(go.Scatter(
                x=[r["period_start"] for r in partial], y=[r[column] for r in partial],
                mode="markers+text", text=["partial"] * len(partial), textposition="top center",
                textfont={"size": 10, "color": "grey"}, name="partial week",
                marker={"symbol": "circle-open", "size": 9, "color": "grey"}))
        drawn = whole if any(v is not None for v in whole) else [r[column] for r in trend]
        y_range = palette.robust_range(drawn)
        if y_range:
            fig.update_yaxes(range=y_range)
        if tick:
            fig.update_yaxes(tickformat=tick)
        for side, color in ((report.b, "rgba(148,163,184,0.15)"), (report.a, "rgba(37,99,235,0.10)")):
            fig.add_vrect(x0=side.start, x1=side.last_day, fillcolor=color, line_width=0,
                          annotation_text=side.label, annotation_position="top left")
        first, last = min(report.a.start, report.b.start), max(report.a.last_day, report.b.last_day)
        for ini in report.initiative_starts:
            if not first.isoformat() <= ini["started_on"] <= last.isoformat():
                continue  # started before the charted weeks: its verdict is below
            fig.add_vline(x=ini["started_on"], line_dash="dash", line_color="#374151")
            fig.add_annotation(x=ini["started_on"], y=1, yref="paper", text=ini["name"], showarrow=False,
                               xanchor="left", font={"color": "#374151", "size": 11})
        fig.update_layout(title=title, height=300, margin={"l": 50, "r": 20, "t": 40, "b": 30},
                          template="plotly_white", showlegend=False)
        out.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displayModeBar": False}))
    return out


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("dora_impact_app", "templates"),
                      autoescape=select_autoescape(["html", "j2.html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    env.globals.update(LABELS=LABELS, value_text=value_text, threshold=PLATFORM_THRESHOLD_PEOPLE,
                       UNITS=palette.UNITS)
    return env


def render_html(report: Report) -> str:
    from plotly.offline import get_plotlyjs

    template = _environment().get_template("report.html.j2")
    return template.render(r=report, figures=_figures(report), plotly_js=get_plotlyjs(),
                           rows_json=to_json(report.rows).replace("</", "<\\/"),
                           trend_json=to_json(report.trend_rows).replace("</", "<\\/"))


def render_md(report: Report) -> str:
    return _environment().get_template("report.md.j2").render(r=report)


def rows_from_html(html: str, element: str = "compare-rows") -> list[dict]:
    """The rows embedded in a rendered report (for checking it against `compare`, or, with
    element="trend-rows", the weekly chart rows against `metrics --period week`)."""
    tag = f'<script type="application/json" id="{element}">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start: html.index("</script>", start)].replace("<\\/", "</"))
