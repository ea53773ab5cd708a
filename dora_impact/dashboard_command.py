"""The `dashboard` command: serve the Streamlit app (read-only) over the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact_app.signin import write_secrets_file


def dashboard_command_line(context: AppContext, port: int, address: str) -> list[str]:
    app = resources.files("dashboards") / "app.py"
    command = [
        # `streamlit run`, after importing the dashboard's modules (dashboards/server.py).
        sys.executable, "-m", "dashboards.server", "run", str(app),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
        # The location's full text: an absolute file path, or a lake's connection string.
        "--", "--db", context.location.text,
    ]
    if context.config.source_path:
        command += ["--config", str(context.config.source_path.resolve())]
    return command


def serve_dashboard(context: AppContext, port: int = 8501, address: str = "localhost") -> None:
    context.open(read_only=True).close()  # a missing or unusable file: one line, before serving
    command = dashboard_command_line(context, port, address)
    with tempfile.TemporaryDirectory(prefix="dora-impact-") as private:  # 0700, removed after
        # [dashboard.auth], validated with the whole config: the secrets file st.login reads,
        # with the secrets from the environment (a missing one: UserError, exit 2).
        secrets = Path(private) / "secrets.toml"
        if write_secrets_file(context.config.dashboard.auth, secrets, os.environ):
            command[command.index("--") : command.index("--")] = ["--secrets.files", str(secrets)]
        typer.echo(f"Dashboard on http://{address}:{port} (Ctrl-C stops it)", err=True)
        code = run_child(command)
    raise typer.Exit(code)


def run_child(command: list[str]) -> int:
    """Run the Streamlit server until it ends, or until this process is told to stop
    (SIGTERM, SIGINT, SIGHUP): then stop the server too, so none is left orphaned on the port."""
    child = subprocess.Popen(command)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with it ignored, and `kill -INT` must still work.
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard_cmd(
        ctx: typer.Context,
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
        address: Annotated[
            str, typer.Option(help="Address to bind; 0.0.0.0 to serve other machines.")
        ] = "localhost",
    ) -> None:
        """Serve the Streamlit dashboard (read-only) over the database."""
        serve_dashboard(ctx.obj, port=port, address=address)
