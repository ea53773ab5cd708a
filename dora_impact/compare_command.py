"""The `compare A B` command: period against period, for leaders (numbers from warehouse.compare)."""

from __future__ import annotations

from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact.errors import UserError
from dora_impact.output import emit, stdout_console
from warehouse import formatting

SCOPES = ("org", "team", "repo")
FORMATS = ("table", "json", "csv")


def signed_percent(value: object) -> str:
    return "–" if value is None else f"{float(value) * 100:+.0f}%"


def value_text(value: object, metric: str) -> str:
    return formatting.value_text(metric, None if value is None else float(value))


def interval_text(row: dict) -> str:
    if row["ci_low"] is None:
        return "–"
    return f"{signed_percent(row['ci_low'])} to {signed_percent(row['ci_high'])}"


def level_text(row: dict) -> str:
    a, b = row["level_b"] or "–", row["level_a"] or "–"
    return a if a == b else f"{a} → {b}"


def coverage_notes(rows: list[dict]) -> list[str]:
    """Say which period is compared on part of its days (a running quarter, thin data)."""
    if not rows:
        return []
    first = rows[0]
    notes = []
    for side in ("a", "b"):
        if not first[f"complete_{side}"]:
            days = first[f"covered_days_{side}"]
            notes.append(
                f"{first[side]} is compared on {days:.0f} covered days ({first[f'weeks_{side}']} weeks): "
                "it is still running or the data covers only part of it; rates are per covered day."
            )
    return notes


def load_rows(context: AppContext, a: str, b: str, by: str) -> list[dict]:
    """The compare rows, bad periods as one-line errors (exit 2)."""
    from dora_impact_app.workflows import compare

    if by not in SCOPES:  # before the database is opened
        raise UserError(f"--by {by!r}: use one of {', '.join(SCOPES)}")
    with context.open(read_only=True) as wh:
        return compare(wh, context.config, a, b, by=by)


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_cmd(
        ctx: typer.Context,
        a: Annotated[str, typer.Argument(help="The period to look at: 2026-Q3 or 2026-09.")],
        b: Annotated[str, typer.Argument(help="The period to compare it with: 2026-Q2, 2025-Q3, 2026-08.")],
        by: Annotated[str, typer.Option(help="org, team or repo (the org rows always come first).")] = "team",
        fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    ) -> None:
        """Quarter against quarter (or month against month): change, 95% interval, levels."""
        from warehouse.compare import COMPARE_KEYS, rows_csv

        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        context: AppContext = ctx.obj
        rows = load_rows(context, a, b, by)
        if fmt == "json":
            emit(rows, fmt, COMPARE_KEYS)
            return
        if fmt == "csv":
            typer.echo(rows_csv(rows), nl=False)
            return
        console = stdout_console()
        if not rows:
            console.print(f"No production deployments in {a} or {b}.")
            return
        label_a, label_b = rows[0]["a"], rows[0]["b"]
        shown = [
            ("key", "key"), ("metric", "metric"),
            ("value_b", label_b), ("value_a", label_a), ("change", "change"), ("interval", "95% CI"),
            ("noise", "beyond noise"), ("n", f"n {label_b}/{label_a}"), ("levels", "level"),
        ]
        table_rows = [
            {
                "key": r["key"], "metric": r["metric"],
                "value_b": value_text(r["value_b"], r["metric"]),
                "value_a": value_text(r["value_a"], r["metric"]),
                "change": signed_percent(r["change"]), "interval": interval_text(r),
                "noise": "yes" if r["beyond_noise"] else "no", "n": f"{r['n_b']}/{r['n_a']}",
                "levels": level_text(r),
            }
            for r in rows
        ]
        emit(table_rows, "table", [c for c, _ in shown], shown, title=f"{label_a} against {label_b}",
             console=console)
        for note in coverage_notes(rows):
            console.print(note)
        console.print(
            "[dim]Intervals: bootstrap over weeks for deployment frequency and the rates (through "
            "their counts), over changes / failed deployments for the medians. --format json for all.[/dim]"
        )
