"""Which team owns a repository, from the config: `[repos."owner/name"] team` wins, else the
first `[teams]` glob that matches. Every source that brings repositories (GitHub, local git,
import) writes these rows, so per-team metrics do not depend on how the data came in."""

from __future__ import annotations

import fnmatch

from collectors.config import SourcesSettings
from warehouse.db import LoadCounts, Warehouse
from warehouse.schema import TEAMS


def team_rows(config: SourcesSettings, repos: list[str]) -> list[dict]:
    """TEAMS rows: `[repos."owner/name"] team` wins, else the first `[teams]` glob that matches."""
    rows = []
    explicit = {k.lower(): v.team for k, v in config.repos.items() if v.team}
    for repo in sorted(set(repos) | {k for k, v in config.repos.items() if v.team}):
        team = explicit.get(repo.lower())
        if team is None:
            team = next(
                (
                    t
                    for t, globs in config.teams.items()
                    if any(fnmatch.fnmatchcase(repo.lower(), g.lower()) for g in globs)
                ),
                None,
            )
        if team:
            rows.append({"team": team, "repo": repo})
    return rows


def apply_config_teams(wh: Warehouse, config: SourcesSettings, source: str) -> LoadCounts:
    """Write the config's ownership for every repository the warehouse knows."""
    if not (config.teams or any(r.team for r in config.repos.values())):
        return LoadCounts()
    rows = team_rows(config, wh.repos())
    return wh.load({"teams": TEAMS.frame(rows)}, source=source)["teams"] if rows else LoadCounts()
