"""The Streamlit server of `dora-impact dashboard`, with the dashboard's modules imported first.

Streamlit runs dashboards/app.py anew for every visit and interaction, but modules it imports
stay imported in the server process. Importing them here, before the server listens, means the
first visitor does not wait for plotly, polars, DuckDB, scipy and the warehouse to be imported
(about 3.5 s of CPU, most of a first render on the 1M-deployment org: docs/performance.md).
Run as `python -m dashboards.server run APP [streamlit options] -- [app options]`,
the arguments of `streamlit`.
"""

from __future__ import annotations

import runpy

import dashboards.data  # noqa: F401
import dashboards.impact_view  # noqa: F401
import dashboards.pages  # noqa: F401
import warehouse.impact  # noqa: F401

if __name__ == "__main__":
    runpy.run_module("streamlit", run_name="__main__", alter_sys=True)
