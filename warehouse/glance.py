"""The sentences a leader reads first, over `compare` rows: one line per question (faster? more
stable?), shared by the report and the dashboard's Quarters page so that both say the same."""

from __future__ import annotations

from warehouse import catalog, palette

# Which factor answers which question; whether a rise is good and the metrics it is made of are
# the catalog's.
ASKS = {"throughput": "Faster?", "instability": "More stable?"}


def questions() -> tuple[tuple[str, str, bool, tuple[str, ...]], ...]:
    """(question, factor, good when up, its metrics) per factor of the catalog."""
    return tuple((ASKS[f.name], f.name, f.better > 0, tuple(catalog.factor_signs(f.name)))
                 for f in catalog.FACTORS)



def pct(value: float | None) -> str:
    """+12% / −18% with a true minus sign, as a person writes it."""
    if value is None:
        return "–"
    return f"{value * 100:+.0f}%".replace("-", "−")


def change_text(row: dict) -> str:
    """"+12% (95% CI +4% to +20%)", or the change alone when the data is too thin for an interval."""
    interval = f" (95% CI {pct(row['ci_low'])} to {pct(row['ci_high'])})" if row["ci_low"] is not None else ""
    return pct(row["change"]) + interval


def answer(question: str, row: dict | None, good_when_up: bool, parts: list[dict]) -> str:
    """One line that answers a question - yes, no, no detectable change, or can't tell - from
    the factor's change (throughput, instability), then its metrics' changes."""
    if row is None or row["change"] is None:
        return f"{question} Can't tell: no data to compare in one of the periods."
    if row["ci_low"] is None:
        verdict = "can't tell (too little data for an interval)"
    elif not row["beyond_noise"]:
        verdict = "no detectable change"
    else:
        verdict = "yes" if (row["change"] > 0) == good_when_up else "no"
    detail = ", ".join(
        f"{palette.label(p['metric']).lower()} {change_text(p)}" for p in parts if p["change"] is not None)
    return (f"{question} {verdict[0].upper()}{verdict[1:]}: {palette.label(row['metric']).lower()} "
            f"{change_text(row)}" + (f"; {detail}." if detail else "."))


def org_answers(rows: list[dict]) -> list[str]:
    """The org's answer to each question, from the org rows of `compare`."""
    org = {r["metric"]: r for r in rows if r["scope"] == "org"}
    return [answer(question, org.get(factor), up, [org[m] for m in parts if m in org])
            for question, factor, up, parts in questions()]
