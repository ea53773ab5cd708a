"""Loading what each deployment shipped: one step shared by the GitHub and the local-git sync.

Reads the repository's successful production deployments and pull-request commits from the
warehouse, walks the commit graph (collectors/git.py) and loads the changes with their
deployment and the graph cursor in one transaction per chunk, the failure evidence of the
walked deployments just before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from collectors.config import DeploymentRules
from collectors.git import Deployed, Git, PullRequestIndex, ship
from warehouse import attribution
from warehouse.db import Cursor, LoadCounts, Warehouse
from warehouse.schema import CHANGES, ENTITIES, Entity

RESOURCE = "changes"


def frame(entity: Entity, rows: list[dict]) -> pl.DataFrame | None:
    """A frame of exactly the columns the rows carry: absent columns keep stored values."""
    if not rows:
        return None
    columns = [c for c in entity.names if c in rows[0]]
    schema = {c: entity.schema()[c] for c in columns}
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=schema, orient="row")


def load_rows(
    wh: Warehouse, rows: dict[str, list[dict]], source: str | None, cursors: list[Cursor]
) -> dict[str, LoadCounts]:
    batches = {}
    for name, entity_rows in rows.items():
        f = frame(ENTITIES[name], entity_rows)
        if f is not None:
            batches[name] = f
    return wh.load(batches, source=source, cursors=cursors)


@dataclass
class ShipResult:
    counts: dict[str, LoadCounts] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def ship_and_load(
    wh: Warehouse,
    source: str,
    repo_name: str,
    repo: Git,
    window_start: datetime,
    production_regex: str,
    deployment_rules: DeploymentRules,
    bounds: list[Deployed] = (),
    web: str | None = None,
    blame_window: timedelta | None = None,
) -> ShipResult:
    """`bounds`: deployments older than the window (old tags) that bound what later ones ship.
    `web`: the repository's GitHub page (https://github.com/OWNER/REPO), when known: each
    shipped commit then carries its URL there. `blame_window`: the failure window, for a clone
    with blobs (fix-forward evidence by blame, collectors/szz.py); None blames nothing."""
    deployments = attribution.graph_deployments(wh, repo_name, production_regex)

    def index() -> PullRequestIndex:  # read only when a deployment is walked
        prs, pr_changes = attribution.graph_pulls(wh, repo_name)
        found = PullRequestIndex()
        for row in pr_changes:
            found.add_commit(row)
        for pr in prs:
            found.by_merge[pr["merge_sha"]] = int(pr["number"])
            if pr["labels"]:
                found.labels[int(pr["number"])] = pr["labels"]
        return found

    deployed = [Deployed(**d) for d in deployments]
    cursor = wh.cursor(source, repo_name, RESOURCE)
    state = json.loads(cursor.cursor) if cursor.cursor else {}
    result = ShipResult()

    def claims() -> dict:
        return attribution.shipped_claims_by_deployment(wh, repo_name)

    batches = ship(
        repo_name,
        repo,
        deployed,
        index,
        window_start,
        deployment_rules,
        state,
        claims,
        bounds=bounds,
        source=source,
        blame_window=blame_window,
    )
    for batch in batches:
        # Evidence first: a sync killed before the load below walks these deployments again.
        attribution.save_evidence(wh, batch.walked, attribution.GRAPH_KINDS, batch.evidence)

        def commit(batch=batch) -> dict[str, LoadCounts]:
            with wh.transaction():
                attribution.unship(wh, repo_name, batch.unshipped)
                return load_rows(
                    wh,
                    {CHANGES.name: [{**c, "url": f"{web}/commit/{c['sha']}"} for c in batch.changes]
                     if web else batch.changes},
                    source,
                    [Cursor(source, repo_name, RESOURCE, json.dumps(batch.state, sort_keys=True))],
                )

        counts = wh.retried(commit, f"loading the commits of {repo_name}")
        for name, c in counts.items():
            result.counts.setdefault(name, LoadCounts())
            result.counts[name] += c
        result.missing.extend(batch.missing)
    return result
