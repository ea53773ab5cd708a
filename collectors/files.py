"""Canonical import files (CSV, JSON Lines, Parquet) read into validated canonical frames.

The rules are in docs/import-format.md. Files are read by polars; every value is checked here,
before anything reaches the warehouse, so that a bad row aborts the whole import with one line
naming file, row and column. Row numbers count data rows from 1 (a CSV's header is row 0).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from warehouse.errors import InputError
from warehouse.impact.config import MAX_RAMP_WEEKS
from warehouse.schema import DEPLOYMENT_STATUSES, ENTITIES, Entity, Kind, parse_cohorts
from warehouse.validation import check_regex

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


BATCH_ROWS = 250_000


def read_raw_batches(path: Path, rows_per_batch: int = BATCH_ROWS) -> Iterator[pl.DataFrame]:
    """The file as polars reads it, in batches, each with a 1-based row number column.

    CSV and Parquet stream, so memory holds one batch, not the file; JSON Lines is read whole
    (its schema is inferred over every line) and then cut into batches.
    """
    if not path.is_file():
        raise InputError(str(path), "no such file")
    fmt = file_format(path)
    try:
        if fmt == "jsonl":
            whole = _read_jsonl(path).with_row_index(ROW, offset=1)
            for offset in range(0, max(whole.height, 1), rows_per_batch):
                yield whole.slice(offset, rows_per_batch)
            return
        if fmt == "csv":
            scan = pl.scan_csv(path, infer_schema=False)
        else:
            scan = pl.scan_parquet(path)
        scan = scan.with_row_index(ROW, offset=1)
        empty = True
        for batch in scan.collect_batches(chunk_size=rows_per_batch):
            empty = False
            yield batch
        if empty:  # a file with a header and no rows still has columns to check
            yield scan.head(0).collect()
    except InputError:
        raise
    except Exception as exc:  # polars raises several types; the message is what matters
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read as {fmt}: {first_line}") from None


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
    rows = raw[ROW]
    typed = {}
    for column in entity.columns:
        if column.name in raw.columns:
            typed[column.name] = _typed(raw[column.name], column.kind, rows, path)
    frame = pl.DataFrame(typed)
    for name in entity.required:
        _fail_on_first(frame[name].is_null(), raw[name], rows, path, name, "required value is empty")
    if entity.name == "deployments":
        status = frame["status"].str.to_lowercase()
        _fail_on_first(
            ~status.is_in(DEPLOYMENT_STATUSES), raw["status"], rows, path, "status",
            "unknown status {value!r} (use success or failure)",
        )
        frame = frame.with_columns(status)
    if entity.name == "initiatives":
        _check_initiatives(frame, rows, path)
    return frame


def _check_initiatives(frame: pl.DataFrame, rows: pl.Series, path: str) -> None:
    """The rules the config applies to [[initiatives]], applied to imported rows too."""
    for index, row in enumerate(frame.iter_rows(named=True)):
        def fail(column: str, message: str, index: int = index) -> None:
            raise InputError(path, message, row=int(rows[index]), column=column)

        try:
            parse_cohorts(row.get("teams"), row["started_on"])
        except ValueError as exc:
            fail("teams", str(exc))
        ramp = row.get("ramp_weeks")
        if ramp is not None and not 0 <= ramp <= MAX_RAMP_WEEKS:
            fail("ramp_weeks", f"{ramp} is not a number of weeks from 0 to {MAX_RAMP_WEEKS}")
        if row.get("ended_on") is not None and row["ended_on"] < row["started_on"]:
            fail("ended_on", f"{row['ended_on']} is before started_on {row['started_on']}")
        for column in ("adoption_environment", "adoption_workflow"):
            try:
                check_regex(row.get(column))
            except ValueError as exc:
                fail(column, str(exc))


def _typed(values: pl.Series, kind: Kind, rows: pl.Series, path: str) -> pl.Series:
    """The column in the entity's type; the first bad value raises InputError naming its row."""
    name = values.name
    if isinstance(values.dtype, pl.List | pl.Array | pl.Struct):
        # JSON Lines can hold lists and objects where a plain value belongs.
        _fail_on_first(
            values.is_not_null(), values, rows, path, name, "{value} is a list or object, not a single value"
        )
    if kind is Kind.TIMESTAMP and isinstance(values.dtype, pl.Datetime):
        if values.dtype.time_zone is None:
            _fail_on_first(
                values.is_not_null(), values, rows, path, name, "timestamp {value!r} has no UTC offset"
            )
        return values.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if kind is Kind.DATE and values.dtype == pl.Date:
        return values
    if kind is Kind.BOOL and values.dtype == pl.Boolean:
        return values
    text = values.cast(pl.String)
    if kind is not Kind.TEXT:
        text = text.str.strip_chars()
    text = text.set(text == "", None) if (text == "").any() else text
    given = text.is_not_null()
    if kind is Kind.TEXT:
        return text
    if kind is Kind.TIMESTAMP:
        parsed = _parse_timestamp(text)
        _fail_on_first(given & parsed.is_null(), text, rows, path, name, _timestamp_problem)
        return parsed
    if kind is Kind.DATE:
        parsed = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        _fail_on_first(
            given & parsed.is_null(), text, rows, path, name, "{value!r} is not a date (YYYY-MM-DD)"
        )
        return parsed
    if kind is Kind.BOOL:
        lowered = text.str.to_lowercase()
        _fail_on_first(
            given & ~lowered.is_in(TRUE_WORDS + FALSE_WORDS), text, rows, path, name,
            "{value!r} is not true or false",
        )
        return lowered.is_in(TRUE_WORDS).set(~given, None).alias(name)
    if kind is Kind.INT:
        parsed = text.cast(pl.Int64, strict=False)
        _fail_on_first(given & parsed.is_null(), text, rows, path, name, "{value!r} is not a whole number")
        return parsed
    raise AssertionError(kind)


