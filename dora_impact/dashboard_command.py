"""The `dashboard` command: serve the Streamlit app (read-only) over the database."""

from __future__ import annotations

from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact.errors import UserError


def serve_dashboard(context: AppContext, port: int = 8501) -> None:
    from importlib.util import find_spec

    if find_spec("dashboards.app") is None:
        typer.echo("The dashboard is not built yet; the metrics above are the demo org's.", err=True)
        return
    import subprocess
    import sys

    if not context.db_path.exists():
        raise UserError(f"{context.db_path}: no such database (run `dora-impact demo` or `import` first)")
    command = [
        sys.executable, "-m", "streamlit", "run", str(_app_path()),
        "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--", "--db", str(context.db_path.resolve()),
    ]
    if context.config.source_path:
        command += ["--config", str(context.config.source_path.resolve())]
    raise typer.Exit(subprocess.call(command))


def _app_path():
    from importlib import resources

    return resources.files("dashboards") / "app.py"


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_cmd(
        ctx: typer.Context, port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501
    ) -> None:
        """Serve the Streamlit dashboard (read-only) over the database."""
        serve_dashboard(ctx.obj, port=port)
