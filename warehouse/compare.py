"""Period against period (`compare 2026-Q3 2026-Q2`): every DORA metric and the two factors, for
the org and every team or repository, with a 95% interval for the change.

The values are the metrics' own: `compute_metrics` runs once per period over exactly that
period, so `value_a` of deployment_frequency *is* `metrics`' deployments_per_week, and the
levels are its dora_level. The intervals resample the rows those same SQL views hold
(`scoped_deployments`, `scoped_changes`), so the bootstrap sees what the metric counted:

* deployment frequency and the two rates (change fail rate, rework rate): a bootstrap over
  weeks. Each period is cut into 7-day blocks from its first day; a draw resamples blocks and
  recomputes the rate from the summed counts (deployments per covered day, failed / production
  deployments), never an average of weekly percentages. Week-to-week noise is what it measures.
* lead time and recovery time (medians): a bootstrap over changes (over failed deployments
  with a recovery, for recovery time), recomputing the median.

The change is relative, B to A (value_a / value_b - 1); its interval is the percentile interval
of the draws' ratio, the two periods resampled independently. For the org, `beyond_noise` is
true when that interval excludes zero. Team (or repository) rows are many tests at once: each
gets a bootstrap p-value (twice the smaller share of draws on either side of no change), and
Benjamini-Hochberg over the rows of one metric (`p_adjusted`) decides `beyond_noise`, so that
among 150 rows about 5% of the flags, not 5% of the rows, are noise.

A factor (throughput, instability) is the geometric mean of its metrics'
ratios with signs aligned (throughput: frequency up, lead and recovery time down; instability:
fail and rework rate up), so its change reads like a metric's; its draws combine the metrics'
draws one by one.

A period still running (or that the data covers only in part) is compared on its covered days
and says so: `complete_a` / `complete_b` are false and `covered_days_*` count the days used.
"""

from __future__ import annotations

import calendar
import csv
import io
import math
import re
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from warehouse import catalog
from warehouse.db import Warehouse
from warehouse.levels import metric_level
from warehouse.metrics import compute_metrics

if TYPE_CHECKING:
    from warehouse.config import MetricsConfig

# The JSON keys of `compare --format json` (DESIGN.md's contract first, then extras).
COMPARE_KEYS = (
    "scope", "key", "metric", "a", "b", "value_a", "value_b", "change", "ci_low", "ci_high",
    "beyond_noise", "n_a", "n_b", "level_a", "level_b", "complete_a", "complete_b",
    "level_move", "test", "unit", "covered_days_a", "covered_days_b", "weeks_a", "weeks_b",
    "p_value", "p_adjusted", "metric_level_a", "metric_level_b",
)
# What is compared, and how, is the catalog's (warehouse/catalog.py): its metrics, their units,
# the columns holding value and sample size, the factors' signs and each interval's resampling.
# The names below are the built-in catalog's; compare() reads the catalog when it runs, so a
# metric added to it is compared too.
METRICS = catalog.METRICS
FACTORS = {f.name: catalog.factor_signs(f.name) for f in catalog.FACTORS}
UNITS = catalog.UNITS
VALUE_COLUMN = catalog.VALUE_COLUMN
FACTOR_TEST = "bootstrap (its metrics' draws)"
NO_INTERVAL = "none (no resampling declared)"
LEVEL_RANK = {"low": 0, "medium": 1, "high": 2, "elite": 3}
DRAWS = 2000
MIN_WEEKS = 3  # fewer 7-day blocks than this: no interval (a bootstrap over 1-2 weeks is noise)
MIN_EVENTS = 5  # fewer changes / recovered failures than this: no interval for a median
MIN_VALID = 0.95  # share of draws with a finite ratio needed for an interval (rates at 0)
SEED = 20240  # the intervals are a pure function of the data


ALPHA = 0.05  # the false discovery rate of the team flags


class PeriodError(ValueError):
    """A period that is neither YYYY-Qn nor YYYY-MM, or a pair that cannot be compared."""


