"""The `impact` command: before/after effect of initiatives (statistics live in warehouse/impact)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dora_impact.context import AppContext
from dora_impact.errors import UserError
from dora_impact.output import stdout_console, to_json

if TYPE_CHECKING:
    from warehouse.impact import ImpactResult

# warehouse.impact loads scipy and statsmodels (seconds): imported when the command runs, so
# that every other command starts fast.
DEFAULT_WINDOW_WEEKS = 26  # = warehouse.impact.DEFAULT_WINDOW_WEEKS (checked by a test)
TREATED, ORG = "treated teams", "org"

SPARKS = "▁▂▃▄▅▆▇█"
VERDICT_STYLE = {"improved": "green", "worsened": "red", "no detectable change": "", "inconclusive": "yellow"}
ROLE_NAMES = {"primary": "primary", "secondary": "then (Holm)", "descriptive": "descriptive",
              "exploratory": "exploratory"}
METHOD_NAMES = {"did": "diff-in-diff", "its": "time series", "before_after": "before/after"}


class Format(StrEnum):
    table = "table"
    json = "json"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}%"


def _level(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit.startswith("share"):
        return f"{value * 100:.1f}%"
    if unit.startswith("hours"):
        return f"{value:.1f} h"
    return f"{value:.2f}"


def _verdict(row: dict) -> str:
    from warehouse.impact.summary import verdict_words

    text = verdict_words(row)
    style = VERDICT_STYLE.get(row.get("verdict") or "", "")
    return f"[{style}]{text}[/{style}]" if style else text


def _test(row: dict) -> str:
    """The estimate the verdict rests on: trend-adjusted for difference-in-differences."""
    if row["method"] != "did":
        return "= plain"
    if row.get("trend_adjusted_change") is None:
        return "–"
    return (
        f"{_pct(row['trend_adjusted_change'])} ({_pct(row['trend_adjusted_ci_low'])} to "
        f"{_pct(row['trend_adjusted_ci_high'])})"
    )


def _pre_trend(row: dict) -> str:
    if row["method"] != "did":
        return "–"
    if row.get("pre_trend_p") is None:
        return "not run"
    return f"{'ok' if row['pre_trend_ok'] else 'failed'} (p {row['pre_trend_p']:.2g})"


def _adjusted(row: dict) -> str:
    if row.get("p_test") is None:
        return "–"
    if row.get("role") == "secondary" and row.get("p_adjusted") is not None:
        return f"{row['p_test']:.3g} (Holm {row['p_adjusted']:.3g})"
    return f"{row['p_test']:.3g}"


def _expected(row: dict) -> float | None:
    """The level the estimate implies for the group after, had the initiative not happened:
    after ÷ (1 + change). It is what makes "after" and "change" one statement: the observed
    before → after movement also holds what the comparison teams did meanwhile, the change
    does not."""
    after, rel = row.get("after"), row.get("relative_change")
    if after is None or rel is None or rel <= -1:
        return None
    return after / (1 + rel)


def _change(row: dict) -> str:
    if row.get("relative_change") is None:
        return "–"
    return f"{_pct(row['relative_change'])} ({_pct(row.get('ci_low'))} to {_pct(row.get('ci_high'))})"


# The level columns, shared by both tables: observed before and after (descriptive), then the
# estimate's own pair, expected-without and after, whose ratio is the change column exactly.
LEVEL_HEADERS = ("before", "after", "expected", "change (95% CI)")
LEVEL_CAPTION = (
    "before, after: the group's observed levels (descriptive). expected: its after level without "
    "the initiative, from the comparison. change = after ÷ expected − 1, the estimate."
)


def _levels(row: dict, unit: str) -> tuple[str, str, str, str]:
    return (_level(row.get("before"), unit), _level(row.get("after"), unit), _level(_expected(row), unit),
            _change(row))


def estimates_table(rows: list[dict], group: str) -> Table | None:
    """One group's primary estimates, from impact rows (`ImpactResult.rows()`)."""
    rows = [r for r in rows if r["group"] == group]
    headline = ("throughput", "instability", "factor")
    primary = [r for r in rows if r["primary"] and (r["family"] in headline or r.get("role") == "primary")]
    if not primary:
        return None
    title = {TREATED: "Adopting teams", ORG: "Whole org"}.get(group, f"Adopting teams, {group}")
    table = Table(title=f"{title}: primary estimates", title_justify="left", caption=LEVEL_CAPTION,
                  caption_justify="left")
    for header in (
        "metric",
        "tested",
        "method",
        *LEVEL_HEADERS,
        "trend taken out (the test)",
        "p of the test",
        "mde",
        "n before/after",
        "verdict",
        "pre-trend",
    ):
        left = header in ("metric", "tested", "method", "verdict")
        table.add_column(header, justify="left" if left else "right")
    first = [r for r in primary if r.get("role") == "primary"]
    for r in first + [r for r in primary if r not in first]:
        table.add_row(
            r["metric"],
            ROLE_NAMES.get(r.get("role"), "–"),
            METHOD_NAMES[r["method"]],
            *_levels(r, r["unit"]),
            _test(r),
            # The verdict follows the test's p: the primary at 5%, then Holm over the rest.
            _adjusted(r),
            "–" if r.get("mde") is None else f"±{r['mde'] * 100:.0f}%",
            f"{r['n_before']}/{r['n_after']}",
            _verdict(r),
            _pre_trend(r),
        )
    return table


