"""What every command gets: the resolved config and where the database is."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dora_impact.config import DEFAULT_DB, Config, load_config
from dora_impact.errors import UserError
from warehouse import Warehouse
from warehouse.precompute import refresh


@dataclass
class AppContext:
    config: Config
    db_path: Path | str  # a file, or a `ducklake:` location (warehouse/lake.py)

    @classmethod
    def resolve(cls, db: str | None, config_path: str | None) -> AppContext:
        """--db, else DORA_IMPACT_DB, else the config's `db`, else ./dora.duckdb."""
        config_path = config_path or os.environ.get("DORA_IMPACT_CONFIG")
        config = load_config(config_path)
        chosen = db or os.environ.get("DORA_IMPACT_DB") or config.db or DEFAULT_DB
        # A DuckLake location is a connection string, kept as given (Path would fold `//`).
        return cls(config=config, db_path=chosen if chosen.startswith("ducklake:") else Path(chosen))

    def _refresh(self, wh: Warehouse) -> None:
        """A failed refresh leaves the precomputed tables stale, which readers detect and
        compute around (same numbers, slower): it never fails the load that committed."""
        try:
            refresh(wh, self.config.metrics)
            from warehouse.impact.plans import record_current

            record_current(wh, self.config.initiatives)  # analysis plans, with first-seen dates
        except duckdb.Error as exc:
            print(f"dora-impact: warning: precomputed tables not refreshed: {exc}", file=sys.stderr)

    def open(self, read_only: bool = False, **options: object) -> Warehouse:
        """The database, waited for while another command holds it; a database this command
        creates is removed again if the command fails inside its `with` block. `options`
        matter to a DuckLake only (warehouse/lake.py: `shard`, `whole`)."""
        try:
            wh = Warehouse(
                self.db_path,
                read_only=read_only,
                command=" ".join(["dora-impact", *sys.argv[1:]]),
                on_wait=lambda message: print(f"dora-impact: {message}", file=sys.stderr),
                remove_if_failed=True,
                data_path=self.config.lake_data_path,
                **options,
            )
        except FileNotFoundError as exc:  # reading a database that was never built
            raise UserError(str(exc)) from None
        # Every command that loads (import, sync) leaves the precomputed tables fresh.
        wh.after_load = self._refresh if wh.precomputes else None
        return wh
