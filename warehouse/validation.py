"""Shared pieces of every room's configuration model: strict models and regex checks.

Each room owns the pydantic model of its own config section; they all reject unknown keys and
check their patterns the same way, with what is here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, TypeVar

import duckdb
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from warehouse.errors import MAX_QUOTED, UserError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


def check_regex(value: str | None) -> str | None:
    """A pattern valid both for Python's re (the collectors) and DuckDB's RE2 (the SQL), which
    disagree on some syntax (look-arounds, back-references)."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        try:
            duckdb.connect().execute("SELECT regexp_matches('', ?)", [value]).fetchall()
        except duckdb.Error as exc:
            reason = str(exc).splitlines()[0].split(": ", 1)[-1]
            raise ValueError(f"not a regular expression DuckDB accepts ({reason})") from None
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


# An API base or a link: http(s) with a host, stored without a trailing slash so that paths
# can be appended ("https://gitlab.example/api/v4/" and ".../v4" are the same API).
HttpUrl = Annotated[str, AfterValidator(_http_url)]


def read_toml_config(path: Path, model: type[M]) -> M:
    """Read a TOML file into `model`; every problem is a UserError naming the file and, for a
    bad value, the key's full path (e.g. `github.deployments.tags.0.pattern`)."""
    try:
        # TOML is UTF-8 whatever the locale; a BOM some editors write is accepted.
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start + 1}); TOML files are UTF-8") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise UserError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        if len(key) > MAX_QUOTED:  # a key is the user's text too
            key = key[:MAX_QUOTED] + "…"
        raise UserError(f"{path}: key {key}: {first['msg']}") from None
    except RecursionError:
        raise UserError(f"{path}: values nested too deeply") from None
