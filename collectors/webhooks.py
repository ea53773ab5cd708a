"""Pushed events: GitHub webhooks and generic CI/CD events, as canonical rows, queued
durably in an append-only spool, and loaded into the warehouse through the same idempotent
path as `sync`.

Why a spool: an event is on disk (written and fsynced) before anything else happens to it, and
the warehouse's write lock is taken only for the moment a batch of spooled events is loaded (the
dashboard, `sync` and other writers use the same file). Each append gets a ticket, its place
in the spool; the receiver answers once the loaded place has passed it (a group commit,
dora_impact/webhooks_command.py). The spool offset that has been loaded
is a sync cursor stored in the same transaction as the rows, so a receiver killed at any
moment loads every acknowledged event exactly once when it comes back (rows are upserts on
their natural keys, so an event loaded twice would change nothing anyway).

The parsers are the sources' own: GitHub's deliveries are read by collectors/github/webhook.py
with GitHub's stream code; the generic `/events` body is read here. Both produce an Event
(collectors/events.py), the one shape the spool stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from collectors.events import Event
from collectors.files import ROW, canonical
from collectors.shipping import load_rows
from warehouse import attribution
from warehouse.db import Cursor, Warehouse
from warehouse.errors import InputError
from warehouse.schema import ENTITIES

GENERIC_SOURCE = "events"  # `source` of rows posted to /events


# -- generic events ---------------------------------------------------------------------------------


def generic_event(body: object, delivery: str) -> Event:
    """`{"entity": "<canonical entity>", "rows": [...]}`, checked like an import file (the
    message names the row and column). Raises InputError."""
    where = "request body"
    if not isinstance(body, dict):
        raise InputError(where, 'expected a JSON object {"entity": ..., "rows": [...]}')
    entity_name = body.get("entity")
    if entity_name not in ENTITIES or entity_name == "initiatives":
        choices = ", ".join(sorted(n for n in ENTITIES if n != "initiatives"))
        raise InputError(where, f"unknown entity {entity_name!r} (one of {choices})")
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError(where, '"rows" must be a non-empty list of objects')
    entity = ENTITIES[entity_name]
    for number, row in enumerate(rows, start=1):
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                raise InputError(where, "nested values are not canonical columns", row=number, column=key)
    columns = sorted({k for r in rows for k in r} & set(entity.names))
    raw = pl.DataFrame(
        {c: [None if r.get(c) is None else str(r.get(c)) for r in rows] for c in columns}
        | {ROW: list(range(1, len(rows) + 1))},
        schema={**{c: pl.String for c in columns}, ROW: pl.Int64},
    )
    typed = canonical(raw, entity, where)
    return Event(delivery, GENERIC_SOURCE, {entity.name: typed.to_dicts()})


def body_delivery(body: bytes) -> str:
    """A delivery id for a sender that gives none: the body's digest (the same body twice is
    the same event)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


# -- the spool ----------------------------------------------------------------------------------


ROTATE_BYTES = 64 * 1024 * 1024

# Where an event sits in the spool: (the file's generation in this process, the byte offset
# after its line). Tickets order as the spool does, across rotations; a ticket at or before
# the spool's `loaded` one is in the warehouse.
Ticket = tuple[int, int]


