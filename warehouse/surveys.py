"""Perceived against measured: developer-experience survey scores beside measured throughput.

DORA 2024 found the two moving apart (people felt 8-10% more productive while throughput fell
8%). For each team (and the org) with survey answers in both compared periods, the change of
its mean score (weighted by respondents) is put beside the throughput change of the same
`compare` rows, and the pair is called apart when they move in opposite directions by more
than 5% each.
"""

from __future__ import annotations

from warehouse.db import Warehouse

APART = 0.05


def perceived_against_measured(wh: Warehouse, rows: list[dict]) -> list[dict]:
    """One dict per (key, question) with scores in the compare rows' two periods."""
    if not rows or not wh.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'surveys'"
    ):
        return []
    from warehouse.compare import parse_period

    a, b = parse_period(rows[0]["a"]), parse_period(rows[0]["b"])
    throughput = {r["key"]: r["change"] for r in rows if r["metric"] == "throughput"}
    scored = wh.frame(
        """
        WITH answers AS (
            -- The first day of the answer's period: a quarter, a month, or the day itself.
            SELECT team, question, score, coalesce(respondents, 1) AS w, CASE
                WHEN period LIKE '%-Q%' THEN make_date(CAST(left(period, 4) AS INTEGER),
                                                     3 * CAST(right(period, 1) AS INTEGER) - 2, 1)
                WHEN length(period) = 7 THEN CAST(period || '-01' AS DATE)
                ELSE CAST(period AS DATE) END AS day
            FROM surveys
        ),
        placed AS (
            SELECT *, CASE
                WHEN day >= ? AND day < ? THEN 'a'
                WHEN day >= ? AND day < ? THEN 'b' END AS side
            FROM answers
        ),
        by_team AS (
            SELECT team AS key, question, side, sum(score * w) / sum(w) AS score, sum(w) AS respondents
            FROM placed WHERE side IS NOT NULL GROUP BY ALL
        ),
        org AS (
            SELECT 'org' AS key, question, side, sum(score * w) / sum(w), sum(w)
            FROM placed WHERE side IS NOT NULL GROUP BY ALL
        )
        SELECT * FROM by_team UNION ALL SELECT * FROM org
        """,
        [a.start, a.end, b.start, b.end],
    )
    out = []
    grouped: dict[tuple[str, str], dict] = {}
    for row in scored.iter_rows(named=True):
        entry = grouped.setdefault(
            (row["key"], row["question"]), {"key": row["key"], "question": row["question"]}
        )
        entry[f"score_{row['side']}"] = row["score"]
        entry[f"respondents_{row['side']}"] = row["respondents"]
    for (key, _), entry in sorted(grouped.items(), key=lambda kv: (kv[0][0] != "org", kv[0])):
        score_a, score_b = entry.get("score_a"), entry.get("score_b")
        perceived = score_a / score_b - 1 if score_a is not None and score_b else None
        measured = throughput.get(key)
        verdict = "–"
        if perceived is not None and measured is not None:
            if perceived > APART and measured < -APART:
                verdict = "felt better, measured worse"
            elif perceived < -APART and measured > APART:
                verdict = "felt worse, measured better"
            else:
                verdict = "agree"
        out.append({**entry, "score_a": score_a, "score_b": score_b, "perceived_change": perceived,
                    "throughput_change": measured, "verdict": verdict})
    return out