def _stages_table(result: ImpactResult) -> Table | None:
    group = TREATED if not result.initiative.org_wide else ORG
    from warehouse.impact import stage_breakdown

    stages = stage_breakdown(result.impact, group)
    if not stages:
        return None
    table = Table(
        title="Where the time goes: lead-time stages and handoffs per pull request (descriptive)",
        title_justify="left",
        caption=LEVEL_CAPTION,
        caption_justify="left",
    )
    for header in ("stage / handoff", "method", *LEVEL_HEADERS, "hours added", "mde"):
        table.add_column(header, justify="left" if header in ("stage / handoff", "method") else "right")
    for s in stages:
        unit = "hours" if s["added_hours"] is not None or s["metric"].endswith(("_time", "_wait")) else ""
        table.add_row(
            s["label"],
            METHOD_NAMES[s["method"]],
            *_levels(s, unit),
            "–" if s["added_hours"] is None else f"{s['added_hours']:+.1f} h",
            "–" if s.get("mde") is None else f"±{s['mde'] * 100:.0f}%",
        )
    return table


def _sparkline(values: list[float | None]) -> str:
    return "".join(" " if v is None else SPARKS[min(int(v * len(SPARKS)), len(SPARKS) - 1)] for v in values)


def _adoption(console: Console, result: ImpactResult) -> None:
    curve = result.adoption
    if not curve.weeks:
        console.print(f"[bold]Adoption[/bold]: {curve.message}")
        return
    weeks = curve.weeks
    console.print(
        f"[bold]Adoption[/bold] ({curve.signal}), weekly share of the adopting teams' "
        "production deployments (▁ 0% … █ 100%):"
    )
    console.print(
        f"  deployments  {weeks[0]['week']} {_sparkline([w['share'] for w in weeks])} {weeks[-1]['week']}"
    )
    console.print(
        f"  repositories {weeks[0]['week']} {_sparkline([w['repo_share'] for w in weeks])} "
        f"{weeks[-1]['week']}"
    )
    latest = curve.latest
    if latest:
        console.print(
            f"  latest week {latest['week']}: {latest['new_path']}/{latest['deployments']} deployments, "
            f"{latest['repos_new_path']}/{latest['repos']} repositories on the new path"
        )
    if curve.team_share:
        shares = ", ".join(f"{team} {share * 100:.0f}%" for team, share in sorted(curve.team_share.items()))
        console.print(f"  after the ramp, by team: {shares}")


def render(results: list[ImpactResult], console: Console) -> None:
    for result in results:
        console.rule(f"[bold]{result.initiative.name}")
        for line in result.summary:
            console.print(line)
        console.print()
        rows = result.rows()
        for group in dict.fromkeys(r["group"] for r in rows):
            table = estimates_table(rows, group)
            if table is not None:
                console.print(table)
        stages = _stages_table(result)
        if stages is not None:
            console.print(stages)
        _adoption(console, result)
        console.print(
            "[dim]Every estimate, method and sample size: --format json. "
            "Method and assumptions: docs/impact-method.md.[/dim]"
        )
        console.print()


def register(app: typer.Typer) -> None:
    @app.command("impact")
    def impact_cmd(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Argument(help="Only this initiative.")] = None,
        window_weeks: Annotated[
            int | None,
            typer.Option(
                "--window-weeks",
                min=4,
                max=260,
                help=f"Weeks compared on each side of adoption (default: the plan's, else "
                f"{DEFAULT_WINDOW_WEEKS}); another than the plan's makes the analysis exploratory.",
            ),
        ] = None,
        primary_metric: Annotated[
            str | None,
            typer.Option(
                "--primary-metric",
                help="Judge this metric first instead of the plan's: the analysis is then exploratory.",
            ),
        ] = None,
        fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    ) -> None:
        """Before/after effect of initiatives: primary estimates with 95% intervals and verdicts."""
        from warehouse.impact.config import check_plan_metric

        try:
            check_plan_metric(primary_metric)
        except ValueError as exc:
            raise UserError(f"--primary-metric: {exc}") from None
        from warehouse.impact import ROW_KEYS, UnknownInitiative, run

        context: AppContext = ctx.obj
        try:
            wh = context.open(read_only=True)  # never takes the write lock
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
        try:
            results = run(wh, context.config, name, window_weeks, primary_metric=primary_metric)
        except UnknownInitiative as exc:
            raise UserError(str(exc)) from None
        finally:
            wh.close()
        if fmt == Format.json:
            rows = [row for result in results for row in result.rows()]
            typer.echo(to_json([{**{k: row[k] for k in ROW_KEYS}, **row} for row in rows]))
            return
        console = stdout_console()
        if not results:
            console.print("No initiatives: declare [[initiatives]] in the config or import initiatives.csv.")
            return
        render(results, console)
