"""Canonical import files (CSV, JSON Lines, Parquet) read into validated canonical frames.

The rules are in docs/import-format.md. Files are read by polars; every value is checked here,
before anything reaches the warehouse, so that a bad row aborts the whole import with one line
naming file, row and column. Row numbers count data rows from 1 (a CSV's header is row 0).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from warehouse.errors import InputError, quote
from warehouse.impact.config import (
    MAX_RAMP_WEEKS,
    MAX_WINDOW_WEEKS,
    MIN_WINDOW_WEEKS,
    check_plan_metric,
)
from warehouse.schema import DEPLOYMENT_STATUSES, ENTITIES, Entity, Kind, parse_cohorts
from warehouse.validation import check_regex

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
ROW = "__row"
BOM = b"\xef\xbb\xbf"

# ISO 8601 / RFC 3339 date-time with an offset, in the parts a timestamp is rebuilt from:
# extended (2026-09-01T10:00:00) or basic (20260901T100000) form, T, t or a space between
# date and time, seconds and a fraction (. or ,) optional, and every offset form: Z, ±hh,
# ±hh:mm or ±hhmm (PostgreSQL's timestamptz text is `2026-09-01 10:00:00+00`).
TIMESTAMP_PARTS = (
    r"^(?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})[Tt ](?P<h>\d{2}):?(?P<mi>\d{2})(?::?(?P<s>\d{2}))?"
    r"(?:[.,](?P<f>\d{1,9}))? ?(?:(?P<z>[Zz])|(?P<oh>[+-]\d{2}):?(?P<om>\d{2})?)$"
)
ISO_WITHOUT_OFFSET = (
    r"^\d{4}-?\d{2}-?\d{2}([Tt ]\d{2}:?\d{2}(:?\d{2}([.,]\d{1,9})?)?)?$"
)
OFFSET_EXAMPLES = "Z, +02, +02:00 or +0200"
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


def read_raw_batches(
    path: Path, rows_per_batch: int = BATCH_ROWS, entity: Entity | None = None
) -> Iterator[pl.DataFrame]:
    """The file as read, in batches, each with a row number column (see `ROW` numbering in
    docs/import-format.md: a CSV's data rows count from 1 after the header; a JSON Lines row
    is its line number).

    CSV and Parquet stream, so memory holds one batch, not the file; JSON Lines is read whole
    and then cut into batches. `entity` limits a JSON Lines file to that entity's columns.
    """
    fmt = file_format(path)
    check_readable(path)
    try:
        if fmt == "jsonl":
            whole = _read_jsonl(path, entity)
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
        if fmt == "csv":
            _find_csv_problem(path)  # names the row when it can
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read as {fmt}: {first_line}") from None


def check_readable(path: Path) -> None:
    """An InputError naming the file when it is missing, a folder or cannot be opened."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except IsADirectoryError:
        raise InputError(str(path), "is a folder, not a file") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None


def _find_csv_problem(path: Path) -> None:
    """After polars refused a CSV: find the first row it stumbled on and raise its InputError.

    Python's csv module counts rows as polars does (a blank line is a row, quoted newlines stay
    inside their row); undecodable bytes are kept as surrogates so the row that holds them is
    found exactly, without decoding the whole file at once.
    """
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
        reader = csv.reader(text)
        header: list[str] = []
        try:
            for row, fields in enumerate(reader):
                if row == 0:
                    header = fields
                for index, value in enumerate(fields):
                    if _NOT_UTF8.search(value):
                        column = header[index] if index < len(header) and row else None
                        where = " (in the header)" if row == 0 else ""
                        raise InputError(str(path), f"not UTF-8 text{where}", row=row or None, column=column)
                if len(fields) > len(header):
                    raise InputError(
                        str(path), f"{len(fields)} fields where the header has {len(header)}", row=row
                    )
        except csv.Error as exc:
            raise InputError(str(path), f"not valid CSV: {exc}", row=reader.line_num - 1) from None


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


class _NotJSON(ValueError):
    """A NaN or Infinity literal: Python's json accepts them, JSON does not."""


def _no_constant(name: str) -> None:
    raise _NotJSON(name)


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # one, not one per line


