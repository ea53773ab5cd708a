"""The Adoption page's data and chart: each initiative's weekly share of production
deployments that went through its new path, for the adopting teams together and per team.

The rule (adoption_environment / adoption_workflow) and the SQL that applies it are the
impact analysis's own (warehouse/sql/impact_adoption.sql), so the curve here is the one
`dora-impact impact` prints; this module only keeps the per-team rows that `impact` sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboards import data
from warehouse import Warehouse
from warehouse.impact.initiatives import Initiative, resolve
from warehouse.metrics import prepare


@dataclass
class Curve:
    initiative: Initiative
    signal: str | None  # "workflow matching '...'", None when no rule is configured
    weeks: pl.DataFrame  # team, week, deployments, new_path (adopting teams only)

    @property
    def has_signal(self) -> bool:
        return self.signal is not None and self.weeks.height > 0 and self.weeks["new_path"].sum() > 0


def describe(initiative: Initiative) -> str | None:
    rule = initiative.adoption
    parts = [f"environment matching {rule.environment!r}"] * bool(rule.environment) + [
        f"workflow matching {rule.workflow!r}"
    ] * bool(rule.workflow)
    return " or ".join(parts) or None


def _weeks(wh: Warehouse, initiative: Initiative, teams: list[str]) -> pl.DataFrame:
    rule = initiative.adoption
    wh.con.execute("SET VARIABLE adoption_environment = CAST(? AS VARCHAR)", [rule.environment])
    wh.con.execute("SET VARIABLE adoption_workflow = CAST(? AS VARCHAR)", [rule.workflow])
    wh.con.execute((resources.files("warehouse") / "sql" / "impact_adoption.sql").read_text())
    return wh.frame(
        "SELECT team, week, sum(deployments)::BIGINT AS deployments, sum(new_path)::BIGINT AS new_path "
        "FROM impact_adoption_weeks WHERE list_contains(?, team) GROUP BY ALL ORDER BY week, team",
        [teams],
    )


def curves(db: str, config_path: str | None) -> tuple[list[Curve], datetime, bool]:
    """One curve per initiative (config and imported), in order of start."""
    cfg = data.config(config_path)

    def compute(wh: Warehouse) -> list[Curve]:
        prepare(wh, cfg.metrics)
        out = []
        for initiative in sorted(resolve(wh, cfg), key=lambda i: i.started_on):
            signal = describe(initiative)
            teams = initiative.teams or [r[0] for r in wh.con.execute(
                "SELECT DISTINCT team FROM prod_deployments").fetchall()]
            weeks = _weeks(wh, initiative, teams) if signal else pl.DataFrame()
            out.append(Curve(initiative, signal, weeks))
        return out

    return data.read(("adoption", db, config_path), db, compute)


def weekly(curve: Curve) -> pl.DataFrame:
    """week, deployments, new_path, share for the adopting teams together."""
    return (
        curve.weeks.group_by("week").agg(pl.col("deployments", "new_path").sum()).sort("week")
        .with_columns(share=pl.col("new_path") / pl.col("deployments"))
    )


def team_shares(curve: Curve) -> pl.DataFrame:
    """Per adopting team: its start, deployments since it settled in (after the ramp), the share
    of them on the new path, and the share in the last 4 weeks."""
    rows = []
    last = curve.weeks["week"].max()
    for cohort in curve.initiative.cohorts:
        settled = cohort.started_on + timedelta(weeks=curve.initiative.ramp_weeks)
        for team in cohort.teams or sorted(curve.weeks["team"].unique().to_list()):
            mine = curve.weeks.filter(pl.col("team") == team)
            after = mine.filter(pl.col("week") >= settled)
            recent = mine.filter(pl.col("week") > last - timedelta(weeks=4))
            rows.append({
                "team": team,
                "adopted on": cohort.started_on,
                "deployments since": int(after["deployments"].sum()),
                "share since": _share(after),
                "share, last 4 weeks": _share(recent),
            })
    return pl.DataFrame(rows, infer_schema_length=None).sort("team")


def _share(frame: pl.DataFrame) -> float | None:
    total = frame["deployments"].sum()
    return float(frame["new_path"].sum() / total) if total else None


def chart(curve: Curve) -> go.Figure:
    """The adopting teams' weekly share on top (every cohort's start marked), one small panel
    per team below (its own start marked)."""
    teams = sorted(curve.weeks["team"].unique().to_list())
    cols = 4
    rows = 1 + -(-len(teams) // cols)
    fig = make_subplots(
        rows=rows, cols=cols, shared_yaxes=True, shared_xaxes="all",
        vertical_spacing=0.16 if rows < 4 else 0.09,
        specs=[[{"colspan": cols}, *[None] * (cols - 1)]] + [[{}] * cols for _ in range(rows - 1)],
        subplot_titles=["all adopting teams", *teams],
    )
    total = weekly(curve)
    fig.add_trace(go.Scatter(x=total["week"], y=total["share"], mode="lines", name="adopting teams",
                             customdata=list(zip(total["new_path"], total["deployments"], strict=True)),
                             hovertemplate="week of %{x}: %{y:.0%} "
                             "(%{customdata[0]} of %{customdata[1]})<extra></extra>"), 1, 1)
    for i, team in enumerate(teams):
        part = curve.weeks.filter(pl.col("team") == team).with_columns(
            share=pl.col("new_path") / pl.col("deployments"))
        fig.add_trace(go.Scatter(x=part["week"], y=part["share"], mode="lines", name=team, showlegend=False,
                                 line={"width": 1.2}, hovertemplate=team + " %{x}: %{y:.0%}<extra></extra>"),
                      2 + i // cols, 1 + i % cols)
    started = {t: c.started_on for c in curve.initiative.cohorts for t in c.teams}
    for day in sorted(set(started.values()) or {c.started_on for c in curve.initiative.cohorts}):
        fig.add_vline(x=day.isoformat(), line_dash="dot", line_color="#cf222e", row=1, col=1)
    for i, team in enumerate(teams):
        if team in started:
            fig.add_vline(x=started[team].isoformat(), line_dash="dot", line_color="#cf222e",
                          row=2 + i // cols, col=1 + i % cols)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_layout(height=260 + 190 * (rows - 1), showlegend=False, margin={"t": 40, "b": 20})
    return fig
