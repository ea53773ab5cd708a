"""Importing canonical files: every file checked first, then loaded one file per transaction.

Checking everything before writing anything is what makes a bad row leave the database as it
was. Loading each file in its own transaction (rather than all files in one) bounds memory:
DuckDB holds a transaction's uncommitted rows in memory, and a 5-million-row import in one
transaction would hold all of them. A run killed during loading keeps the files it finished;
running it again loads the rest and changes nothing else, since loads are upserts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.files import FORMATS, entity_for, file_format, read_entity_batches
from warehouse.db import LoadCounts, Warehouse
from warehouse.errors import InputError, UserError


@dataclass
class ImportedFile:
    path: Path
    entity: str
    rows: int
    counts: LoadCounts

    def describe(self) -> str:
        return (f"{self.path.name} ({self.entity}): {self.rows} rows read, "
                f"{self.counts.new} new, {self.counts.updated} updated")


def expand(paths: Sequence[Path | str]) -> list[Path]:
    """Files as given, and the importable files of any folder given."""
    files: list[Path] = []
    for path in map(Path, paths):
        try:
            path.stat()  # not exists(): that says False for a file in a folder we may not enter
        except FileNotFoundError:
            raise InputError(str(path), "no such file or folder") from None
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
        if path.is_dir():
            try:
                files += sorted(p for p in path.iterdir() if p.suffix.lower() in FORMATS)
            except OSError as exc:
                raise InputError(str(path), f"cannot read the folder: {exc.strerror or exc}") from None
        else:
            files.append(path)
    if not files:
        raise UserError(f"{', '.join(map(str, paths))}: no importable files")
    return files


def check_files(files: Sequence[Path], entity: str | None = None) -> None:
    """Raise InputError at the first bad file name, row or value; write nothing."""
    for path in files:  # names and types first: a misnamed file fails before any reading
        file_format(path)
        entity_for(path, entity)
    for path in files:
        for _ in read_entity_batches(path, entity):
            pass


def import_files(
    wh: Warehouse,
    paths: Sequence[Path | str],
    entity: str | None = None,
    on_file: Callable[[ImportedFile], None] | None = None,
) -> list[ImportedFile]:
    files = expand(paths)
    check_files(files, entity)
    return load_files(wh, files, entity, on_file)


def load_files(
    wh: Warehouse,
    files: Sequence[Path],
    entity: str | None = None,
    on_file: Callable[[ImportedFile], None] | None = None,
) -> list[ImportedFile]:
    """Load files already checked by check_files, one transaction each."""
    done = []
    for path in files:
        name = entity_for(path, entity).name

        def load(path=path, name=name) -> ImportedFile:
            result = ImportedFile(path, name, 0, LoadCounts())
            with wh.transaction():
                for _entity, batch in read_entity_batches(path, entity):
                    result.counts += wh.load({name: batch}, source="import")[name]
                    result.rows += batch.height
            return result

        result = wh.retried(load, f"loading {path}")
        done.append(result)
        if on_file:
            on_file(result)
    return done
