"""The shell's error helpers; the error types themselves live in warehouse/errors.py."""

from __future__ import annotations

from datetime import date, datetime

from warehouse.errors import InputError, UserError

__all__ = ["InputError", "UserError", "parse_day"]


def parse_day(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD command-line date, or a UserError naming the option."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None
