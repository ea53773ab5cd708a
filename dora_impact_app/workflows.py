"""The workflows both front ends run, as functions of an open warehouse (or of a way to open
one) and the one config: import, compare and report (sync is sources.sync). The CLI prints
what they return; the dashboard shows it, in process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from dora_impact_app.after_load import AfterLoad, after_load
from dora_impact_app.config import Config
from warehouse.db import Warehouse
from warehouse.errors import UserError

REPORT_FORMATS = ("html", "md")
COMPARE_SCOPES = ("org", "team", "repo")


@dataclass
class Imported:
    files: list  # collectors.importer.ImportedFile, one per file, in order
    after: AfterLoad


def import_files(
    open_warehouse: Callable[[], AbstractContextManager[Warehouse]],
    config: Config,
    paths: Sequence[Path],
    entity: str | None = None,
    on_file: Callable[[object], None] | None = None,
) -> Imported:
    """Load canonical files all-or-nothing, then the after-load step. Every file is checked
    before the database is opened, so bad input writes nothing (UserError naming the file)."""
    from collectors.importer import check_files, expand, load_files

    files = expand(paths)
    check_files(files, entity)
    with open_warehouse() as wh:
        done = load_files(wh, files, entity, on_file=on_file)
        # Incidents without a deployment_id get the same time-window rule as every source.
        after = after_load(wh, config, count_incidents=any(f.entity == "incidents" for f in done))
    return Imported(list(done), after)


def compare(wh: Warehouse, config: Config, a: str, b: str, by: str = "team") -> list[dict]:
    """The rows of `compare A B`; a bad period or scope is a UserError (one line, exit 2)."""
    from warehouse.compare import PeriodError
    from warehouse.compare import compare as compare_periods

    if by not in COMPARE_SCOPES:
        raise UserError(f"--by {by!r}: use one of {', '.join(COMPARE_SCOPES)}")
    try:
        return compare_periods(wh, config.metrics, a, b, by=by)
    except PeriodError as exc:
        raise UserError(str(exc)) from None


def report(
    wh: Warehouse, config: Config, quarter: str, compare_to: str | None = None,
    fmt: str = "html", by: str = "team",
) -> str:
    """The leader's report as HTML or Markdown text (dora_impact_app/report.py)."""
    from dora_impact_app import report as reports
    from warehouse.compare import PeriodError

    if fmt not in REPORT_FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(REPORT_FORMATS)}")
    if by not in COMPARE_SCOPES:
        raise UserError(f"--by {by!r}: use one of {', '.join(COMPARE_SCOPES)}")
    try:
        built = reports.build(wh, config, quarter, compare_to, by=by)
    except PeriodError as exc:
        raise UserError(str(exc)) from None
    return reports.render_html(built) if fmt == "html" else reports.render_md(built)
