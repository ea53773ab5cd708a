"""The dashboard's pages. Presentation only: every number comes from warehouse/ via data.py."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboards import adoption as adoption_view
from dashboards import data, drilldown, health_view, impact_view
from warehouse import catalog, palette
from warehouse.formatting import hours_text, value_text
from warehouse.impact.measures import DORA_MEASURES
from warehouse.impact.summary import stage_breakdown
from warehouse.levels import BOUNDS

LEVEL_COLOURS = palette.LEVELS
NO_INITIATIVES = "No initiatives: declare them in the config (`[[initiatives]]`) or import initiatives.csv."
PARTIAL = "partial"  # the label of a period the data covers only in part (metrics' `complete`)


def _db() -> tuple[str, str | None]:
    return st.session_state["db"], st.session_state.get("config")


@st.cache_data(ttl=2, show_spinner=False)
def _version(db: str) -> tuple[int | None, date]:
    """What the caches below are keyed on: the warehouse's load version (a load changes it) and
    the day (a running period's coverage moves with it). Read at most every 2 s, so one page
    run opens the file for it once."""
    return data.load_version(db), date.today()


def _key() -> tuple:
    db, _ = _db()
    return _version(db)


# Held until the data changes (the version in their arguments), not for a fixed time; a
# bounded number of entries, so a long-lived server does not grow without end.
@st.cache_data(max_entries=256, show_spinner=False)
def _metrics_at(version, db, config, by, period, since, until):
    return data.metrics(db, config, by, period, since, until)


def _metrics(db, config, by, period, since, until):
    return _metrics_at(_key(), db, config, by, period, since, until)


@st.cache_resource(max_entries=4, show_spinner="Estimating initiative impact…")
def _impact_at(version, db, config):
    return data.impact(db, config)


def _impact(db, config):
    return _impact_at(_key(), db, config)


@st.cache_data(max_entries=16, show_spinner=False)
def _freshness_at(version, db):
    return data.freshness(db)


def _freshness(db):
    return _freshness_at(_key(), db)


@st.cache_data(max_entries=16, show_spinner=False)
def _initiative_starts_at(version, db, config):
    return data.initiative_starts(db, config)


def _initiative_starts(db, config):
    return _initiative_starts_at(_key(), db, config)


@st.cache_data(max_entries=16, show_spinner=False)
def _cohorts_at(version, db, config):
    return data.initiative_cohorts(db, config)


@st.cache_data(max_entries=16, show_spinner=False)
def _teams_at(version, db):
    return data.team_names(db)


def mark_initiatives(fig, since: date | None) -> list[tuple[str, date]]:
    """A dotted vertical line on every subplot at each initiative's start (inside the range
    shown); returns the ones marked, for the caption that names them."""
    db, config = _db()
    try:
        starts, _, _ = _initiative_starts(db, config)
    except data.Busy:
        return []
    shown = [(name, day) for name, day in starts if since is None or day >= since]
    for _name, day in shown:
        fig.add_vline(x=day.isoformat(), line_dash="dot", line_color="#6e7781", row="all", col="all")
    return shown


def data_as_of() -> None:
    """Every page says how fresh its data is: the last completed load of each source."""
    db, _ = _db()
    try:
        loads, _, _ = _freshness(db)
    except data.Busy:
        return
    with st.sidebar:
        if loads.height == 0:
            st.caption("Data as of: no completed sync or import recorded")
            return
        lines = [f"{s}: {at:%Y-%m-%d %H:%M} UTC" for s, at in loads.iter_rows()]
        st.caption("Data as of (last completed sync or import)  \n" + "  \n".join(lines))


@st.cache_data(max_entries=32, show_spinner="Estimating week by week…")
def _event_study_at(version, db, config, name):
    from warehouse.impact import event_study

    results, _, _ = _impact(db, config)
    return event_study([r for r in results if r.initiative.name == name])


def _event_study(db, config, name):
    return _event_study_at(_key(), db, config, name)


def _stale_note(read_at: datetime, stale: bool) -> None:
    if stale:
        st.info(f"A sync is writing to the database; showing data read at {read_at:%H:%M:%S} UTC.")


def _filters(key: str) -> tuple[str, date | None]:
    with st.sidebar:
        period = st.radio(
            "Period", ["week", "month", "quarter"], index=1, key=f"{key}-period", horizontal=True
        )
        months = st.slider("Months shown", 3, 36, 12, key=f"{key}-months")
    # Counted back from where the data ends (today for a live sync), so that an older history
    # still shows.
    db, config = _db()
    end, _, _ = _data_end(_key(), db, config)
    end = end or date.today()
    return period, period_start(end - timedelta(days=30.44 * months), period)


@st.cache_data(max_entries=16, show_spinner=False)
def _data_end(version, db, config):
    return data.data_end(db, config)


def period_start(day: date, period: str) -> date:
    """The first day of the calendar period holding `day`, so no period is cut short."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _complete(frame: pl.DataFrame) -> pl.DataFrame:
    """Periods the data covers whole: a partial one (the running period, the first one) would
    look like a jump or a drop."""
    full = frame.filter(pl.col("complete"))
    return full if full.height else frame