def _read_jsonl(path: Path, entity: Entity | None) -> pl.DataFrame:
    """One JSON object per line, as text columns, each value checked to be a single value.

    Read with Python's json module rather than polars: polars stores an object or list as its
    JSON text when another row of the column holds a string, reports a NaN or a BOM as an
    internal "TapeError" at a character offset, and skips blank lines in its row count. Here a
    row is its line number; blank lines are skipped but counted, so the number is the line an
    editor shows. Values become text (`true`, `12`, `1.5`) that `canonical` types as for CSV.
    """
    records: list[dict] = []
    rows: list[int] = []
    name = str(path)
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if number == 1 and raw.startswith(BOM):  # accepted, as in a CSV
                raw = raw[len(BOM):]
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(name, "not UTF-8 text", row=number) from None
            try:
                record = _DECODER.decode(line)
            except _NotJSON as exc:
                message = f"not valid JSON: {exc} is not a JSON value (use null)"
                raise InputError(name, message, row=number) from None
            except json.JSONDecodeError as exc:
                raise InputError(name, f"not valid JSON: {exc.msg}", row=number) from None
            except RecursionError:
                raise InputError(name, "not valid JSON: nested too deeply", row=number) from None
            if not isinstance(record, dict):
                raise InputError(name, "each line must be a JSON object", row=number)
            records.append(record)
            rows.append(number)
    present = {key for record in records for key in record}
    # Extra columns are ignored, whatever they hold; the entity's columns hold single values.
    keys = [c for c in entity.names if c in present] if entity else sorted(present)
    frame = {ROW: pl.Series(ROW, rows, dtype=pl.UInt32)}
    for key in keys:
        values = [record.get(key) for record in records]
        frame[key] = pl.Series(key, _jsonl_text(values, name, rows, key), dtype=pl.String)
    return pl.DataFrame(frame)


def _jsonl_text(values: list, path: str, rows: list[int], column: str) -> list[str | None]:
    """The column as text: strings as they are, numbers and booleans as JSON writes them."""
    if all(type(v) is str or v is None for v in values):  # the common case, checked fast
        return values
    for index, value in enumerate(values):
        if isinstance(value, dict | list):
            what = "an object" if isinstance(value, dict) else "a list"
            raise InputError(
                path, f"{quote(json.dumps(value))} is {what}, not a single value", row=rows[index],
                column=column,
            )
    return [v if v is None or type(v) is str else _json_text(v) for v in values]


def _json_text(value: bool | int | float) -> str:
    if value is True or value is False:  # `is`: 1 == True, but 1 is written 1
        return "true" if value else "false"
    return str(value) if type(value) is int else json.dumps(value)


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
            "unknown status {value} (use success or failure)",
        )
        frame = frame.with_columns(status)
    if entity.name == "initiatives":
        _check_initiatives(frame, rows, path)
    if entity.name == "surveys":
        frame = _surveys(frame, rows, path)
    return frame


SURVEY_PERIOD = r"^\d{4}-(Q[1-4]|\d{2}|\d{2}-\d{2})$"


def _surveys(frame: pl.DataFrame, rows: pl.Series, path: str) -> pl.DataFrame:
    """Each answer has a date or a period (2026-Q3, 2026-09); a date alone becomes its period."""
    for column in ("date", "period"):
        if column not in frame.columns:
            kind = pl.Date if column == "date" else pl.String
            frame = frame.with_columns(pl.lit(None, dtype=kind).alias(column))
    _fail_on_first(frame["date"].is_null() & frame["period"].is_null(), frame["team"], rows, path, "period",
                   "neither a date nor a period (2026-Q3, 2026-09) is given")
    period = frame["period"].fill_null(frame["date"].cast(pl.String))
    _fail_on_first(~period.str.contains(SURVEY_PERIOD), period, rows, path, "period",
                   "{value!r} is not a period (2026-Q3, 2026-09) or a date")
    return frame.with_columns(period.alias("period"))


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
        try:
            check_plan_metric(row.get("primary_metric"))
        except ValueError as exc:
            fail("primary_metric", str(exc))
        window = row.get("window_weeks")
        if window is not None and not MIN_WINDOW_WEEKS <= window <= MAX_WINDOW_WEEKS:
            fail("window_weeks",
                 f"{window} is not a number of weeks from {MIN_WINDOW_WEEKS} to {MAX_WINDOW_WEEKS}")
        margin = row.get("equivalence_margin")
        if margin is not None and not 0 < margin < 1:
            fail("equivalence_margin", f"{margin} is not a relative margin between 0 and 1 (0.1 = ±10%)")


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
                values.is_not_null(), values, rows, path, name,
                "timestamp {value} has no UTC offset (a Parquet timestamp type with a time zone is expected)",
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
        # The whole value: `2026-03-02garbage` or a date-time is not a date (never cut short).
        parsed = text.str.to_date("%Y-%m-%d", strict=False)
        _fail_on_first(
            given & parsed.is_null(), text, rows, path, name, "{value} is not a date (YYYY-MM-DD)"
        )
        return parsed
    if kind is Kind.BOOL:
        lowered = text.str.to_lowercase()
        _fail_on_first(
            given & ~lowered.is_in(TRUE_WORDS + FALSE_WORDS), text, rows, path, name,
            "{value} is not true or false",
        )
        return lowered.is_in(TRUE_WORDS).set(~given, None).alias(name)
    if kind is Kind.FLOAT:
        parsed = text.cast(pl.Float64, strict=False)
        _fail_on_first(given & parsed.is_null(), text, rows, path, name, "{value!r} is not a number")
        return parsed
    if kind is Kind.INT:
        parsed = text.cast(pl.Int64, strict=False)
        _fail_on_first(given & parsed.is_null(), text, rows, path, name, "{value} is not a whole number")
        return parsed
    raise AssertionError(kind)


