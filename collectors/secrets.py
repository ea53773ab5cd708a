"""Keeping the token out of everything a person or a file can see.

One `Redactor` knows the secrets of this process; the client, the git runner and the logging
filter all pass text through it before it leaves (exception messages, log records, stderr of
git). The token is also kept out of reprs.
"""

from __future__ import annotations

import base64
import logging
import os

from warehouse.errors import UserError

MASK = "***"


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            self._secrets.add(secret)
            self._secrets.add(repr(secret)[1:-1])  # as it appears inside an escaped repr
            # The same token as it appears inside a Basic auth header (git over https).
            self._secrets.add(base64.b64encode(f"x-access-token:{secret}".encode()).decode())

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            out = out.replace(secret, MASK)
        return out

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret(s))"


REDACT = Redactor()  # process-wide: a token seen anywhere is masked everywhere


class RedactingFilter(logging.Filter):
    """Masks secrets in every record that passes a handler (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = REDACT(record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = REDACT(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_filter() -> None:
    """Attach the filter to every handler of the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def env_token(name: str) -> str | None:
    """The token in environment variable `name`, trimmed; None when unset or empty.

    A pasted token can carry a stray \\r or space; HTTP would then reject the header and echo
    it in the error, so it is refused here without showing it."""
    value = os.environ.get(name, "").strip()
    if value and (not value.isascii() or not value.isprintable() or " " in value):
        raise UserError(
            f"environment variable {name}: the token contains spaces or control characters; "
            "set it to the token alone"
        )
    return value or None