def percent_axis(values: list) -> dict:
    """A percent axis whose ticks never repeat: as many decimals as the spacing between
    plotly's automatic ticks needs (at least a tenth of the range on a chart this high)."""
    known = [v for v in values if v is not None]
    spread = (max(known) - min(known)) * 100 if known else 0.0
    step = spread / 10 if spread > 0 else 1.0
    decimals = 0 if step >= 1 else min(2, math.ceil(-math.log10(step)))
    return {"tickformat": f".{decimals}%"}


def _line(fig, frame: pl.DataFrame, column: str, name: str, row: int, col: int, **style) -> None:
    """A metric over time: complete periods as a line, partial ones as hollow markers
    labelled "partial" (not joined to the line, so a short period cannot read as a fall)."""
    x, done = frame["period_start"], frame["complete"]
    y = frame[column]
    legend = style.pop("legend", False)
    # The metric's colour from the one palette, in every view.
    style["line"] = {"color": palette.colour(column), **style.get("line", {})}
    style.setdefault("marker", {"color": palette.colour(column)})
    fig.add_trace(
        go.Scatter(x=x, y=[v if c else None for v, c in zip(y, done, strict=True)], name=name,
                   mode=style.pop("mode", "lines+markers"), showlegend=legend, legendgroup=name, **style),
        row, col,
    )
    partial = frame.filter(~pl.col("complete") & pl.col(column).is_not_null())
    if partial.height:
        fig.add_trace(
            go.Scatter(x=partial["period_start"], y=partial[column], name=f"{name} ({PARTIAL})",
                       mode="markers+text", text=[PARTIAL] * partial.height, textposition="top center",
                       textfont={"size": 10, "color": "grey"},
                       marker={"symbol": "circle-open", "size": 9, "color": "grey"},
                       showlegend=False, legendgroup=name),
            row, col,
        )


def _hours(value) -> str:
    return hours_text(value)


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


# The KPI cards: (metric key, label, how the value is shown, how its change is shown, whether
# a rise is bad news).
CARDS = [
    ("deployments_per_week", "Deployments / week", lambda v: f"{v:.1f}", lambda d: f"{d:+.1f}", False),
    ("lead_time_median_hours", "Lead time (median)", _hours, lambda d: f"{d:+.1f} h", True),
    ("change_fail_rate", "Change fail rate", _pct, lambda d: f"{d * 100:+.1f} pts", True),
    ("recovery_time_median_hours", "Recovery time (median)", _hours, lambda d: f"{d:+.1f} h", True),
    ("rework_rate", "Rework rate", _pct, lambda d: f"{d * 100:+.1f} pts", True),
]


def delivery() -> None:
    st.title("Delivery performance")
    st.caption(
        "DORA metrics (dora.dev, 2024 grouping) from production deployments. "
        "Throughput: deployment frequency, lead time, recovery time. "
        "Instability: change fail rate, rework rate."
    )
    db, config = _db()
    period, since = _filters("delivery")
    teams, _, _ = _teams_at(_key(), db)
    with st.sidebar:
        team = st.selectbox("Team", ["All teams", *teams], key="delivery-team")
    by = "org" if team == "All teams" else "team"
    frame, read_at, stale = _metrics(db, config, by, period, since, None)
    _stale_note(read_at, stale)
    if frame.height == 0:
        st.warning("No production deployments in this range.")
        return
    if by == "team":
        frame = frame.filter(pl.col("key") == team)
    done = _complete(frame)
    latest = done.row(-1, named=True)
    previous = done.row(-2, named=True) if done.height > 1 else None

    def delta(key, fmt):
        if previous is None or latest[key] is None or previous[key] is None:
            return None
        shown = fmt(latest[key] - previous[key])
        # A change that rounds to nothing is no change: no arrow, no colour ("↓ -0.0 h" in green).
        return shown if any(c in "123456789" for c in shown) else None

    st.subheader(f"{team} · {latest['period']}" + ("" if latest["complete"] else f" ({PARTIAL})"))
    cols = st.columns(6)
    for col, (key, label, shown, change, worse_when_up) in zip(cols, CARDS, strict=False):
        col.metric(
            label,
            shown(latest[key]),
            delta(key, change),
            delta_color="inverse" if worse_when_up else "normal",
        )
    cols[5].metric("DORA 2024 level", (latest["dora_level"] or "–").title())
    st.caption(
        f"{latest['deployments']} deployments, {latest['failed_deployments']} failed of "
        f"{latest['production_deployments']} production deployments, {latest['changes']} changes "
        f"shipped. Periods the data covers only in part (the one in progress, the first one) are "
        f"left out of the cards; the charts show them as hollow markers labelled {PARTIAL}."
    )

    x = frame["period_start"].to_list()
    fig = make_subplots(
        rows=2,
        cols=3,
        subplot_titles=(
            "Deployments per week",
            "Lead time (hours)",
            "Recovery time (hours, median)",
            "Change fail rate",
            "Rework rate",
            "Production deployments (colour: DORA level)",
        ),
    )
    _line(fig, frame, "deployments_per_week", "per week", 1, 1)
    _line(fig, frame, "lead_time_median_hours", "lead time median", 1, 2, legend=True)
    _line(fig, frame, "lead_time_p90_hours", "lead time p90", 1, 2, legend=True, mode="lines",
          line={"dash": "dot"})
    _line(fig, frame, "recovery_time_median_hours", "recovery", 1, 3)
    _line(fig, frame, "change_fail_rate", "fail rate", 2, 1)
    _line(fig, frame, "rework_rate", "rework", 2, 2)
    fig.add_trace(
        go.Bar(x=x, y=frame["production_deployments"], name="production", showlegend=False,
               # Each period's bar in the colour of its DORA level, named on hover.
               marker={"opacity": [1.0 if c else 0.35 for c in frame["complete"]],
                       "color": [LEVEL_COLOURS.get(v, "#8c959f") for v in frame["dora_level"]],
                       "pattern": {"shape": ["" if c else "/" for c in frame["complete"]]}},
               text=["" if c else PARTIAL for c in frame["complete"]], textposition="outside",
               customdata=[(v or "no level").title() for v in frame["dora_level"]],
               hovertemplate="%{x}: %{y} production deployments, DORA level %{customdata}<extra></extra>"),
        2, 3,
    )
    fig.update_yaxes(**percent_axis(frame["change_fail_rate"].to_list()), row=2, col=1)
    fig.update_yaxes(**percent_axis(frame["rework_rate"].to_list()), row=2, col=2)
    fig.update_layout(
        height=580, showlegend=True, margin={"t": 60, "b": 20, "l": 20, "r": 20},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
    )
    marked = mark_initiatives(fig, since)
    st.plotly_chart(fig, width="stretch")
    if marked:
        st.caption("Dotted lines: initiatives starting, " + "; ".join(
            f"{name} on {day:%Y-%m-%d}" for name, day in marked) + ".")
    levels = " · ".join(f"{level}: {name}" for level, name in zip(
        LEVEL_COLOURS, ("dark green", "green", "amber", "red"), strict=True))
    st.caption(f"Production deployments are coloured by each period's DORA 2024 level ({levels}).")
    if by == "org":
        team_multiples(db, config, period, since)


