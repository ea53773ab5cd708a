"""The Streamlit server of `dora-impact dashboard`, with the dashboard's modules imported first.

Streamlit runs dashboards/app.py anew for every visit and interaction, but modules it imports
stay imported in the server process. Importing them here, before the server listens, means the
first visitor does not wait for plotly, polars, DuckDB, scipy and the warehouse to be imported
(about 3.5 s of CPU, most of a first render on the 1M-deployment org: docs/performance.md).
On a DuckLake it also opens a reader before listening (warehouse/lake.py `warm`): loading the
extensions, attaching the catalog and copying publish's tables to memory cost 0.3-0.5 s that
the first visitor would otherwise wait for; a lake it cannot open is left to the app to report.
Run as `python -m dashboards.server run APP [streamlit options] -- [app options]`,
the arguments of `streamlit`.
"""

from __future__ import annotations

import logging
import runpy
import sys

import duckdb

import dashboards.data  # noqa: F401
import dashboards.impact_view  # noqa: F401
import dashboards.pages  # noqa: F401
import warehouse.impact  # noqa: F401
from collectors.secrets import REDACT
from warehouse.errors import UserError
from warehouse.lake import PREFIX, warm


def app_location(argv: list[str]) -> str | None:
    """The `--db` of the app's options (after `--`), if any."""
    options = argv[argv.index("--") + 1 :] if "--" in argv else []
    for i, option in enumerate(options):
        if option == "--db" and i + 1 < len(options):
            return options[i + 1]
        if option.startswith("--db="):
            return option.removeprefix("--db=")
    return None


def warm_lake(argv: list[str]) -> None:
    location = app_location(argv)
    if location is None or not location.startswith(PREFIX):
        return
    try:
        warm(location)
    except (duckdb.Error, OSError, ValueError, UserError) as exc:  # the app says what is wrong, per visit
        logging.getLogger("dora_impact.dashboard").warning(
            "the lake was not opened ahead: %s", REDACT(" ".join(str(exc).split()))[:300])


if __name__ == "__main__":
    warm_lake(sys.argv)
    runpy.run_module("streamlit", run_name="__main__", alter_sys=True)
