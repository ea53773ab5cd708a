"""Errors for bad input, raised by every room and turned into one line and exit 2 by the CLI.

They live at the ground floor so that the warehouse, the collectors and the shell can all
raise them without importing a room above their own.
"""

from __future__ import annotations

# A value quoted in a message is cut to this many characters: a 10 MB field must not become
# 10 MB of stderr, and the start of a value is enough to find it in the file.
MAX_QUOTED = 80
# The whole message of an InputError, as a last guard for text that comes from a library.
MAX_MESSAGE = 500


def quote(value: object, limit: int = MAX_QUOTED) -> str:
    """`value` quoted for a one-line message (repr escapes newlines), cut to `limit` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


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
        message = " ".join(message.splitlines())
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.column = path, row, column