# The metrics the team comparison can show, the catalog's: label -> (column, y-axis format).
TEAM_METRICS = {
    m.label: (m.value_column, ".0%" if m.written == "percent" else None) for m in catalog.metrics()
}


def team_multiples(db: str, config: str | None, period: str, since: date | None) -> None:
    """Every team in one heatmap, team by period, on one scale: which team moves, and when.
    One trace whatever the number of teams (a panel per team cost a trace and an axis pair
    each, and seconds of browser time at 200 teams)."""
    frame, _, _ = _metrics(db, config, "team", period, since, None)
    if frame.height == 0:
        return
    st.subheader("Team by team")
    choice = st.radio("Metric", list(TEAM_METRICS), horizontal=True, key="delivery-team-metric")
    column, tick = TEAM_METRICS[choice]
    try:
        cohorts, _, _ = _cohorts_at(_key(), db, config)
    except data.Busy:
        cohorts = []
    fig, shown = team_heatmap(frame, column, tick, cohorts, period)
    st.plotly_chart(fig, width="stretch", key="team-multiples")
    st.caption(
        f"{shown} teams, one colour scale (from the 5th to the 95th percentile: one thin period "
        f"cannot wash out the rest); columns marked * are periods the data covers only in part; "
        "◆ marks the period a team adopted an initiative (hover for which)."
    )


def team_heatmap(frame: pl.DataFrame, column: str, tick: str | None, cohorts: list, period: str):
    """(figure, number of teams): the teams x periods heatmap of one metric, in the metric's
    colour, with a marker where each adopting team's initiative began."""
    periods = frame.select("period", "period_start", "complete").unique("period").sort("period_start")
    labels = {p: p + ("" if c else "*") for p, _s, c in periods.iter_rows()}
    teams = sorted(frame["key"].unique().to_list())
    wide = (frame.select("key", "period", pl.col(column).cast(pl.Float64))
            .pivot(on="period", index="key", values=column))
    wide = pl.DataFrame({"key": teams}).join(wide, on="key", how="left")
    order = [p for p in periods["period"] if p in wide.columns]
    z = wide.select(order).to_numpy()
    known = [v for v in z.flatten().tolist() if v is not None and not math.isnan(v)]
    low, high = (float(pl.Series(known).quantile(q)) for q in (0.05, 0.95)) if known else (0.0, 1.0)
    colour = palette.colour(column)
    fig = go.Figure(go.Heatmap(
        z=z, x=[labels[p] for p in order], y=teams, zmin=low, zmax=max(high, low + 1e-9),
        colorscale=[[0, "#f7f7f7"], [1, colour]], hoverongaps=False,
        colorbar={"tickformat": tick or "", "thickness": 12},
        hovertemplate="%{y}, %{x}: %{z" + (":" + tick if tick else ":.1f") + "}<extra></extra>",
    ))
    starts = {p: s for p, s in zip(periods["period"], periods["period_start"], strict=True)}
    marks = [(name, team, day) for name, team, day in cohorts if team in set(teams)]
    xs, ys, names = [], [], []
    for name, team, day in marks:
        inside = [p for p in order if starts[p] <= day]
        if inside and day <= starts[order[-1]] + timedelta(days=92):
            xs.append(labels[inside[-1]])
            ys.append(team)
            names.append(f"{team} adopted {name} on {day:%Y-%m-%d}")
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", text=names, hoverinfo="text",
                                 marker={"symbol": "diamond", "size": 8, "color": "#111827"},
                                 showlegend=False))
    fig.update_layout(
        height=min(max(260, 18 * len(teams) + 90), 1100), margin={"t": 20, "b": 20, "l": 20, "r": 20},
        yaxis={"autorange": "reversed", "automargin": True}, xaxis={"type": "category"},
    )
    return fig, len(teams)


