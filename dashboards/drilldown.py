"""The rows behind a team's numbers on the Teams page, with a link to each deployment, commit
and pull request where the collector stored its URL (GitHub's pages; local clones of a
github.com repository derive them), under readable headings."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import streamlit as st

from dashboards import data
from warehouse import Warehouse
from warehouse.metrics import prepare

# (SQL, the time that places a row in a period). Every number a Teams row shows is counted
# from these rows (warehouse/sql: prod_deployments, change_lead_times).
QUERIES = {
    "deployments": (
        "SELECT d.deployment_id, r.url AS deployment_url, d.repo, d.status, d.finished_at, d.failed, "
        "d.caused_incident, d.fixed_forward_or_rolled_back, d.run_failed, d.is_hotfix, d.is_rollback, "
        "round(d.recovery_hours, 2) AS recovery_hours "
        "FROM prod_deployments d LEFT JOIN deployments r USING (deployment_id) "
        "WHERE d.finished_at >= ? AND d.finished_at < ? AND (? IS NULL OR d.team = ?) "
        "ORDER BY d.finished_at, d.deployment_id",
        "finished_at",
    ),
    "changes": (
        "SELECT c.url AS commit_url, p.url AS pr_url, l.repo, l.sha, l.author, l.pr_number, "
        "l.deployment_id, d.url AS deployment_url, l.committed_at, l.shipped_at, "
        "round(l.lead_time_hours, 2) AS lead_time_hours "
        "FROM change_lead_times l "
        "LEFT JOIN changes c ON c.repo = l.repo AND c.sha = l.sha "
        "LEFT JOIN pull_requests p ON p.repo = l.repo AND p.number = l.pr_number "
        "LEFT JOIN deployments d ON d.deployment_id = l.deployment_id "
        "WHERE l.shipped_at >= ? AND l.shipped_at < ? AND (? IS NULL OR l.team = ?) "
        "ORDER BY l.shipped_at, l.repo, l.sha",
        "shipped_at",
    ),
}

URL_COLUMNS = ("deployment_url", "commit_url", "pr_url")


def rows(
    kind: str, db: str, config_path: str | None, team: str | None, start: date, end: date
) -> tuple[pl.DataFrame, datetime, bool]:
    """The production deployments (with why each failed) or the shipped changes (with their
    lead time) of one team in [start, end); link columns no row fills are dropped."""
    cfg = data.config(config_path).metrics
    sql, _ = QUERIES[kind]

    def compute(wh: Warehouse) -> pl.DataFrame:
        prepare(wh, cfg)
        frame = wh.frame(sql, [start, end, team, team])
        empty = [c for c in URL_COLUMNS if c in frame.columns and frame[c].null_count() == frame.height]
        return frame.drop(empty)

    return data.read(("drilldown", kind, db, config_path, team, start, end), db, compute)


def _link(label: str, pattern: str | None = None, help: str | None = None):
    return st.column_config.LinkColumn(label, display_text=pattern, help=help)


# Readable headings; a link column shows the id, sha (7 digits) or number it points at.
COLUMNS = {
    "deployment_id": st.column_config.TextColumn("Deployment"),
    "repo": st.column_config.TextColumn("Repository"),
    "status": st.column_config.TextColumn("Run"),
    "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm"),
    "failed": st.column_config.CheckboxColumn("Failed", help="Needed intervention (change fail rate)"),
    "caused_incident": st.column_config.CheckboxColumn("Caused an incident"),
    "fixed_forward_or_rolled_back": st.column_config.CheckboxColumn("Hotfixed or rolled back"),
    "run_failed": st.column_config.CheckboxColumn("Run failed"),
    "is_hotfix": st.column_config.CheckboxColumn("Hotfix"),
    "is_rollback": st.column_config.CheckboxColumn("Rollback"),
    "recovery_hours": st.column_config.NumberColumn("Recovery (h)", format="%.2f"),
    "deployment_url": _link("Deployment link", "view", "The deployment's page or log, where it is known"),
    "sha": st.column_config.TextColumn("Commit"),
    "author": st.column_config.TextColumn("Author"),
    "pr_number": st.column_config.NumberColumn("Pull request", format="#%d"),
    "committed_at": st.column_config.DatetimeColumn("Committed (UTC)", format="YYYY-MM-DD HH:mm"),
    "shipped_at": st.column_config.DatetimeColumn("Shipped (UTC)", format="YYYY-MM-DD HH:mm"),
    "lead_time_hours": st.column_config.NumberColumn("Lead time (h)", format="%.2f"),
    "commit_url": _link("Commit link", r"/commit/([0-9a-f]{7})"),
    "pr_url": _link("Pull request link", r"/pull/(\d+)"),
}
