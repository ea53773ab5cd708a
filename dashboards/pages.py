"""The dashboard's pages. Presentation only: every number comes from warehouse/ via data.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from dashboards import data
from warehouse.impact.analysis import ROW_KEYS
from warehouse.impact.measures import DORA_MEASURES

LEVEL_COLOURS = {"elite": "#1a7f37", "high": "#2da44e", "medium": "#bf8700", "low": "#cf222e"}
PERIOD_DAYS = {"week": 7, "month": 31, "quarter": 92}


def _db() -> tuple[str, str | None]:
    return st.session_state["db"], st.session_state.get("config")


@st.cache_data(ttl=30, show_spinner=False)
def _metrics(db, config, by, period, since, until):
    return data.metrics(db, config, by, period, since, until)


@st.cache_resource(ttl=600, show_spinner="Estimating initiative impact…")
def _impact(db, config):
    return data.impact(db, config)


def _stale_note(read_at: datetime, stale: bool) -> None:
    if stale:
        st.info(f"A sync is writing to the database; showing data read at {read_at:%H:%M:%S} UTC.")


def _filters(key: str) -> tuple[str, date | None]:
    with st.sidebar:
        period = st.radio(
            "Period", ["week", "month", "quarter"], index=1, key=f"{key}-period", horizontal=True
        )
        months = st.slider("Months shown", 3, 36, 12, key=f"{key}-months")
    return period, period_start(date.today() - timedelta(days=30.44 * months), period)


def period_start(day: date, period: str) -> date:
    """The first day of the calendar period holding `day`, so no period is cut short."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _complete(frame: pl.DataFrame, period: str) -> pl.DataFrame:
    """Periods that have ended: the running one would look like a drop."""
    full = frame.filter(pl.col("period_days") >= PERIOD_DAYS[period] - 3)
    return full if full.height else frame


def _hours(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"


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
    teams_frame, _, _ = _metrics(db, config, "team", "quarter", None, None)
    teams = sorted(teams_frame["key"].unique().to_list()) if teams_frame.height else []
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
    done = _complete(frame, period)
    latest = done.row(-1, named=True)
    previous = done.row(-2, named=True) if done.height > 1 else None

    def delta(key, fmt):
        if previous is None or latest[key] is None or previous[key] is None:
            return None
        return fmt(latest[key] - previous[key])

    st.subheader(f"{team} · {latest['period']}")
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
        f"shipped. The period in progress is left out of the cards, not the charts."
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
            "Production deployments",
        ),
    )
    fig.add_trace(
        go.Scatter(x=x, y=frame["deployments_per_week"], name="per week", mode="lines+markers"), 1, 1
    )
    fig.add_trace(
        go.Scatter(x=x, y=frame["lead_time_median_hours"], name="median", mode="lines+markers"), 1, 2
    )
    fig.add_trace(
        go.Scatter(x=x, y=frame["lead_time_p90_hours"], name="p90", mode="lines", line={"dash": "dot"}), 1, 2
    )
    fig.add_trace(
        go.Scatter(x=x, y=frame["recovery_time_median_hours"], name="recovery", mode="lines+markers"), 1, 3
    )
    fig.add_trace(go.Scatter(x=x, y=frame["change_fail_rate"], name="fail rate", mode="lines+markers"), 2, 1)
    fig.add_trace(go.Scatter(x=x, y=frame["rework_rate"], name="rework", mode="lines+markers"), 2, 2)
    fig.add_trace(go.Bar(x=x, y=frame["production_deployments"], name="production"), 2, 3)
    fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_yaxes(tickformat=".0%", row=2, col=2)
    fig.update_layout(height=560, showlegend=False, margin={"t": 40, "b": 20, "l": 20, "r": 20})
    st.plotly_chart(fig, width="stretch")


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
    periods = frame.select("period", "period_start").unique().sort("period_start", descending=True)
    chosen = st.selectbox("Period", periods["period"].to_list(), key="teams-chosen-period")
    table = frame.filter(pl.col("period") == chosen).select(
        pl.col("key").alias("team"),
        "deployments",
        pl.col("deployments_per_week").round(1),
        "changes",
        pl.col("lead_time_median_hours").round(1),
        pl.col("lead_time_p90_hours").round(1),
        "failed_deployments",
        "production_deployments",
        pl.col("change_fail_rate").round(3),
        pl.col("recovery_time_median_hours").round(1),
        pl.col("rework_rate").round(3),
        "dora_level",
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "change_fail_rate": st.column_config.NumberColumn("change fail rate", format="percent"),
            "rework_rate": st.column_config.NumberColumn("rework rate", format="percent"),
        },
    )

    st.subheader("Drill down")
    team = st.selectbox("Team", table["team"].to_list(), key="teams-drill")
    row = frame.filter((pl.col("period") == chosen) & (pl.col("key") == team)).row(0, named=True)
    start, end = row["period_start"], row["period_end"]
    deployments, _, _ = data.rows_behind("deployments", db, config, team, start, end)
    changes, _, _ = data.rows_behind("changes", db, config, team, start, end)
    left, right = st.columns(2)
    left.markdown(f"**{deployments.height} production deployments** of {team} in {chosen}")
    left.dataframe(deployments, hide_index=True, width="stretch", height=360)
    right.markdown(f"**{changes.height} changes shipped** (lead time per change)")
    right.dataframe(changes, hide_index=True, width="stretch", height=360)


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
        st.warning(
            "No initiatives: declare them in the config (`[[initiatives]]`) or import initiatives.csv."
        )
        return
    names = [r.initiative.name for r in results]
    name = st.selectbox("Initiative", names, key="initiative")
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
        labels = treated["metric"].to_list()
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
    st.dataframe(
        primary.select([k for k in ROW_KEYS if k not in ("initiative", "primary")]),
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(c, format="percent")
            for c in ("relative_change", "ci_low", "ci_high")
        },
    )
    adoption = result.adoption
    st.subheader("Adoption")
    st.caption(adoption.message)
    if adoption.weeks:
        weeks = pl.DataFrame(adoption.weeks, infer_schema_length=None)
        fig = go.Figure(go.Scatter(x=weeks["week"], y=weeks["share"], mode="lines", name="deployments"))
        fig.update_layout(
            yaxis_tickformat=".0%", height=280, margin={"t": 20, "b": 20}, yaxis_title="share on the new path"
        )
        st.plotly_chart(fig, width="stretch")
    with st.expander("Every estimate (all methods and groups)"):
        st.dataframe(rows, hide_index=True, width="stretch")


def health() -> None:
    st.title("Data health")
    st.caption("What the metrics rest on, and the gaps that make them less complete than they look.")
    db, config = _db()
    info, read_at, stale = data.health(db, config)
    _stale_note(read_at, stale)
    cols = st.columns(len(info["tables"]))
    for col, (table, count) in zip(cols, info["tables"].items(), strict=True):
        col.metric(table.replace("_", " "), f"{count:,}")
    gaps = {
        "deployments outside production (ignored)": info["non_production_deployments"],
        "changes with no shipping deployment (no lead time)": info["changes_without_deployment"],
        "incidents attributed to no deployment": info["unattributed_incidents"],
        "incidents not resolved yet": info["unresolved_incidents"],
        "production deployments of no known team": info["unassigned_deployments"],
    }
    st.table({"gap": list(gaps), "rows": list(gaps.values())})
    st.markdown(f"Last production deployment: **{info['last_deployment']}**")
    if info["sync_state"].height:
        st.subheader("Sync cursors")
        st.dataframe(info["sync_state"], hide_index=True, width="stretch")