def _parse_timestamp(text: pl.Series) -> pl.Series:
    """ISO 8601 with an offset as a UTC instant; null where that fails.

    `%+` covers the common spellings (T or space, fractions, Z, +hh:mm, +hhmm) in one fast pass;
    only the rare values without seconds take a second pass.
    """
    parsed = text.str.to_datetime("%+", time_zone="UTC", strict=False, time_unit="us")
    retry = text.is_not_null() & parsed.is_null()
    if retry.any():
        short = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})([^:\d])", "${1}T${2}:00${3}")
        again = short.str.to_datetime("%+", time_zone="UTC", strict=False, time_unit="us")
        parsed = parsed.zip_with(~retry, again)
    return parsed


def _timestamp_problem(value: str) -> str:
    if re.fullmatch(ISO_WITHOUT_OFFSET, value):
        return f"timestamp {value!r} has no UTC offset (add Z or +hh:mm)"
    if not re.fullmatch(ISO_WITH_OFFSET, value):
        return f"{value!r} is not an ISO 8601 timestamp with an offset"
    return f"{value!r} is not a valid timestamp"


def _fail_on_first(
    bad: pl.Series, values: pl.Series, rows: pl.Series, path: str, column: str,
    message: str | Callable[[str], str],
) -> None:
    if not bad.any():
        return
    index = bad.arg_true()[0]
    value = values[index]
    value = None if value is None else str(value)
    text = message(value) if callable(message) else message.format(value=value)
    raise InputError(path, text, row=int(rows[index]), column=column)


class KeyTracker:
    """Finds a natural key that occurs twice in one file, across all of its batches.

    Holding every key of a 5-million-row file would cost hundreds of MB, so it keeps a 64-bit
    hash per row; a repeated hash is confirmed on the real key values before it is reported.
    """

    def __init__(self, entity: Entity, path: str) -> None:
        self.entity, self.path = entity, path
        self.seen: list[pl.DataFrame] = []

    def add(self, frame: pl.DataFrame, rows: pl.Series) -> None:
        hashes = frame.select(pl.struct(self.entity.key).hash().alias("hash"))
        self.seen.append(hashes.with_columns(rows.alias(ROW)))

    def check(self, key_of_row: Callable[[list[int]], dict[int, tuple]]) -> None:
        if not self.seen:
            return
        seen = pl.concat(self.seen)
        repeated = seen.filter(pl.col("hash").is_duplicated()).sort(ROW)
        if repeated.is_empty():
            return
        keys = key_of_row(repeated[ROW].to_list())
        first_at: dict[tuple, int] = {}
        for row in repeated[ROW].to_list():
            key = keys[row]
            if key in first_at:
                value = "/".join(str(v) for v in key)
                raise InputError(
                    self.path, f"duplicate key {value!r} (also at row {first_at[key]})",
                    row=row, column="/".join(self.entity.key),
                )
            first_at[key] = row


def read_entity_batches(
    path: str | Path, entity: str | None = None, rows_per_batch: int = BATCH_ROWS
) -> Iterator[tuple[Entity, pl.DataFrame]]:
    """Checked canonical batches of one file. The duplicate-key check ends the iteration, so
    a caller that loads batches inside one transaction must consume it to the end."""
    path = Path(path)
    chosen = entity_for(path, entity)
    tracker = KeyTracker(chosen, str(path))
    for raw in read_raw_batches(path, rows_per_batch):
        frame = canonical(raw, chosen, str(path))
        tracker.add(frame, raw[ROW])
        yield chosen, frame

    def key_of_row(rows: list[int]) -> dict[int, tuple]:
        wanted = pl.Series(ROW, rows, dtype=pl.UInt32)
        found: dict[int, tuple] = {}
        for raw in read_raw_batches(path, rows_per_batch):
            hits = raw.filter(pl.col(ROW).is_in(wanted))
            if hits.height:
                frame = canonical(hits, chosen, str(path))
                for row, key in zip(hits[ROW].to_list(), frame.select(chosen.key).rows(), strict=True):
                    found[row] = key
        return found

    tracker.check(key_of_row)


def read_entity_file(path: str | Path, entity: str | None = None) -> tuple[Entity, pl.DataFrame]:
    """A whole file as one checked canonical frame (for files that fit in memory)."""
    batches = list(read_entity_batches(path, entity))
    return batches[0][0], pl.concat([frame for _, frame in batches], how="diagonal_relaxed")


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
