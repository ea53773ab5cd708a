"""What every command gets: the resolved config and where the database is."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from dora_impact.config import DEFAULT_DB, Config, load_config
from dora_impact.errors import UserError
from warehouse import Warehouse
from warehouse.location import Location


@dataclass
class AppContext:
    config: Config
    location: Location  # a DuckDB file or a `ducklake:` lake (warehouse/location.py)

    @classmethod
    def resolve(cls, db: str | None, config_path: str | None) -> AppContext:
        """--db, else DORA_IMPACT_DB, else the config's `db`, else ./dora.duckdb."""
        config_path = config_path or os.environ.get("DORA_IMPACT_CONFIG")
        config = load_config(config_path)
        for line in config.deprecations:
            print(f"dora-impact: warning: {config.source_path}: {line}", file=sys.stderr)
        chosen = db or os.environ.get("DORA_IMPACT_DB") or config.db or DEFAULT_DB
        return cls(config=config, location=Location.parse(chosen))

    def open(self, read_only: bool = False, **options: object) -> Warehouse:
        """The database, waited for while another command holds it; a database this command
        creates is removed again if the command fails inside its `with` block. `options`
        matter to a DuckLake only (warehouse/lake.py: `shard`, `whole`)."""
        try:
            wh = Warehouse(
                self.location,
                read_only=read_only,
                command=" ".join(["dora-impact", *sys.argv[1:]]),
                on_wait=lambda message: print(f"dora-impact: {message}", file=sys.stderr),
                remove_if_failed=True,
                data_path=self.config.lake_data_path,
                **options,
            )
        except FileNotFoundError as exc:  # reading a database that was never built
            raise UserError(str(exc)) from None
        # Every command that loads runs the after-load step itself (dora_impact_app/after_load.py).
        return wh
