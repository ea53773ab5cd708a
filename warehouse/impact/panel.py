"""The weekly team panel: every measure's weekly sums per team, as (teams x weeks) arrays.

The SQL in warehouse/sql/impact_*.sql turns the metric views (prod_deployments,
change_lead_times) and pull requests/reviews into one row per (team, week); here those rows
become dense arrays, with the weeks before a team's first row (it did not exist yet) marked
inactive so that they do not count as weeks without deployments. From its first row on a
team counts as active until the data ends (or its explicit end): a team that slows down and
stops shipping has zero weeks, and leaving them out would make it look faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources

import numpy as np
import polars as pl

from warehouse.config import MetricsConfig
from warehouse.db import Warehouse
from warehouse.impact.measures import PANEL_COLUMNS

SQL_FILES = ("impact_pr_flow.sql", "impact_team_weeks.sql")


@dataclass
class Panel:
    teams: list[str]
    weeks: list[date]  # consecutive Mondays
    values: dict[str, np.ndarray]  # column -> (teams, weeks) float array
    complete_weeks: int  # weeks [0, complete_weeks) are complete; later ones are cut short

    def __post_init__(self) -> None:
        self._team_index = {t: i for i, t in enumerate(self.teams)}

    @property
    def n_teams(self) -> int:
        return len(self.teams)

    def week_index(self, day: date) -> int:
        """Index of the week containing `day` (may be < 0 or >= len(weeks))."""
        monday = day - timedelta(days=day.weekday())
        return (monday - self.weeks[0]).days // 7 if self.weeks else 0

    def mask(self, teams: list[str] | set[str]) -> np.ndarray:
        out = np.zeros(self.n_teams, dtype=bool)
        for team in teams:
            if team in self._team_index:
                out[self._team_index[team]] = True
        return out

    def __getitem__(self, column: str) -> np.ndarray:
        return self.values[column]


def _sql(name: str) -> str:
    return (resources.files("warehouse") / "sql" / name).read_text()


def create_views(wh: Warehouse, cfg: MetricsConfig | None = None) -> None:
    """The metric views, then the impact views over them, on this connection."""
    from warehouse.metrics import prepare

    prepare(wh, cfg)
    for name in SQL_FILES:
        wh.con.execute(_sql(name))


def from_frame(
    frame: pl.DataFrame, last_event: date | None = None, ends: dict[str, date] | None = None
) -> Panel:
    """Dense arrays from (team, week, column...) rows. Missing columns count as zero.

    A team is active from its first week with any row until the last week of the data, or
    until the week before its explicit end in `ends` (team -> first day it no longer exists);
    `last_event` is the day of the newest event in the data, which tells whether the last
    week is complete.
    """
    if frame.is_empty():
        return Panel([], [], {c: np.zeros((0, 0)) for c in PANEL_COLUMNS}, 0)
    frame = frame.with_columns(pl.col("week").cast(pl.Date))
    first, last = frame["week"].min(), frame["week"].max()
    weeks = [first + timedelta(days=7 * k) for k in range((last - first).days // 7 + 1)]
    teams = sorted(frame["team"].unique().to_list())
    t_idx = np.array([teams.index(t) for t in frame["team"].to_list()])
    w_idx = np.array([(w - first).days // 7 for w in frame["week"].to_list()])
    values: dict[str, np.ndarray] = {}
    for column in PANEL_COLUMNS:
        array = np.zeros((len(teams), len(weeks)))
        if column in frame.columns:
            np.add.at(array, (t_idx, w_idx), frame[column].fill_null(0).cast(pl.Float64).to_numpy())
        values[column] = array
    seen = np.zeros((len(teams), len(weeks)), dtype=bool)
    seen[t_idx, w_idx] = True
    span = np.arange(len(weeks))
    first_seen = np.argmax(seen, axis=1)
    stop = np.full(len(teams), len(weeks))  # first inactive week after the team's start
    for team, day in (ends or {}).items():
        if team in teams:
            monday = day - timedelta(days=day.weekday())
            # The week containing the end day is still (partly) active.
            stop[teams.index(team)] = (monday - first).days // 7 + (1 if day != monday else 0)
    values["active"] = ((span >= first_seen[:, None]) & (span < stop[:, None])).astype(float)
    complete = len(weeks)
    if last_event is not None and last_event < weeks[-1] + timedelta(days=6):
        complete -= 1  # the newest week is still running: leave it out of comparisons
    return Panel(teams, weeks, values, complete)


def load_panel(wh: Warehouse, cfg: MetricsConfig | None = None) -> Panel:
    create_views(wh, cfg)
    frame = wh.frame("SELECT * FROM impact_team_weeks")
    last = wh.con.execute("SELECT max(finished_at)::DATE FROM prod_deployments").fetchone()[0]
    return from_frame(frame, last)