ROW_PX = 35  # the height of a row in st.dataframe

# Readable headings for the teams table's columns.
TEAM_COLUMNS = {
    "team": st.column_config.TextColumn("Team", pinned=True),
    "deployments": st.column_config.NumberColumn("Deployments"),
    "deployments_per_week": st.column_config.NumberColumn("Deploys / week"),
    "changes": st.column_config.NumberColumn("Changes"),
    "lead_time_median_hours": st.column_config.NumberColumn("Lead time median (h)"),
    "lead_time_p90_hours": st.column_config.NumberColumn("Lead time p90 (h)"),
    "failed_deployments": st.column_config.NumberColumn("Failed"),
    "production_deployments": st.column_config.NumberColumn("Production deploys"),
    "change_fail_rate": st.column_config.NumberColumn("Change fail rate", format="percent"),
    "recovery_time_median_hours": st.column_config.NumberColumn("Recovery median (h)"),
    "rework_rate": st.column_config.NumberColumn("Rework rate", format="percent"),
    "dora_level": st.column_config.TextColumn("DORA level"),
}


def teams() -> None:
    st.title("Teams")
    st.caption("Every team side by side, and the rows behind any number.")
    db, config = _db()
    period, since = _filters("teams")
    frame, read_at, stale = _metrics(db, config, "team", period, since, None)
    _stale_note(read_at, stale)
    if frame.height == 0:
        st.warning("No production deployments in this range.")
        return
    periods = (
        frame.group_by("period", "period_start").agg(pl.col("complete").all())
        .sort("period_start", descending=True)
    )
    labels = [p if c else f"{p} ({PARTIAL})" for p, c in periods.select("period", "complete").iter_rows()]
    # Open on the newest period the data covers whole, not on an empty running one.
    whole = [i for i, c in enumerate(periods["complete"]) if c]
    label = st.selectbox("Period", labels, index=whole[0] if whole else 0, key="teams-chosen-period")
    chosen = periods["period"][labels.index(label)]
    # A column no row fills (no failure, no recovery) has no numeric type: cast before rounding.
    rows = frame.filter(pl.col("period") == chosen)
    # The rates a reader compares, in columns that fit a laptop's screen; the counts behind
    # them one click away (below), the rows behind those in the drill-down.
    table = rows.select(
        pl.col("key").alias("team"),
        pl.col("deployments_per_week").cast(pl.Float64).round(1),
        pl.col("lead_time_median_hours").cast(pl.Float64).round(1),
        pl.col("change_fail_rate").cast(pl.Float64).round(3),
        pl.col("recovery_time_median_hours").cast(pl.Float64).round(1),
        pl.col("rework_rate").cast(pl.Float64).round(3),
        "dora_level",
    )
    st.markdown(f"**{table.height} teams** in {chosen}")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        # Tall enough for every team: no row hidden behind a scroll.
        height=ROW_PX * (table.height + 1) + 3,
        column_config=TEAM_COLUMNS,
    )
    with st.expander("The counts behind the rates"):
        st.dataframe(
            rows.select(pl.col("key").alias("team"), "deployments", "changes",
                        pl.col("lead_time_p90_hours").cast(pl.Float64).round(1),
                        "failed_deployments", "production_deployments"),
            hide_index=True, width="stretch", height=ROW_PX * (table.height + 1) + 3,
            column_config=TEAM_COLUMNS,
        )

    st.subheader("Drill down")
    team = st.selectbox("Team", table["team"].to_list(), key="teams-drill")
    row = frame.filter((pl.col("period") == chosen) & (pl.col("key") == team)).row(0, named=True)
    start, end = row["period_start"], row["period_end"]
    deployments, _, _ = drilldown.rows("deployments", db, config, team, start, end)
    changes, _, _ = drilldown.rows("changes", db, config, team, start, end)
    # One above the other, each the page's width: the rows behind a number have many columns.
    left, right = st.container(key="detail-deployments"), st.container(key="detail-changes")
    # The same two counts as the CLI's `deploys` and `of`: the table lists every production
    # deployment, failed runs included, so its heading counts those rows.
    failed_runs = deployments.filter(pl.col("status") == "failure").height
    left.markdown(
        f"**{deployments.height} production deployments** of {team} in {chosen}: "
        f"{row['deployments']} successful, {failed_runs} failed runs; "
        f"{row['failed_deployments']} needed intervention"
    )
    left.dataframe(deployments, hide_index=True, width="stretch", height=360, column_config=drilldown.COLUMNS)
    right.markdown(f"**{changes.height} changes shipped** by {team} in {chosen} (lead time per change)")
    right.dataframe(changes, hide_index=True, width="stretch", height=360, column_config=drilldown.COLUMNS)