@dataclass(frozen=True)
class Period:
    label: str
    kind: str  # "quarter" or "month": the metrics period it is
    start: date
    end: date  # the day after the last

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def parse_period(text: str) -> Period:
    """`2026-Q3` (a quarter) or `2026-09` (a month)."""
    quarter = re.fullmatch(r"(\d{4})-Q([1-4])", text.strip(), flags=re.I)
    if quarter:
        year, q = int(quarter.group(1)), int(quarter.group(2))
        start = date(year, 3 * q - 2, 1)
        end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return Period(f"{year}-Q{q}", "quarter", start, end)
    month = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if month and 1 <= int(month.group(2)) <= 12:
        year, m = int(month.group(1)), int(month.group(2))
        days = calendar.monthrange(year, m)[1]
        return Period(f"{year}-{m:02d}", "month", date(year, m, 1), date(year, m, days) + timedelta(days=1))
    raise PeriodError(f"{text!r}: expected a quarter (2026-Q3) or a month (2026-09)")


def data_span(wh: Warehouse) -> tuple[date | None, date | None]:
    """First and last day with any recorded event (deployment finish, commit, incident)."""
    row = wh.con.execute(
        "SELECT min(first)::DATE, max(last)::DATE FROM ("
        " SELECT min(finished_at) AS first, max(finished_at) AS last FROM deployments"
        " UNION ALL SELECT min(committed_at), max(committed_at) FROM changes"
        " UNION ALL SELECT min(opened_at), max(opened_at) FROM incidents)"
    ).fetchone()
    return row[0], row[1]


def coverage(period: Period, span: tuple[date | None, date | None], now: datetime) -> tuple[bool, float]:
    """(complete, covered days): complete when the period is over and the data runs from its
    first day to its last; covered days are the days of the period up to now."""
    first, last = span
    until = min(datetime.combine(period.end, datetime.min.time(), tzinfo=UTC), now)
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    covered = max((until - start).total_seconds() / 86400.0, 0.0)
    over = period.end <= now.date()
    spans = first is not None and last is not None and first <= period.start and last >= period.last_day
    return over and spans, covered


@dataclass
class _Side:
    """One period's metrics rows and the event rows behind them, per key."""

    period: Period
    rows: dict[str, dict]
    deployments: pl.DataFrame  # key, block, and one column per metric resampled over deployments
    changes: pl.DataFrame  # key, and one column per metric resampled over changes
    blocks: np.ndarray  # days covered by each 7-day block
    complete: bool
    covered_days: float
    # The two frames split by key once (a large org has hundreds of keys: one filter of the
    # whole frame per key and metric cost seconds), rows in the same order.
    by_key: dict[str, dict[str, pl.DataFrame]] = field(default_factory=dict)

    def of(self, frame: str, key: str) -> pl.DataFrame:
        """The `frame` ("deployments" or "changes") rows of one key."""
        whole = getattr(self, frame)
        if frame not in self.by_key:
            self.by_key[frame] = {k[0]: part for k, part in
                                  whole.partition_by("key", as_dict=True, maintain_order=True).items()}
        found = self.by_key[frame].get(key)
        return whole.clear() if found is None else found


def _side(
    wh: Warehouse, cfg: MetricsConfig | None, by: str, period: Period, span, now, finer: _Side | None = None
) -> _Side:
    """`finer`: the same period's side at the team or repository scope, whose event rows are the
    org's too (the scoped views hold the same rows whatever the scope, keyed differently):
    read once, relabelled 'org', since the draws depend on a key's rows but not their order."""
    rows = compute_metrics(wh, cfg, by, period.kind, period.start, period.last_day)  # type: ignore[arg-type]
    if finer is not None:
        org = pl.lit("org").alias("key")
        return replace(finer, rows={r["key"]: r for r in rows}, by_key={},
                       deployments=finer.deployments.with_columns(org),
                       changes=finer.changes.with_columns(org))
    # The views now hold exactly this period's rows (compute_metrics narrowed them). In a fixed
    # order (ORDER BY ALL: equal rows are interchangeable), so that the seeded bootstrap draws
    # the same intervals whatever order the storage returns rows in (a file, a lake, threads).
    # Each metric's resampled column (its catalog Interval), the counts before the durations.
    intervals = [(m.name, m.interval) for m in catalog.metrics() if m.interval is not None]
    counted = [f"{i.column} AS {_column(n)}" for n, i in intervals if i.kind != "median"]
    durations = [f"{i.column} AS {_column(n)}" for n, i in intervals
                 if i.kind == "median" and i.over == "deployments"]
    deployments = wh.frame(
        # Seconds since the period's start as a difference of epochs: the same number as the
        # epoch of the interval between them, which costs ten times more to build per row.
        "SELECT key, floor((epoch(finished_at) - epoch(getvariable('since_ts'))) / 604800)::INTEGER "
        "AS block, "
        + ", ".join([*counted, *durations]) + " FROM scoped_deployments ORDER BY ALL"
    )
    of_changes = [f"{i.column} AS {_column(n)}" for n, i in intervals if i.over == "changes"]
    changes = wh.frame(f"SELECT {', '.join(['key', *of_changes])} FROM scoped_changes ORDER BY ALL")
    if not rows:  # a period not begun: the views were left unnarrowed, their rows are not its own
        deployments, changes = deployments.clear(), changes.clear()
    complete, covered = coverage(period, span, now)
    full, rest = divmod(covered, 7.0)
    blocks = np.array([7.0] * int(full) + ([rest] if rest > 1e-9 else []))
    return _Side(period, {r["key"]: r for r in rows}, deployments, changes, blocks, complete, covered)


