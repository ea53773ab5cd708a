"""Errors for bad input, raised by every room and turned into one line and exit 2 by the CLI.

They live at the ground floor so that the warehouse, the collectors and the shell can all
raise them without importing a room above their own.
"""

from __future__ import annotations


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
