"""The `report` command: a self-contained HTML (or Markdown) report for a quarter."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dora_impact.compare_command import SCOPES
from dora_impact.context import AppContext
from dora_impact.errors import UserError

FORMATS = ("html", "md")


def write_atomically(path: Path, text: str) -> None:
    """Nothing half-written: the file appears whole or not at all. Readable as any file this
    user writes (the umask's mode, 0644 by default), not mkstemp's private 0600: a report is
    made to be shared."""
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(context: AppContext, quarter: str, compare_to: str | None, fmt: str, by: str = "team") -> str:
    from dora_impact_app.workflows import report

    with context.open(read_only=True) as wh:
        return report(wh, context.config, quarter, compare_to, fmt, by)


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        ctx: typer.Context,
        quarter: Annotated[str, typer.Option("--quarter", help="The quarter (or month) reported: 2026-Q3.")],
        compare_to: Annotated[
            str | None, typer.Option("--compare", help="Compared with (default: the period before).")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="File to write (default: report.html / .md).")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="html or md.")] = "html",
        by: Annotated[str, typer.Option(help="team or repo tables beside the org.")] = "team",
    ) -> None:
        """A self-contained HTML report (or Markdown) for leaders: headlines, tables, trends."""
        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        if by not in SCOPES:
            raise UserError(f"--by {by!r}: use one of {', '.join(SCOPES)}")
        target = out or Path(f"report.{fmt}")
        if not target.resolve().parent.is_dir():
            raise UserError(f"--out {target}: no such directory")
        text = render(ctx.obj, quarter, compare_to, fmt, by)
        write_atomically(target, text)
        Console(stderr=True).print(f"wrote {target} ({len(text.encode()) / 1e6:.1f} MB)")