ESTIMATE_COLUMNS = {
    "Verdict": st.column_config.TextColumn("Verdict", width="medium"),
    "Why": st.column_config.TextColumn("Why (no verdict, inconclusive, or not called after Holm)",
                                       width="large"),
    "p adjusted": st.column_config.TextColumn(
        "p adjusted", help="the primary metric's test at 5%; once it is called, Holm over the other DORA "
        "metrics: a call needs this p-value under 0.05"),
    "Endpoint": st.column_config.TextColumn(
        "Endpoint", help="primary: the metric the plan registers; secondary: the other DORA metrics, tested "
        "once the primary is called; descriptive and exploratory rows carry no verdict"),
    "Detectable (mde)": st.column_config.TextColumn(
        "Detectable (mde)", help="the smallest change the row's test finds 80% of the time at 5%"),
}


@st.cache_data(max_entries=32, show_spinner=False)
def _group_series_at(version, db, config, name):
    results, _, _ = _impact(db, config)
    return impact_view.group_series(next(r.impact for r in results if r.initiative.name == name))


def initiatives() -> None:
    st.title("Initiatives")
    st.caption(
        "Did a platform initiative make delivery faster and safer, or slower and riskier? "
        "Adopting teams compared with teams that had not (yet) adopted; intervals are 95%."
    )
    db, config = _db()
    try:
        results, read_at, stale = _impact(db, config)
    except data.Busy:
        st.info("A sync is writing to the database; impact will show when it finishes.")
        return
    _stale_note(read_at, stale)
    if not results:
        st.warning(NO_INITIATIVES)
        return
    names = [r.initiative.name for r in results]
    # ?initiative=NAME opens on that one (a link can say which it means).
    wanted = st.query_params.get("initiative")
    name = st.selectbox("Initiative", names, index=names.index(wanted) if wanted in names else 0,
                        key="initiative")
    result = results[names.index(name)]
    for line in result.summary:
        st.markdown(f"- {line}")
    rows = pl.DataFrame(result.rows(), infer_schema_length=None)
    primary = rows.filter(pl.col("primary"))
    # The forest plot shows the DORA metrics and factors; handoff counts move by far larger
    # multiples and would squash the scale (they are in the table below).
    treated = primary.filter((pl.col("group") != "org") & pl.col("metric").is_in(DORA_MEASURES))
    if treated.height:
        fig = go.Figure()
        labels = [impact_view.label(m) for m in treated["metric"].to_list()]
        rel = treated["relative_change"].to_list()
        lo = treated["ci_low"].to_list()
        hi = treated["ci_high"].to_list()
        fig.add_trace(
            go.Scatter(
                x=rel,
                y=labels,
                mode="markers",
                marker={"size": 11},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [(h - r) if None not in (h, r) else 0 for h, r in zip(hi, rel, strict=True)],
                    "arrayminus": [
                        (r - lo_) if None not in (lo_, r) else 0 for lo_, r in zip(lo, rel, strict=True)
                    ],
                },
                text=treated["verdict"].to_list(),
                hovertemplate="%{y}: %{x:.1%} (%{text})<extra></extra>",
            )
        )
        fig.add_vline(x=0, line_dash="dash", line_color="grey")
        fig.update_layout(
            title="Relative change for adopting teams (primary estimate, 95% CI)",
            xaxis_tickformat="+.0%",
            height=360,
            margin={"t": 50, "b": 20},
        )
        st.plotly_chart(fig, width="stretch")
    st.subheader("Estimates")
    st.caption(
        "Each change is measured against what the adopting teams would show without the "
        "initiative (for difference-in-differences: their trend carried by the teams that had "
        "not adopted). From a base near zero the change is absolute, not a percentage."
    )
    adopters = primary.filter(pl.col("group") != "org")
    shown = primary if adopters.is_empty() else adopters
    estimates = impact_view.table(shown.to_dicts())
    # The adopting teams' estimates (the whole org's are under "Every estimate"), in the
    # columns a reader needs to follow each verdict; a table whose cells wrap, so the adjusted
    # p and the reason a call was withheld stay on screen at any width.
    st.table(estimates.select(
        "Metric", "Endpoint", "Change", "Verdict", "95% interval (relative)", "Trend taken out (the test)",
        "p adjusted", "Detectable (mde)", "Why"))
    with st.expander("Against what: the counterfactual and the method of each estimate"):
        st.table(estimates.select("Metric", "Without the initiative", "Adopters, after", "Method"))
    stages = impact_view.stage_chart(stage_breakdown(result.impact))
    if stages is not None:
        st.subheader("Where lead time goes")
        st.caption("Lead-time stages per pull request, without the initiative and with it.")
        st.plotly_chart(stages, width="stretch")
    groups = impact_view.groups_chart(
        _group_series_at(_key(), db, config, name), [c.started_on for c in result.initiative.cohorts])
    study = impact_view.event_study_chart(_event_study(db, config, name))
    st.subheader("Adopters against comparison teams, over time")
    if groups is None:
        st.caption("No comparison: an org-wide initiative has no teams to compare with.")
    else:
        st.caption(
            f"Each group's metric over the {impact_view.SMOOTH_WEEKS} weeks to each week (rates "
            "through their counts, durations as geometric means), the adoption dates dotted. The "
            "comparison teams are the estimate's, week by week: for each cohort, the teams that had "
            "not adopted yet (later cohorts included) and were steady on every other initiative, "
            "in the weeks around its adoption; elsewhere there is no comparison line."
        )
        st.plotly_chart(groups, width="stretch", key="groups")
    st.subheader("Week by week, relative to adoption")
    if study is None:
        st.caption("No event study: an org-wide initiative has no teams to compare with.")
    else:
        st.caption(
            "The effect on the adopting teams in each week from adoption (0, red) with its 95% "
            "interval; before 0 it should hover at zero if the two groups' trends were parallel."
        )
        st.plotly_chart(study, width="stretch", key="event-study")
    adoption = result.adoption
    st.subheader("Adoption")
    st.caption(adoption.message + ". Per team on the Adoption page.")
    if adoption.weeks:
        weeks = pl.DataFrame(adoption.weeks, infer_schema_length=None)
        fig = go.Figure(go.Scatter(x=weeks["week"], y=weeks["share"], mode="lines", name="deployments"))
        fig.update_layout(
            yaxis_tickformat=".0%", height=280, margin={"t": 20, "b": 20}, yaxis_title="share on the new path"
        )
        st.plotly_chart(fig, width="stretch")
    with st.expander("Every estimate (all methods and groups)"):
        every = impact_view.table(rows.to_dicts()).with_columns(Primary=rows["primary"])
        st.dataframe(every, hide_index=True, width="stretch", column_config=ESTIMATE_COLUMNS)


