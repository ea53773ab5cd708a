"""Errors that the CLI turns into one line on stderr and an exit code."""

from __future__ import annotations

from datetime import date, datetime


class UserError(Exception):
    """Bad input or configuration: exit code 2, one line, no traceback."""

    exit_code = 2


class InputError(UserError):
    """A bad row or value in an input file; the message names file, row and column."""

    def __init__(self, path: str, message: str, row: int | None = None, column: str | None = None):
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.column = path, row, column


def parse_day(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD command-line date, or a UserError naming the option."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None
