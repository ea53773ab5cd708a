"""Rendering rows (lists of dicts) as a rich table, JSON or CSV on stdout."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import date
from typing import Literal

from rich.console import Console
from rich.table import Table

from dora_impact_app.rows import jsonable as _jsonable
from dora_impact_app.rows import to_json

__all__ = ["Format", "emit", "hours", "percent", "stdout_console", "to_json"]

Format = Literal["table", "json", "csv"]


def _csv_cell(value: object) -> object:
    """CSV spells booleans as JSON does (true / false) and nulls as empty fields."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _jsonable(value)


def percent(value: object) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def hours(value: object) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stdout_console() -> Console:
    """Piped output has no terminal width to fit; folding a table there only hurts."""
    return Console(width=None if sys.stdout.isatty() else 200)


def emit(
    rows: Sequence[dict],
    fmt: Format,
    columns: Sequence[str],
    table_columns: Sequence[tuple] | None = None,
    title: str | None = None,
    console: Console | None = None,
    caption: str | None = None,
) -> None:
    """JSON and CSV carry every column; the table shows `table_columns`: (key, header) or
    (key, header, formatter) tuples."""
    if fmt == "json":
        sys.stdout.write(to_json([{c: r.get(c) for c in columns} for r in rows]) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])
    else:
        console = console or stdout_console()
        table = Table(title=title, show_lines=False, caption=caption, caption_justify="left")
        shown = table_columns or [(c, c) for c in columns]
        for spec in shown:
            table.add_column(
                spec[1], justify="left" if spec[0] in ("key", "period") else "right", no_wrap=True
            )
        for row in rows:
            table.add_row(*((spec[2] if len(spec) > 2 else _cell)(row.get(spec[0])) for spec in shown))
        console.print(table)