@st.cache_data(max_entries=8, show_spinner=False)
def _health_at(version, db, config):
    return data.health(db, config)


@st.cache_data(max_entries=8, show_spinner=False)
def _checks_at(version, db, config):
    return health_view.checks(db, config)


def health() -> None:
    st.title("Data health")
    st.caption("What the metrics rest on, and the gaps that make them less complete than they look.")
    db, config = _db()
    info, read_at, stale = _health_at(_key(), db, config)
    _stale_note(read_at, stale)
    # At most five cards a row: a count of six digits stays whole on a laptop's screen.
    tables = list(info["tables"].items())
    for first in range(0, len(tables), 5):
        cols = st.columns(5)
        for col, (table, count) in zip(cols, tables[first:first + 5], strict=False):
            col.metric(table.replace("_", " "), f"{count:,}")
    gaps = {
        "deployments outside production (ignored)": info["non_production_deployments"],
        "changes with no shipping deployment (no lead time)": info["changes_without_deployment"],
        "incidents attributed to no deployment (none named, none in the time window)": info[
            "unattributed_incidents"
        ],
        "incidents not resolved yet": info["unresolved_incidents"],
        "production deployments of no known team": info["unassigned_deployments"],
    }
    st.table({"gap": list(gaps), "rows": list(gaps.values())})
    st.markdown(f"Last production deployment: **{info['last_deployment']}**")
    checks, _, _ = _checks_at(_key(), db, config)
    st.subheader("Coverage gaps")
    for gap in checks["gaps"]:
        with st.expander(f"{gap.title}: {gap.count:,}", expanded=bool(gap.count)):
            st.caption(gap.why)
            if gap.count:
                n = gap.sample.height
                st.caption(f"Sample: the newest {n} of {gap.count:,}." if gap.count > n else "All of them.")
                st.dataframe(gap.sample, hide_index=True, width="stretch")
    st.subheader("Last sync per repository and resource")
    syncs = checks["syncs"]
    if syncs.height:
        tall = min(ROW_PX * (syncs.height + 1) + 3, 600)
        st.dataframe(syncs, hide_index=True, width="stretch", height=tall,
                     column_config={"last_synced": st.column_config.DatetimeColumn(
                         "Last synced (UTC)", format="YYYY-MM-DD HH:mm")})
    else:
        st.caption("No repository has been synced (the data came from imports or the demo).")
    st.subheader("Rate limits at the last sync")
    limits = checks["rate_limits"]
    if limits.height:
        st.dataframe(limits, hide_index=True, width="stretch", column_config={
            "remaining": st.column_config.NumberColumn("Requests remaining"),
            "reset_at": st.column_config.TextColumn("Resets at (UTC)"),
            "reported_at": st.column_config.DatetimeColumn("Reported (UTC)", format="YYYY-MM-DD HH:mm")})
    else:
        st.caption("No rate-limit state recorded: no GitHub sync has completed.")


LEVEL_RANK = {"low": 0, "medium": 1, "high": 2, "elite": 3}
QUARTER_METRICS = catalog.METRICS
TREND_QUARTERS = 8  # the trend under the comparison: the last two years


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.0f}%".replace("-", "−")


_value = value_text  # a metric's value in its unit, as a person writes it (the one formatter)


def _levels(before: str | None, after: str | None) -> str:
    if before is None and after is None:
        return "–"
    return (before or "–") if before == after else f"{before or '–'} → {after or '–'}"


@st.cache_data(max_entries=16, show_spinner=False)
def _quarter_choices(version, db):
    return data.quarters(db)


@st.cache_data(max_entries=64, show_spinner="Comparing the quarters…")
def _compare_at(version, db, config, a, b):
    from warehouse.compare import PeriodError

    try:
        return data.compare(db, config, a, b), None
    except PeriodError as exc:  # overlapping, reversed, or a quarter without data: say which
        return None, str(exc)


