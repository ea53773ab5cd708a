"""Canonical import files (CSV, JSON Lines, Parquet) read into validated canonical frames.

The rules are in docs/import-format.md. Files are read by polars; every value is checked here,
before anything reaches the warehouse, so that a bad row aborts the whole import with one line
naming file, row and column. Row numbers count data rows from 1 (a CSV's header is row 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from collectors.records import DEPLOYMENT_STATUSES, ENTITIES, Entity, Kind
from dora_impact.errors import InputError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
ROW = "__row"

# ISO 8601 date-time with an offset (Z, +hh:mm or +hhmm); seconds and fractions optional.
ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$"
ISO_WITHOUT_OFFSET = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(str(path), f"unknown file type {path.suffix!r} (use {', '.join(FORMATS)})")
    return fmt


def entity_for(path: Path, entity: str | None = None) -> Entity:
    """The entity a file holds: --entity, else its name (`deployments.csv`, `deployments-2026.csv`)."""
    if entity is not None:
        if entity not in ENTITIES:
            raise InputError(str(path), f"unknown entity {entity!r} (use {', '.join(ENTITIES)})")
        return ENTITIES[entity]
    stem = path.name.split(".")[0]
    for name, candidate in ENTITIES.items():
        if stem == name or stem.startswith((name + "-", name + "_")):
            return candidate
    raise InputError(
        str(path), f"cannot tell the entity from the file name; name it {'/'.join(ENTITIES)}.<ext> "
        "or pass --entity"
    )


def read_raw(path: Path) -> pl.DataFrame:
    """The file as polars read it, with a 1-based row number column."""
    if not path.is_file():
        raise InputError(str(path), "no such file")
    fmt = file_format(path)
    try:
        if fmt == "csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif fmt == "jsonl":
            frame = _read_jsonl(path)
        else:
            frame = pl.read_parquet(path)
    except InputError:
        raise
    except Exception as exc:  # polars raises several types; the message is what matters
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read as {fmt}: {first_line}") from None
    return frame.with_row_index(ROW, offset=1)


def _read_jsonl(path: Path) -> pl.DataFrame:
    try:
        return pl.read_ndjson(path, infer_schema_length=None)
    except Exception:
        # Find the offending line so the message can name it.
        with path.open() as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(str(path), f"not valid JSON: {exc.msg}", row=number) from None
                if not isinstance(value, dict):
                    raise InputError(str(path), "each line must be a JSON object", row=number) from None
        raise


def canonical(raw: pl.DataFrame, entity: Entity, path: str) -> pl.DataFrame:
    """Check and type every column the entity knows; extra columns are dropped."""
    missing = [c for c in entity.required if c not in raw.columns]
    if missing:
        raise InputError(path, f"missing required column {missing[0]!r}")
    columns = [pl.col(ROW)]
    for column in entity.columns:
        if column.name in raw.columns:
            columns.append(_typed(raw, column.name, column.kind, path))
    frame = raw.select(columns)
    for name in entity.required:
        _fail_on_first(frame, pl.col(name).is_null(), path, name, "required value is empty")
    if entity.name == "deployments":
        frame = frame.with_columns(pl.col("status").str.to_lowercase())
        _fail_on_first(
            frame, ~pl.col("status").is_in(DEPLOYMENT_STATUSES), path, "status",
            "unknown status {value!r} (use success or failure)",
        )
    _check_unique(frame, entity, path)
    return frame.drop(ROW)


def _typed(raw: pl.DataFrame, name: str, kind: Kind, path: str) -> pl.Expr:
    dtype = raw.schema[name]
    if kind is Kind.TIMESTAMP and isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            _fail_on_first(raw, pl.col(name).is_not_null(), path, name, "timestamp without an offset")
        return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if kind is Kind.DATE and isinstance(dtype, pl.Date):
        return pl.col(name)
    if kind is Kind.BOOL and dtype == pl.Boolean:
        return pl.col(name)
    text = pl.col(name).cast(pl.String).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text).alias(name)
    raw = raw.with_columns(text.alias(name))
    given = pl.col(name).is_not_null()
    if kind is Kind.TEXT:
        return text
    if kind is Kind.TIMESTAMP:
        _fail_on_first(
            raw, given & pl.col(name).str.contains(ISO_WITHOUT_OFFSET), path, name,
            "timestamp {value!r} has no UTC offset (add Z or +hh:mm)",
        )
        _fail_on_first(
            raw, given & ~pl.col(name).str.contains(ISO_WITH_OFFSET), path, name,
            "{value!r} is not an ISO 8601 timestamp with an offset",
        )
        parsed = _parse_timestamp(pl.col(name))
        _fail_on_first(raw, given & parsed.is_null(), path, name, "{value!r} is not a valid timestamp")
        return _parse_timestamp(text).alias(name)
    if kind is Kind.DATE:
        parsed = pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        _fail_on_first(raw, given & parsed.is_null(), path, name, "{value!r} is not a date (YYYY-MM-DD)")
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name)
    if kind is Kind.BOOL:
        lowered = pl.col(name).str.to_lowercase()
        _fail_on_first(
            raw, given & ~lowered.is_in(TRUE_WORDS + FALSE_WORDS), path, name,
            "{value!r} is not true or false",
        )
        return (
            pl.when(text.is_null()).then(None).otherwise(text.str.to_lowercase().is_in(TRUE_WORDS))
        ).alias(name)
    if kind is Kind.INT:
        parsed = pl.col(name).cast(pl.Int64, strict=False)
        _fail_on_first(raw, given & parsed.is_null(), path, name, "{value!r} is not a whole number")
        return text.cast(pl.Int64, strict=False).alias(name)
    raise AssertionError(kind)


def _parse_timestamp(text: pl.Expr) -> pl.Expr:
    # Normalise the accepted spellings to one format, then parse as an instant in UTC.
    normal = (
        text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"([Zz])$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
        .str.replace(r"T(\d{2}:\d{2})([+-])", "T${1}:00${2}")
    )
    return normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", strict=False, time_unit="us")


def _fail_on_first(frame: pl.DataFrame, bad: pl.Expr, path: str, column: str, message: str) -> None:
    hits = frame.filter(bad).select(ROW, pl.col(column).cast(pl.String).alias("value")).head(1)
    if hits.height:
        row, value = hits.row(0)
        raise InputError(path, message.format(value=value), row=row, column=column)


def _check_unique(frame: pl.DataFrame, entity: Entity, path: str) -> None:
    key = list(entity.key)
    duplicated = frame.filter(pl.struct(key).is_duplicated()).sort(ROW)
    if duplicated.height:
        first = duplicated.row(0, named=True)
        same = duplicated.filter(pl.all_horizontal(pl.col(k) == first[k] for k in key))
        value = "/".join(str(first[k]) for k in key)
        raise InputError(
            path, f"duplicate key {value!r} (also at row {same[ROW][0]})",
            row=int(same[ROW][1]), column="/".join(key),
        )


def read_entity_file(path: str | Path, entity: str | None = None) -> tuple[Entity, pl.DataFrame]:
    path = Path(path)
    chosen = entity_for(path, entity)
    return chosen, canonical(read_raw(path), chosen, str(path))


def read_import(paths: list[str | Path], entity: str | None = None) -> dict[str, pl.DataFrame]:
    """Every file read and checked; frames of the same entity stacked (later files win)."""
    batches: dict[str, list[pl.DataFrame]] = {}
    for path in paths:
        chosen, frame = read_entity_file(path, entity)
        batches.setdefault(chosen.name, []).append(frame)
    result = {}
    for name, frames in batches.items():
        stacked = pl.concat(frames, how="diagonal_relaxed")
        result[name] = stacked.unique(subset=list(ENTITIES[name].key), keep="last", maintain_order=True)
    return result