class Spool:
    """An append-only JSON Lines file of accepted events; fsynced before the event is answered.

    A line is complete only with its newline: a receiver killed mid-write leaves a torn last
    line, which was never acknowledged and is skipped (and overwritten by the next append).

    Rotation: once every event of the file is loaded and the file has passed `rotate_bytes`,
    it becomes `<path>.1` (replacing the one before) and a new file starts. The loaded offset
    is stored with the identity of the file it counts in (a digest of the file's first line),
    so an offset into a rotated file is never applied to the new one, whenever a kill lands.
    Delivery ids of the current and the previous file are remembered, so a sender's retry of
    a recent event is still answered `duplicate` after a rotation; those of the current file
    with their ticket (a file rotates only once everything in it is loaded, so the previous
    file's events need none).
    """

    def __init__(self, path: Path, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.path = path
        self.previous_path = path.with_name(path.name + ".1")
        self.rotate_bytes = rotate_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.generation = 0  # rotations in this process's life
        self.deliveries: dict[str, Ticket] = {}  # of the current file
        self.previous_deliveries: set[str] = set()  # of the rotated one
        self._end = 0  # byte offset after the last complete line
        self._segment = ""
        # Loaded into the warehouse up to here: unknown (None) until load_spool has read the
        # stored offset.
        self.loaded: Ticket | None = None
        for _, _, line in _complete_lines(self.previous_path, 0):
            self.previous_deliveries.add(json.loads(line)["delivery"])
        for _, end, line in self.lines(0):
            self.deliveries[json.loads(line)["delivery"]] = (0, end)
            self._segment = self._segment or _identity(line)
            self._end = end
        if self.path.exists() and self.path.stat().st_size != self._end:
            with self.path.open("r+b") as f:  # drop a torn tail
                f.truncate(self._end)

    def known(self, delivery: str) -> bool:
        return delivery in self.deliveries or delivery in self.previous_deliveries

    def ticket(self, delivery: str) -> Ticket | None:
        """Where a known delivery sits; None for one of the rotated file (loaded before the
        rotation) or an unknown one."""
        return self.deliveries.get(delivery)

    def append(self, event: Event) -> Ticket | None:
        """Store an event durably and return its ticket; None (and nothing written) when its
        delivery is known."""
        line = (event.to_json() + "\n").encode()
        with self._lock:
            if self.known(event.delivery):
                return None
            with self.path.open("ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._end += len(line)
            self._segment = self._segment or _identity(line.decode())
            ticket = (self.generation, self._end)
            self.deliveries[event.delivery] = ticket
            return ticket

    def size(self) -> int:
        return self._end

    def head(self) -> Ticket:
        """The ticket of the last complete line (everything appended so far)."""
        with self._lock:
            return (self.generation, self._end)

    def segment(self) -> str:
        """The current file's identity ("" while it is empty)."""
        return self._segment

    def lines(self, offset: int) -> Iterator[tuple[int, int, str]]:
        """(start, end, text) of every complete line from `offset`."""
        return _complete_lines(self.path, offset)

    def rotate_if_loaded(self, loaded_end: int, segment: str) -> bool:
        """Start a new file when everything in this one is loaded and it is big enough."""
        with self._lock:
            if self._end < self.rotate_bytes or (loaded_end, segment) != (self._end, self._segment):
                return False
            os.replace(self.path, self.previous_path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a power cut
            finally:
                os.close(directory)
            self.previous_deliveries, self.deliveries = set(self.deliveries), {}
            self._end, self._segment = 0, ""
            self.generation += 1
            self.loaded = (self.generation, 0)
            return True


def _identity(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:16]


def _complete_lines(path: Path, offset: int) -> Iterator[tuple[int, int, str]]:
    if not path.exists():
        return
    with path.open("rb") as f:
        f.seek(offset)
        position = offset
        for raw in f:
            if not raw.endswith(b"\n"):
                return
            yield position, position + len(raw), raw.decode()
            position += len(raw)


SPOOL_RESOURCE = "spool"


def load_spool(wh: Warehouse, spool: Spool, max_events: int = 5000) -> int:
    """Load spooled events past the stored offset, with the new offset, in one transaction,
    and move `spool.loaded` to it once committed. Returns how many events were loaded."""
    scope = str(spool.path.resolve())
    stored = wh.cursor("webhooks", scope, SPOOL_RESOURCE).cursor or "0"
    # "<offset>@<file identity>"; a bare offset (older receivers) counts in the current file.
    offset_text, _, segment = stored.partition("@")
    offset = int(offset_text) if not segment or segment == spool.segment() else 0
    events: list[Event] = []
    end = offset
    for _, line_end, line in spool.lines(offset):
        events.append(Event.from_json(line))
        end = line_end
        if len(events) >= max_events:
            break
    if not events:
        spool.loaded = (spool.generation, offset)
        spool.rotate_if_loaded(offset, spool.segment())
        return 0
    # Rows of the same source, entity and columns are loaded together (one upsert each).
    grouped: dict[tuple[str, str, tuple[str, ...]], list[dict]] = {}
    causes, evidence, evidenced = [], [], []
    for event in events:
        causes += event.causes
        evidence += event.evidence
        evidenced += event.evidenced
        for name, rows in event.rows.items():
            for row in rows:
                grouped.setdefault((event.source, name, tuple(sorted(row))), []).append(row)

    def save() -> None:
        with wh.transaction():
            attribution.save_causes(wh, causes)
            attribution.save_evidence(wh, evidenced, attribution.TEXT_KINDS, evidence)
            for (source, name, _), rows in grouped.items():
                load_rows(wh, {name: rows}, source, [])
            wh.load({}, cursors=[Cursor("webhooks", scope, SPOOL_RESOURCE, f"{end}@{spool.segment()}")])

    wh.retried(save, "loading the spooled events")
    spool.loaded = (spool.generation, end)
    return len(events)