@st.cache_data(max_entries=16, show_spinner=False)
def _compare_csv(version, db, config, a, b) -> str:
    from warehouse.compare import rows_csv

    (rows, _, _), _error = _compare_at(version, db, config, a, b)
    return rows_csv(rows)  # the function behind `compare A B --format csv`: the same bytes


def quarters() -> None:
    from warehouse.glance import org_answers

    st.title("Quarters")
    st.caption("Quarter against quarter for the org and every team: the numbers of `dora-impact compare`.")
    db, config = _db()
    version = _key()
    choices, _, _ = _quarter_choices(version, db)
    if len(choices) < 2:
        st.warning("The data covers less than two quarters.")
        return
    # ?a=2026-Q3&b=2026-Q2 picks the pair (a link can say which quarters it means).
    wanted_a = st.query_params.get("a", choices[1] if len(choices) > 2 else choices[0])
    wanted_b = st.query_params.get("b", choices[choices.index(wanted_a) + 1]
                                   if wanted_a in choices[:-1] else choices[-1])
    left, right = st.columns(2)
    a = left.selectbox("Quarter", choices, index=choices.index(wanted_a) if wanted_a in choices else 0)
    b = right.selectbox("Compared with", choices, index=choices.index(wanted_b) if wanted_b in choices else 1)
    compared, error = _compare_at(version, db, config, a, b)
    if error:
        st.warning(error)
        return
    rows, read_at, stale = compared
    _stale_note(read_at, stale)
    first = rows[0]
    for side in ("a", "b"):
        if not first[f"complete_{side}"]:
            st.info(f"{first[side]} is partial: measured over {first[f'covered_days_{side}']:.0f} days "
                    "(still running, or the data covers only part of it); rates are per covered day.")
    st.subheader("At a glance")
    for line in org_answers(rows):
        st.markdown(f"- {line}")

    org = [r for r in rows if r["scope"] == "org"]
    st.subheader("The org")
    st.caption(
        "DORA 2024 cluster (every metric's bound met at once): "
        f"{_levels(first['level_b'], first['level_a'])}. "
        "Each metric's own level is beside it (rework rate has no published cut-off)."
    )
    org_table = pl.DataFrame([
        {
            "Metric": palette.label(r["metric"]), "Unit": palette.unit(r["metric"]),
            b: _value(r["metric"], r["value_b"]), a: _value(r["metric"], r["value_a"]),
            "Change": _signed(r["change"]),
            "95% interval": "–" if r["ci_low"] is None
            else f"{_signed(r['ci_low'])} to {_signed(r['ci_high'])}",
            "Beyond noise": "yes" if r["beyond_noise"] else "no",
            "DORA level": _levels(r["metric_level_b"], r["metric_level_a"]),
            "n": f"{r['n_b']} / {r['n_a']}",
        }
        for r in org
    ], infer_schema_length=None)
    # A plain table (not a canvas grid): every cell is text a reader can select and copy.
    st.table(org_table)
    quarter_trend(db, config, a)

    team_rows = [r for r in rows if r["scope"] != "org"]
    if team_rows:
        quarter_teams(team_rows, a, b)
    quarter_downloads(db, config, a, b)


def quarter_trend(db: str, config: str | None, a: str) -> None:
    """The org's last quarters up to the one looked at, one small chart per metric, partial
    quarters hollow and labelled (the running one, one the data begins inside)."""
    frame, _, _ = _metrics(db, config, "org", "quarter", None, None)
    if frame.height == 0:
        return
    frame = frame.filter(pl.col("period") <= a).tail(TREND_QUARTERS)
    columns = [
        ("deployments_per_week", "Deployments a week"), ("lead_time_median_hours", "Lead time (h, median)"),
        ("change_fail_rate", "Change fail rate"), ("recovery_time_median_hours", "Recovery time (h, median)"),
    ]
    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=[t for _c, t in columns])
    for i, (column, _title) in enumerate(columns, start=1):
        _line(fig, frame, column, palette.label(column), 1, i)
        y_range = palette.robust_range(frame.filter(pl.col("complete"))[column].to_list())
        fig.update_yaxes(range=y_range, row=1, col=i)
    fig.update_yaxes(tickformat=".0%", row=1, col=3)
    fig.update_xaxes(tickvals=frame["period_start"].to_list(), ticktext=frame["period"].to_list())
    fig.update_layout(height=260, margin={"t": 40, "b": 20, "l": 20, "r": 20}, showlegend=False)
    st.subheader(f"The last {frame.height} quarters")
    st.plotly_chart(fig, width="stretch", key="quarter-trend")


