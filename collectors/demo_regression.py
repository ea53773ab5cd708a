"""A throughput regression injected into the demo org's last weeks (`demo --regression TEAM`),
so that a scheduled `alert` has something to find, and finds it gone after a rebuild without it.

Half of the team's successful production deployments in the last `weeks` weeks are taken out
(every other one, per repository); the changes and incidents they carried move to the team's
next remaining deployment of the same repository and environment, as when a team batches its
work into fewer releases: deployment frequency halves and lead time rises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from collectors.synthetic import window


def inject_regression(frames: dict[str, pl.DataFrame], team: str, weeks: int = 4) -> dict[str, pl.DataFrame]:
    repos = frames["teams"].filter(pl.col("team") == team)["repo"].to_list()
    if not repos:
        known = ", ".join(sorted(frames["teams"]["team"].unique().to_list()))
        raise ValueError(f"no demo team {team!r} (teams: {known})")
    _, stop = window()
    cutoff = datetime.combine(stop - timedelta(weeks=weeks), datetime.min.time(), tzinfo=UTC)
    deployments = frames["deployments"]
    candidates = (
        deployments.filter(
            pl.col("repo").is_in(repos) & (pl.col("environment") == "production")
            & (pl.col("status") == "success")
        )
        .sort("repo", "finished_at")
        .with_columns(
            (pl.col("finished_at") >= cutoff).alias("late"),
            pl.int_range(pl.len()).over("repo").alias("rank"),
        )
    )
    dropped = candidates.filter(pl.col("late") & (pl.col("rank") % 2 == 1))
    kept = candidates.join(dropped.select("deployment_id"), on="deployment_id", how="anti")
    # Each dropped deployment's work ships with the next kept one of its repository.
    before = dropped.select("repo", "finished_at", pl.col("deployment_id").alias("old"))
    after = kept.select("repo", "finished_at", pl.col("deployment_id").alias("new"))
    moved = before.sort("finished_at").join_asof(
        after.sort("finished_at"), on="finished_at", by="repo", strategy="forward", check_sortedness=False
    )
    remap = dict(zip(moved["old"].to_list(), moved["new"].to_list(), strict=True))

    def repoint(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(pl.col("deployment_id").is_in(list(remap)))
            .then(pl.col("deployment_id").replace(remap))
            .otherwise(pl.col("deployment_id"))
        )

    out = dict(frames)
    out["deployments"] = deployments.join(dropped.select("deployment_id"), on="deployment_id", how="anti")
    out["changes"] = repoint(frames["changes"])
    out["incidents"] = repoint(frames["incidents"])
    return out