def _column(metric: str) -> str:
    """The frame column holding a metric's resampled values."""
    return f"of_{metric}"


def _block_counts(side: _Side, key: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per 7-day block of the period: the metric's counted events and production deployments
    (np.bincount: a quarter of a large org has hundreds of thousands of rows)."""
    n = len(side.blocks)
    d = side.of("deployments", key)
    block = d["block"].to_numpy()
    inside = (block >= 0) & (block < n)
    block = block[inside]
    production = np.bincount(block, minlength=n)[:n].astype(float)
    weights = d[_column(metric)].cast(pl.Float64).fill_null(0).to_numpy()[inside]
    events = np.bincount(block, weights=weights, minlength=n)[:n]
    return events, production


def _bootstrap_medians(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """DRAWS bootstrap medians of `values`, drawn from their exact distribution without
    building the resamples (DRAWS x n numbers: 10 GB for a quarter of 600,000 changes).

    A resample is F^-1(U_1..U_n) with F the values' empirical distribution and U uniform; F^-1
    is monotone, so the resample's k-th smallest value is F^-1(U_(k)), and U_(k) ~ Beta(k,
    n - k + 1). The next one, U_(k+1), is U_(k) + (1 - U_(k)) B with B ~ Beta(1, n - k). The
    median is F^-1 at the middle order statistic (n odd) or the mean of the two middle ones
    (n even), as numpy's median of a resample is."""
    ordered = np.sort(values)
    n = len(ordered)
    k = (n + 1) // 2
    low = rng.beta(k, n - k + 1, size=DRAWS)

    def inverse(u: np.ndarray) -> np.ndarray:
        return ordered[np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)]

    if n % 2:
        return inverse(low)
    high = low + (1 - low) * rng.beta(1, n - k, size=DRAWS)
    return (inverse(low) + inverse(high)) / 2


def _median_values(metric: catalog.Metric, side: _Side, key: str) -> np.ndarray:
    frame = side.of("changes" if metric.interval.over == "changes" else "deployments", key)
    return frame[_column(metric.name)].drop_nulls().to_numpy()