def quarter_teams(team_rows: list[dict], a: str, b: str) -> None:
    """One row per team: its cluster, each metric's change (flagged when beyond noise after
    Benjamini-Hochberg over the teams), and a team x metric map of the levels in the quarter."""
    by_team: dict[str, dict] = {}
    for r in team_rows:
        row = by_team.setdefault(
            r["key"], {"Team": r["key"], "DORA cluster": _levels(r["level_b"], r["level_a"])})
        if r["metric"] in QUARTER_METRICS:
            row[palette.label(r["metric"])] = _signed(r["change"]) + (" ●" if r["beyond_noise"] else "")
            row[f"_{r['metric']}"] = r["metric_level_a"]
    st.subheader("Teams")
    st.caption(
        f"Change from {b} to {a}; ● beyond week-to-week noise after Benjamini-Hochberg over the "
        f"{len(by_team)} teams of each metric (5% false discovery rate), so a large change on a "
        "thin sample is not flagged by chance alone."
    )
    table = pl.DataFrame(
        [{k: v for k, v in row.items() if not k.startswith("_")} for row in by_team.values()])
    st.table(table)  # text, like the org's: short cells that fit any width (one column a metric)
    st.subheader(f"DORA levels per metric, {a}")
    keys = list(by_team)
    metrics = [m for m in QUARTER_METRICS if m in BOUNDS]  # the metrics with a published level
    z = [[LEVEL_RANK.get(by_team[k].get(f"_{m}"), None) for m in metrics] for k in keys]
    text = [[by_team[k].get(f"_{m}") or "–" for m in metrics] for k in keys]
    heat = go.Figure(go.Heatmap(
        z=z, x=[palette.label(m) for m in metrics], y=keys, text=text, texttemplate="%{text}",
        zmin=0, zmax=3, showscale=False, hovertemplate="%{y}, %{x}: %{text}<extra></extra>",
        colorscale=[[0, LEVEL_COLOURS["low"]], [1 / 3, LEVEL_COLOURS["medium"]],
                    [2 / 3, LEVEL_COLOURS["high"]], [1, LEVEL_COLOURS["elite"]]],
    ))
    heat.update_layout(height=min(60 + 24 * len(keys), 1100), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                       yaxis={"autorange": "reversed", "automargin": True})
    st.plotly_chart(heat, width="stretch", key="quarter-levels")


@st.fragment
def quarter_downloads(db: str, config: str | None, a: str, b: str) -> None:
    """The CSV and the HTML report. A fragment, and downloads that do not ask for a rerun: a
    click re-runs this box at most, never the page."""
    version = _key()
    left, right = st.columns(2)
    left.download_button("Download CSV", _compare_csv(version, db, config, a, b),
                         file_name=f"compare-{a}-{b}.csv", mime="text/csv", on_click="ignore")
    if right.button("Prepare the HTML report"):
        with st.spinner("Rendering the report…"):
            html = _report_html(version, db, config, a, b)
        right.download_button("Download the HTML report", html, file_name=f"report-{a}.html",
                              mime="text/html", on_click="ignore")


@st.cache_data(max_entries=8, show_spinner=False)
def _report_html(version, db, config, a, b) -> str:
    return data.report_html(db, config, a, b)


@st.cache_data(max_entries=8, show_spinner="Measuring adoption…")
def _adoption_at(version, db, config):
    return adoption_view.curves(db, config)


def _adoption(db, config):
    return _adoption_at(_key(), db, config)


def adoption() -> None:
    st.title("Adoption")
    st.caption(
        "Declaring that teams adopted is not the same as them using it. Per initiative, the weekly "
        "share of the adopting teams' production deployments that went through the new path (its "
        "adoption rule: a deployment environment or CI workflow), together and per team; dotted red "
        "lines mark each cohort's adoption date."
    )
    db, config = _db()
    curves, read_at, stale = _adoption(db, config)
    _stale_note(read_at, stale)
    if not curves:
        st.warning(NO_INITIATIVES)
        return
    for curve in curves:
        initiative = curve.initiative
        st.subheader(initiative.name)
        cohorts = "; ".join(
            f"{', '.join(c.teams) or 'every team'} from {c.started_on:%Y-%m-%d}" for c in initiative.cohorts
        )
        st.caption(f"{initiative.kind}: {cohorts}. {initiative.description or ''}")
        if curve.signal is None:
            st.info("No adoption signal: no adoption rule is configured (`adoption_environment` or "
                    "`adoption_workflow` in `[[initiatives]]`, or the columns of initiatives.csv).")
            continue
        if not curve.has_signal:
            st.info(f"No adoption signal: no deployment of the adopting teams matches the {curve.signal}.")
            continue
        total = adoption_view.weekly(curve)
        latest = total.filter(pl.col("deployments") > 0).row(-1, named=True)
        shares = adoption_view.team_shares(curve)
        cols = st.columns(3)
        cols[0].metric(f"Week of {latest['week']:%Y-%m-%d}", f"{latest['share']:.0%}",
                       help="Share of the adopting teams' production deployments on the new path")
        cols[1].metric("Deployments that week", f"{latest['new_path']} of {latest['deployments']}")
        settled = shares.filter(pl.col("share since") >= 0.5).height
        cols[2].metric("Teams with half or more on the new path", f"{settled} of {shares.height}")
        st.caption(f"Measured by {curve.signal}.")
        st.plotly_chart(adoption_view.chart(curve), width="stretch", key=f"adoption-{initiative.name}")
        st.dataframe(
            shares, hide_index=True, width="stretch", height=ROW_PX * (shares.height + 1) + 3,
            column_config={
                "team": st.column_config.TextColumn("Team"),
                "adopted on": st.column_config.DateColumn("Adopted on"),
                "deployments since": st.column_config.NumberColumn(
                    "Deployments since the ramp", help="Production deployments after the settling-in weeks"),
                "share since": st.column_config.NumberColumn("On the new path since", format="percent"),
                "share, last 4 weeks": st.column_config.NumberColumn("Last 4 weeks", format="percent"),
            },
        )
