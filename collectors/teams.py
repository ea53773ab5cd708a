"""Which team owns a repository, from the config: `[repos."owner/name"] team` wins, else the
first `[teams]` glob that matches. The step after every load (dora_impact_app/after_load.py)
writes these rows for every repository the warehouse knows, whichever source brought it, so
per-team metrics do not depend on how the data came in, and follow an edit of `[teams]`."""

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


CONFIG_SOURCE = "config"  # the `source` of the teams rows the config owns


# Sources whose rows carry the owning team only as a copy of the ownership, stamped while
# collecting (GitHub and its webhook events, GitLab). A row of another source (an import, an
# /events post, a PagerDuty service) names a team the source itself gave: that one is kept.
STAMPING_SOURCES = ("github", "gitlab")
STAMPED = ("deployments", "incidents")


def own_repositories(wh: Warehouse, config: SourcesSettings) -> LoadCounts:
    """Write the config's ownership of every repository the warehouse knows, drop the rows an
    earlier config wrote for repositories this one no longer assigns, and bring the copies
    stamped on the rows of STAMPING_SOURCES in line with the teams table. A team in the table
    wins over one on a row (warehouse/sql/01_prod_deployments.sql), so moving a repository
    moves all its rows alike, whichever source brought them; a repository nobody owns counts
    for the team its own row names, if any."""
    rows = team_rows(config, wh.repos())
    counts = wh.load({"teams": TEAMS.frame(rows)}, source=CONFIG_SOURCE)["teams"] if rows else LoadCounts()
    owned = [r["repo"] for r in rows]
    # Its own transaction, run again when it loses a race with another writer (a lake's
    # `maintain`): it starts from what is stored each time.
    def restamp() -> None:
        with wh.transaction():
            stale = [
                repo for (repo,) in wh.con.execute(
                    "SELECT repo FROM teams WHERE source = ? AND NOT list_contains(?::VARCHAR[], repo)",
                    [CONFIG_SOURCE, owned],
                ).fetchall()
            ]
            if stale:
                wh.con.execute(
                    "DELETE FROM teams WHERE source = ? AND list_contains(?::VARCHAR[], repo)",
                    [CONFIG_SOURCE, stale],
                )
            moved: set[str] = set(stale)
            for table in STAMPED:
                differs = (
                    f"SELECT DISTINCT x.repo FROM {table} x LEFT JOIN teams t ON t.repo = x.repo "
                    "WHERE list_contains(?, x.source) AND x.team IS DISTINCT FROM t.team"
                )
                changed = [r for (r,) in wh.con.execute(differs, [list(STAMPING_SOURCES)]).fetchall()]
                if changed:
                    wh.con.execute(
                        f"UPDATE {table} x SET team = (SELECT t.team FROM teams t WHERE t.repo = x.repo) "
                        "WHERE list_contains(?, x.source) AND list_contains(?::VARCHAR[], x.repo)",
                        [list(STAMPING_SOURCES), changed],
                    )
                    moved.update(changed)
            if moved:
                wh.mark_dirty(
                    "SELECT unnest(?::VARCHAR[]) AS repo, NULL::VARCHAR AS deployment_id, "
                    "NULL::VARCHAR AS service",
                    [sorted(moved)],
                )
                wh.con.execute("UPDATE load_version SET version = version + 1")

    wh.retried(restamp, "writing the config's teams")
    return counts


def apply_config_teams(wh: Warehouse, config: SourcesSettings, source: str) -> LoadCounts:
    """Write the config's ownership for every repository the warehouse knows."""
    if not (config.teams or any(r.team for r in config.repos.values())):
        return LoadCounts()
    rows = team_rows(config, wh.repos())
    return wh.load({"teams": TEAMS.frame(rows)}, source=source)["teams"] if rows else LoadCounts()