def _draws(metric: catalog.Metric, side: _Side, key: str, rng: np.random.Generator) -> np.ndarray | None:
    """Bootstrap draws of the metric's value in one period, as its catalog Interval says, or
    None when data is too thin (or the catalog declares no resampling)."""
    interval = metric.interval
    if interval is None:
        return None
    if interval.kind == "median":
        values = _median_values(metric, side, key)
        if len(values) < MIN_EVENTS:
            return None
        return _bootstrap_medians(values, rng)
    n = len(side.blocks)
    if n < MIN_WEEKS:
        return None
    events, production = _block_counts(side, key, metric.name)
    picks = rng.integers(0, n, size=(DRAWS, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        if interval.kind == "per_week":
            return events[picks].sum(axis=1) / (side.blocks[picks].sum(axis=1) / 7.0)
        return events[picks].sum(axis=1) / production[picks].sum(axis=1)


def _log_ratio(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Draws of log(A / B); None when too few draws have a finite, positive ratio."""
    if a is None or b is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(a) - np.log(b)
    if np.isfinite(ratio).mean() < MIN_VALID:
        return None
    return ratio


def _interval(log_draws: np.ndarray | None) -> tuple[float | None, float | None]:
    if log_draws is None:
        return None, None
    finite = log_draws[np.isfinite(log_draws)]
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(math.expm1(low)), float(math.expm1(high))


def _n(metric: catalog.Metric, side: _Side, key: str) -> int:
    row = side.rows.get(key)
    if row is None:
        return 0
    if metric.n_column is None:  # the median's sample (recovery time: the recovered failures)
        return len(_median_values(metric, side, key)) if metric.interval is not None else 0
    return int(row[metric.n_column] or 0)


def _move(level_a: str | None, level_b: str | None) -> str | None:
    if level_a is None or level_b is None:
        return None
    diff = LEVEL_RANK[level_a] - LEVEL_RANK[level_b]
    return "up" if diff > 0 else "down" if diff < 0 else "same"


def _change(value_a: float | None, value_b: float | None) -> float | None:
    if value_a is None or value_b is None or value_b == 0:
        return None
    return value_a / value_b - 1


def compare(
    wh: Warehouse,
    cfg: MetricsConfig | None,
    a: str | Period,
    b: str | Period,
    by: str = "team",
    now: datetime | None = None,
    require_both: bool = True,
) -> list[dict]:
    """One dict per (scope, key, metric) with COMPARE_KEYS; the org rows come first, then one
    block per team (by="team") or repository (by="repo"). A period without production
    deployments is refused; with `require_both=False` only the looked-at one must have them
    (a report of an org's first quarter shows the one before as empty)."""
    pa = a if isinstance(a, Period) else parse_period(a)
    pb = b if isinstance(b, Period) else parse_period(b)
    now = now or datetime.now(UTC)
    check_pair(pa, pb)
    span = data_span(wh)
    # The finer scope first: its event rows serve the org's side too.
    sides: dict[str, tuple[_Side, _Side]] = {}
    if by != "org":
        sides[by] = (_side(wh, cfg, by, pa, span, now), _side(wh, cfg, by, pb, span, now))
    finer = sides.get(by, (None, None))
    sides["org"] = (_side(wh, cfg, "org", pa, span, now, finer[0]),
                    _side(wh, cfg, "org", pb, span, now, finer[1]))
    out: list[dict] = []
    for scope in ["org"] if by == "org" else ["org", by]:
        side_a, side_b = sides[scope]
        if scope == "org":
            for side in (side_a, side_b) if require_both else (side_a,):
                if not side.rows:
                    raise PeriodError(_no_data(side.period, span, now))
        rows = [r for key in sorted(side_a.rows.keys() | side_b.rows.keys())
                for r in _key_rows(scope, key, side_a, side_b)]
        if scope != "org":
            _adjust(rows)
        out.extend(rows)
    return out


def check_pair(a: Period, b: Period) -> None:
    """Two periods a comparison can be read from: separate, and the later one looked at."""
    if a.start < b.end and b.start < a.end:
        raise PeriodError(f"{a.label} and {b.label} overlap: compare two separate periods")
    if a.start < b.start:
        raise PeriodError(
            f"{a.label} is before {b.label}: the first period is the one looked at, the second the one "
            f"it is compared with (compare {b.label} {a.label})"
        )


def _no_data(period: Period, span: tuple[date | None, date | None], now: datetime) -> str:
    if period.start > now.date():
        return f"{period.label} has not begun (today is {now.date().isoformat()})"
    first, last = span
    if first is None:
        return f"{period.label}: the database holds no data"
    return (f"{period.label}: no production deployments in it (the data runs from {first.isoformat()} "
            f"to {last.isoformat()})")


def _p_value(log_draws: np.ndarray | None) -> float | None:
    """Two-sided bootstrap p-value of no change: twice the smaller share of draws on either side
    of zero, with the +1 that keeps it above zero (Davison & Hinkley 1997, eq. 4.11)."""
    if log_draws is None:
        return None
    finite = log_draws[np.isfinite(log_draws)]
    below, above = int((finite <= 0).sum()), int((finite >= 0).sum())
    return float(min(1.0, 2 * (min(below, above) + 1) / (len(finite) + 1)))


def _adjust(rows: list[dict]) -> None:
    """Benjamini-Hochberg over the team (or repository) rows of each metric: `beyond_noise` is
    the adjusted p-value under ALPHA (and the interval, at 95%, still excluding zero)."""
    from statsmodels.stats.multitest import multipletests

    for metric in (*catalog.names(), *(f.name for f in catalog.FACTORS)):
        family = [r for r in rows if r["metric"] == metric and r["p_value"] is not None]
        if not family:
            continue
        adjusted = multipletests([r["p_value"] for r in family], alpha=ALPHA, method="fdr_bh")[1]
        for row, p in zip(family, adjusted, strict=True):
            row["p_adjusted"] = float(p)
            row["beyond_noise"] = bool(row["beyond_noise"] and p < ALPHA)


def _complete(side: _Side, row: dict) -> bool:
    """The metrics row's own `complete` (coverage per key) when it has one, else this module's
    (the period over, and the org's data spanning it)."""
    return bool(row["complete"]) if row.get("complete") is not None else side.complete


def _covered(side: _Side, row: dict) -> float:
    days = row.get("period_days") if row.get("complete") is not None else None
    return round(float(days if days is not None else side.covered_days), 3)


def _key_rows(scope: str, key: str, side_a: _Side, side_b: _Side) -> list[dict]:
    row_a, row_b = side_a.rows.get(key, {}), side_b.rows.get(key, {})
    level_a, level_b = row_a.get("dora_level"), row_b.get("dora_level")
    # One generator per key and period pair: the same data gives the same interval.
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    common = {
        "scope": scope, "key": key, "a": side_a.period.label, "b": side_b.period.label,
        "complete_a": _complete(side_a, row_a), "complete_b": _complete(side_b, row_b),
        "covered_days_a": _covered(side_a, row_a), "covered_days_b": _covered(side_b, row_b),
        "weeks_a": len(side_a.blocks), "weeks_b": len(side_b.blocks),
    }
    rows, log_draws = [], {}
    for metric in catalog.metrics():
        value_a, value_b = row_a.get(metric.value_column), row_b.get(metric.value_column)
        ratio = _log_ratio(_draws(metric, side_a, key, rng), _draws(metric, side_b, key, rng))
        change = _change(value_a, value_b)
        if change is None:
            ratio = None
        log_draws[metric.name] = ratio
        test = metric.interval.test if metric.interval is not None else NO_INTERVAL
        rows.append(_row(common, metric.name, test, value_a, value_b, change, ratio,
                         _n(metric, side_a, key), _n(metric, side_b, key), level_a, level_b))
    by_metric = {r["metric"]: r for r in rows}
    for f in catalog.FACTORS:
        factor, signs = f.name, catalog.factor_signs(f.name)
        parts = [m for m in signs if by_metric[m]["change"] is not None]
        change, ratio = None, None
        # A metric that fell to zero (no failures left) has no log ratio: the geometric mean
        # is then no number, and the factor says so rather than leaving the metric out.
        if parts and all(by_metric[m]["change"] > -1 for m in parts):
            logs = [signs[m] * math.log1p(by_metric[m]["change"]) for m in parts]
            change = math.expm1(sum(logs) / len(parts))
            if all(log_draws[m] is not None for m in parts):
                with np.errstate(invalid="ignore"):  # draws at +inf and -inf: no ratio, dropped later
                    ratio = sum(signs[m] * log_draws[m] for m in parts) / len(parts)
        n_a = min((by_metric[m]["n_a"] for m in signs), default=0)
        n_b = min((by_metric[m]["n_b"] for m in signs), default=0)
        rows.append(_row(common, factor, FACTOR_TEST, None, None, change, ratio, n_a, n_b, level_a, level_b))
    return rows


def _row(common, metric, test, value_a, value_b, change, log_draws, n_a, n_b, level_a, level_b) -> dict:
    low, high = _interval(log_draws)
    p = _p_value(log_draws)
    return {
        **common, "metric": metric, "value_a": value_a, "value_b": value_b, "change": change,
        "ci_low": low, "ci_high": high,
        "beyond_noise": bool(low is not None and (low > 0 or high < 0)),
        "n_a": n_a, "n_b": n_b, "level_a": level_a, "level_b": level_b,
        "level_move": _move(level_a, level_b), "test": test, "unit": catalog.units()[metric],
        "p_value": p, "p_adjusted": p,  # one test (the org's); team rows are adjusted in _adjust
        # The metric's own level beside the period's cluster (level_a / level_b).
        "metric_level_a": metric_level(metric, value_a), "metric_level_b": metric_level(metric, value_b),
    }


def rows_csv(rows: list[dict]) -> str:
    """`compare --format csv`: COMPARE_KEYS as the header, empty cells for missing values."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COMPARE_KEYS)
    for row in rows:
        writer.writerow([
            "" if row.get(k) is None else row[k].isoformat() if isinstance(row[k], date) else row[k]
            for k in COMPARE_KEYS
        ])
    return out.getvalue()


def ordered(row: dict) -> dict:
    """The row with COMPARE_KEYS first, in order."""
    return {**{k: row.get(k) for k in COMPARE_KEYS}, **row}


# -- what a report puts beside the numbers ---------------------------------------------------------


def org_size(wh: Warehouse, period: Period, now: datetime | None = None) -> dict:
    """Active authors (committed a change) and reviewers (reviewed a pull request) in the period,
    and the number of teams owning repositories: whether a platform pays off depends on size."""
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    end = min(datetime.combine(period.end, datetime.min.time(), tzinfo=UTC), now or datetime.now(UTC))
    authors = wh.scalar(
        "SELECT count(DISTINCT author) FROM changes WHERE committed_at >= ? AND committed_at < ?",
        [start, end])
    reviewers = 0
    if wh.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'reviews'"):
        reviewers = wh.scalar(
            "SELECT count(DISTINCT reviewer) FROM reviews WHERE submitted_at >= ? AND submitted_at < ?",
            [start, end])
    people = wh.scalar(
        "SELECT count(DISTINCT who) FROM ("
        " SELECT author AS who FROM changes"
        " WHERE committed_at >= ? AND committed_at < ? AND author IS NOT NULL"
        " UNION SELECT reviewer FROM reviews WHERE submitted_at >= ? AND submitted_at < ?)",
        [start, end, start, end]) if reviewers else authors
    teams = wh.scalar("SELECT count(DISTINCT team) FROM teams")
    return {"authors": authors or 0, "reviewers": reviewers or 0, "people": people or 0, "teams": teams or 0}


def caveats(wh: Warehouse, period: Period, now: datetime | None = None) -> list[str]:
    """Data-health notes that qualify the period's numbers, in plain sentences."""
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    end = min(datetime.combine(period.end, datetime.min.time(), tzinfo=UTC), now or datetime.now(UTC))
    notes = []
    unattributed, total = wh.con.execute(
        "SELECT count(*) FILTER (WHERE deployment_id IS NULL), count(*) FROM incidents "
        "WHERE opened_at >= ? AND opened_at < ?", [start, end]).fetchone()
    if unattributed:
        notes.append(f"{unattributed} of {total} incidents opened in {period.label} are attributed to no "
                     "deployment: they count in no change fail rate.")
    silent = wh.con.execute(
        "SELECT list(DISTINCT repo ORDER BY repo) FROM changes c "
        "WHERE committed_at >= ? AND committed_at < ? "
        "AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.repo = c.repo AND d.finished_at >= ? "
        "AND d.finished_at < ?)", [start, end, start, end]).fetchone()[0] or []
    if silent:
        shown = ", ".join(silent[:5]) + (f" and {len(silent) - 5} more" if len(silent) > 5 else "")
        notes.append(f"{len(silent)} repositories have commits in {period.label} but no deployment "
                     f"(not synced, or deployed outside what counts): {shown}.")
    unassigned = wh.scalar(
        "SELECT count(*) FROM deployments d LEFT JOIN teams t USING (repo) WHERE d.team IS NULL "
        "AND t.team IS NULL AND d.finished_at >= ? AND d.finished_at < ?", [start, end])
    if unassigned:
        notes.append(f"{unassigned} deployments in {period.label} belong to no known team (they count for "
                     "the org only).")
    return notes