def _parse_timestamp(text: pl.Series) -> pl.Series:
    """ISO 8601 with an offset as a UTC instant; null where that fails.

    `%+` reads the common spellings (T or space, fractions, Z, +hh:mm, +hhmm) in one fast pass;
    the rest (±hh, no seconds, basic form, a comma fraction) is rebuilt from TIMESTAMP_PARTS in
    the one RFC 3339 spelling and parsed again.
    """
    parsed = text.str.to_datetime("%+", time_zone="UTC", strict=False, time_unit="us")
    retry = text.is_not_null() & parsed.is_null()
    if retry.any():
        parts = text.str.extract_groups(TIMESTAMP_PARTS).struct
        offset = pl.when(parts.field("z").is_not_null()).then(pl.lit("+00:00")).otherwise(
            pl.concat_str(parts.field("oh"), pl.lit(":"), parts.field("om").fill_null("00"))
        )
        rebuilt = pl.concat_str(
            parts.field("y"), pl.lit("-"), parts.field("mo"), pl.lit("-"), parts.field("d"),
            pl.lit("T"), parts.field("h"), pl.lit(":"), parts.field("mi"), pl.lit(":"),
            parts.field("s").fill_null("00"), pl.lit("."), parts.field("f").fill_null("0"), offset,
        )
        again = pl.select(rebuilt).to_series().str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", strict=False, time_unit="us"
        )
        parsed = parsed.zip_with(~retry, again)
    return parsed


def _timestamp_problem(value: str) -> str:
    if re.fullmatch(ISO_WITHOUT_OFFSET, value):
        # Say what would have been accepted, on the value itself: the tool never guesses a zone.
        example = value if re.search(r"[Tt ]", value) else value + "T00:00:00"
        return (
            f"timestamp {quote(value)} has no UTC offset; expected ISO 8601 with an offset "
            f"({OFFSET_EXAMPLES}), e.g. {quote(example + 'Z')}"
        )
    if not re.fullmatch(TIMESTAMP_PARTS, value):
        return f"{quote(value)} is not an ISO 8601 timestamp with an offset ({OFFSET_EXAMPLES})"
    return f"{quote(value)} is not a valid timestamp"


def _fail_on_first(
    bad: pl.Series, values: pl.Series, rows: pl.Series, path: str, column: str,
    message: str | Callable[[str], str],
) -> None:
    if not bad.any():
        return
    index = bad.arg_true()[0]
    value = values[index]
    if isinstance(value, pl.Series):  # a list from Parquet: one line, not a Series dump
        value = json.dumps(value.to_list(), default=str)
    value = "" if value is None else str(value)
    text = message(value) if callable(message) else message.format(value=quote(value))
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
                    self.path, f"duplicate key {quote(value)} (also at row {first_at[key]})",
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
    for raw in read_raw_batches(path, rows_per_batch, chosen):
        frame = canonical(raw, chosen, str(path))
        tracker.add(frame, raw[ROW])
        yield chosen, frame

    def key_of_row(rows: list[int]) -> dict[int, tuple]:
        wanted = pl.Series(ROW, rows, dtype=pl.UInt32)
        found: dict[int, tuple] = {}
        for raw in read_raw_batches(path, rows_per_batch, chosen):
            hits = raw.filter(pl.col(ROW).is_in(wanted.implode()))
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
