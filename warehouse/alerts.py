"""Regression alerts over the warehouse: the weekly series each rule reads, the detector's
verdict on every key, and the alert state (which regressions are open, which messages still
have to go out, which could not be delivered) in the warehouse.

The detector itself (a CUSUM against a frozen baseline) is warehouse/alert_detect.py; this
module builds its inputs from the `metrics` SQL by week (docs/alerts.md, "Detection"):

* deployment frequency of a team or repository: its deployments out of the org's each week (a
  share: holidays and org-wide swings cancel); of the org: this week's deployments out of
  this week's and the same week's a year before, or, with under 78 weeks of history, the
  org's own weekly counts;
* lead time: log of the week's median hours, a team's minus the org's (the org's minus its
  own a year before, when there is a year); weeks with fewer than MIN_CHANGES changes skipped;
* change fail rate: failed deployments out of production deployments (a share);
* recovery time: log of the week's median recovery hours (weeks without a failure skipped).

Org-wide quiet weeks (holidays) are left out of every rule (alert_detect.quiet_mask).
The whole history is judged on every run, so the verdict does not depend on which weeks earlier
runs saw, and a run under a shifted clock gives what the weekly run that day gave.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np

from warehouse.alert_detect import BASELINE_WEEKS, THRESHOLD, Path, detect, quiet_mask
from warehouse.alert_rules import ALERT_METRICS, AlertRule, AlertsConfig
from warehouse.db import Warehouse
from warehouse.metrics import compute_metrics

if TYPE_CHECKING:
    from warehouse.metrics import MetricsConfig

__all__ = ["ALERT_METRICS", "AlertRule", "AlertsConfig", "evaluate", "plan", "apply", "pending"]
WORSEN_STEP = 0.10  # re-notify when the change is 10 points worse than last notified
MIN_CHANGES = 3  # a lead-time week needs this many changes to count
YEAR = 52
HISTORY_WEEKS = 3 * YEAR  # how far back a run reads: enough for a baseline a year ago


def week_label(monday: date) -> str:
    return monday.strftime("%G-W%V")


def last_complete_monday(today: date) -> date:
    """Monday of the last complete week before `today`'s week."""
    return today - timedelta(days=today.weekday() + 7)


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(np.asarray(values, dtype=float) > 0, values, np.nan))


def _year_over_year(x: np.ndarray) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[YEAR:] = x[YEAR:] - x[:-YEAR]
    return out


def series_inputs(rule: AlertRule, series: dict, org: dict, quiet: np.ndarray):
    """(kind, y, n, usable) for the detector: one key's weekly arrays (`deployments`,
    `failed`, `lead`, `changes`, `recovery`), the org's, and the org's quiet weeks."""
    is_org = rule.scope == "org"
    long = len(quiet) >= YEAR + BASELINE_WEEKS
    ok = ~quiet
    if rule.metric == "deployment_frequency":
        y = np.asarray(series["deployments"], dtype=float)
        if not is_org:
            n = np.asarray(org["deployments"], dtype=float)
            return "share", y, n, ok & (n > 0)
        if long:
            n = np.full(len(y), np.nan)
            n[YEAR:] = y[YEAR:] + y[:-YEAR]
            return "share", y, n, ok & (np.nan_to_num(n) > 0) & (np.arange(len(y)) >= YEAR)
        return "count", y, None, ok
    if rule.metric == "change_fail_rate":
        y = np.asarray(series["failed"], dtype=float)
        n = np.asarray(series["deployments"], dtype=float)
        return "share", y, n, ok & (n > 0)
    if rule.metric == "recovery_time":
        x = _log(series["recovery"])
        return "gauss", x, None, ok & np.isfinite(x)
    x = np.where(np.asarray(series["changes"]) >= MIN_CHANGES, _log(series["lead"]), np.nan)
    if not is_org:
        x = x - np.where(np.asarray(org["changes"]) >= MIN_CHANGES, _log(org["lead"]), np.nan)
    elif long:
        x = _year_over_year(x)
    return "gauss", x, None, ok & np.isfinite(x)


# -- detection over the warehouse ------------------------------------------------------------------


@dataclass
class Finding:
    rule: str
    metric: str
    direction: str
    scope: str
    key: str
    path: Path
    since_week: str | None  # the week the excursion (the regression) began
    opened_week: str | None
    baseline_label: str | None
    recent_value: float | None  # since onset: mean per week, a rate, or median hours
    baseline_value: float | None
    min_change: float

    @property
    def status(self) -> str:
        return self.path.status

    @property
    def change(self) -> float | None:
        return self.path.change


def _weekly(wh: Warehouse, cfg, scope: str, mondays: list[date]) -> dict:
    last_sunday = mondays[-1] + timedelta(days=6)
    rows = compute_metrics(wh, cfg, scope, "week", mondays[0], last_sunday)  # type: ignore[arg-type]
    index = {m: i for i, m in enumerate(mondays)}
    out: dict[str, dict[str, np.ndarray]] = {}
    size = len(mondays)
    for row in rows:
        i = index.get(row["period_start"])
        if i is None:
            continue
        series = out.setdefault(row["key"], {
            "deployments": np.zeros(size), "lead": np.full(size, np.nan), "changes": np.zeros(size),
            "failed": np.zeros(size), "recovery": np.full(size, np.nan),
        })
        series["deployments"][i] = row["deployments"]
        series["changes"][i] = row["changes"]
        series["failed"][i] = row["failed_deployments"] or 0
        if row["lead_time_median_hours"] is not None:
            series["lead"][i] = row["lead_time_median_hours"]
        if row["recovery_time_median_hours"] is not None:
            series["recovery"][i] = row["recovery_time_median_hours"]
    return out


def history_mondays(wh: Warehouse, today: date) -> list[date]:
    """The complete weeks a run judges: from the first deployment (at most HISTORY_WEEKS back)
    to the week before `today`'s."""
    last = last_complete_monday(today)
    first = wh.scalar("SELECT min(finished_at) FROM deployments")
    if first is None:
        return []
    first_day = first.date() if hasattr(first, "date") else first
    start = max(first_day - timedelta(days=first_day.weekday()), last - timedelta(weeks=HISTORY_WEEKS - 1))
    weeks = (last - start).days // 7 + 1
    return [start + timedelta(weeks=i) for i in range(max(weeks, 0))]


def evaluate(wh: Warehouse, cfg: MetricsConfig | None, alerts: AlertsConfig, today: date) -> list[Finding]:
    """Every rule on every key of its scope, over the complete weeks before `today`'s week."""
    mondays = history_mondays(wh, today)
    if not mondays:
        return []
    org = _weekly(wh, cfg, "org", mondays).get("org")
    if org is None:
        return []
    quiet = quiet_mask(org["deployments"])
    by_scope: dict[str, dict] = {"org": {"org": org}}
    findings: list[Finding] = []
    for rule in alerts.effective_rules():
        if rule.scope not in by_scope:
            by_scope[rule.scope] = _weekly(wh, cfg, rule.scope, mondays)
        for key, series in sorted(by_scope[rule.scope].items()):
            findings.append(judge_key(rule, key, series, org, quiet, mondays))
    return findings


def judge_key(rule: AlertRule, key: str, series: dict, org: dict, quiet: np.ndarray,
              mondays: list[date]) -> Finding:
    kind, y, n, usable = series_inputs(rule, series, org, quiet)
    threshold = rule.threshold
    if threshold is None and rule.metric == "change_fail_rate":
        # The volume bands were calibrated on deployment shares, where the volume is the team's
        # deployments; a failure share's would be its failures, nearly always the lowest band.
        # Uncalibrated, it takes the highest: the fewest false alarms.
        threshold = max(THRESHOLD["share"])
    path = detect(kind, y, n, usable, rule.ratio, threshold, rule.baseline_weeks)
    if rule.metric == "deployment_frequency" and path.baseline is not None and kind == "share":
        base_rate = float(np.mean(np.asarray(series["deployments"])[path.baseline.start:path.baseline.stop]))
        if base_rate < 1:  # too thin to alarm on: under one deployment a week
            path.status, path.reason, path.change = "skipped", "fewer than one deployment a week", None
    since = opened = label = None
    recent_value = baseline_value = None
    if path.baseline is not None:
        b = path.baseline
        label = f"{week_label(mondays[b.start])}..{week_label(mondays[b.stop - 1])}"
        baseline_value = _shown(rule.metric, series, slice(b.start, b.stop), ~quiet)
        if path.onset is not None and path.onset < len(mondays):
            since = week_label(mondays[path.onset])
            recent_value = _shown(rule.metric, series, slice(path.onset, None), ~quiet)
    if path.opened is not None:
        opened = week_label(mondays[path.opened])
    return Finding(rule.name, rule.metric, str(rule.direction), rule.scope, key, path, since, opened,
                   label, recent_value, baseline_value, float(rule.min_change or 0))


def _shown(metric: str, series: dict, window: slice, usable: np.ndarray) -> float | None:
    """The metric in its own unit over some weeks, for messages: deployments a week, the
    failed share, or the median of weekly median hours."""
    u = usable[window]
    if metric == "deployment_frequency":
        values = np.asarray(series["deployments"], dtype=float)[window][u]
        return float(np.mean(values)) if len(values) else None
    if metric == "change_fail_rate":
        failed = float(np.asarray(series["failed"])[window][u].sum())
        total = float(np.asarray(series["deployments"])[window][u].sum())
        return failed / total if total else None
    name = "lead" if metric == "lead_time" else "recovery"
    values = np.asarray(series[name], dtype=float)[window][u]
    if metric == "lead_time":
        values = np.where(np.asarray(series["changes"])[window][u] >= MIN_CHANGES, values, np.nan)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


# -- state and outbox ------------------------------------------------------------------------------


@dataclass
class Event:
    """A message to send: a regression opened, worsened, or recovered; or the weekly digest."""

    event: Literal["regression", "worsened", "recovered", "digest"]
    rule: str
    metric: str
    direction: str
    scope: str
    key: str
    change: float | None
    since_week: str | None
    baseline: str | None
    recent_value: float | None
    baseline_value: float | None
    evidence: float | None = None  # the CUSUM, in log-likelihood units, against its threshold
    dashboard_url: str | None = None
    digest: dict | None = None  # the digest's table (event "digest" only)

    def as_dict(self) -> dict:
        return asdict(self)


def team_link(dashboard_url: str | None, scope: str, key: str) -> str | None:
    """The dashboard, opened on the team's view for a team's message."""
    if not dashboard_url:
        return None
    if scope != "team":
        return dashboard_url
    from urllib.parse import urlencode

    sep = "&" if "?" in dashboard_url else "?"
    return f"{dashboard_url}{sep}{urlencode({'team': key})}"


@dataclass
class Plan:
    """What a run does: the events to send and the state rows to write."""

    events: list[Event] = field(default_factory=list)
    state: list[dict] = field(default_factory=list)
    open: list[dict] = field(default_factory=list)  # open regressions after this run


STATE_COLUMNS = (
    "rule", "scope", "key", "metric", "direction", "status", "since_week", "baseline_label",
    "baseline_center", "baseline_scale", "baseline_value", "notified_change", "last_change",
    "opened_at", "closed_at", "updated_at", "opened_week", "cusum",
)
OUTBOX_COLUMNS = ("id", "channel", "event", "rule", "key", "message", "attempts", "last_error",
                  "failed_at")


def _has_tables(wh: Warehouse) -> bool:
    return bool(wh.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'alert_state'"
    ))


def load_state(wh: Warehouse) -> dict[tuple[str, str], dict]:
    """Stored state by (rule, key); empty on a database the alerts never ran on."""
    if not _has_tables(wh):
        return {}
    rows = wh.frame(f"SELECT {', '.join(STATE_COLUMNS)} FROM alert_state").to_dicts()
    return {(r["rule"], r["key"]): r for r in rows}


def plan(findings: list[Finding], state: dict[tuple[str, str], dict], now: datetime,
         dashboard_url: str | None = None) -> Plan:
    """Compare findings with the stored state: open, worsen, recover (pure; nothing written)."""
    out = Plan()
    for f in findings:
        old = state.get((f.rule, f.key))
        was_open = old is not None and old["status"] == "open"

        def event(kind: str, since: str | None, baseline: str | None, baseline_value, f=f) -> Event:
            return Event(kind, f.rule, f.metric, f.direction, f.scope, f.key, f.change, since, baseline,
                         f.recent_value, baseline_value, f.path.s, team_link(dashboard_url, f.scope, f.key))

        if f.status == "skipped":
            if was_open:
                out.open.append(old)
            continue
        base = f.path.baseline
        if f.status == "open" and not was_open:
            row = {
                "rule": f.rule, "scope": f.scope, "key": f.key, "metric": f.metric,
                "direction": f.direction, "status": "open", "since_week": f.since_week,
                "baseline_label": f.baseline_label, "baseline_center": base.level if base else None,
                "baseline_scale": base.spread if base else None, "baseline_value": f.baseline_value,
                "notified_change": f.change, "last_change": f.change, "opened_at": now,
                "closed_at": None, "updated_at": now, "opened_week": f.opened_week, "cusum": f.path.s,
            }
            out.events.append(event("regression", f.since_week, f.baseline_label, f.baseline_value))
            out.state.append(row)
            out.open.append(row)
        elif f.status == "open":
            row = {**old, "last_change": f.change, "updated_at": now, "cusum": f.path.s}
            if abs(f.change or 0) >= abs(old["notified_change"] or 0) + WORSEN_STEP:
                row["notified_change"] = f.change
                out.events.append(event("worsened", old["since_week"], old["baseline_label"],
                                        old["baseline_value"]))
            out.state.append(row)
            out.open.append(row)
        elif was_open:
            row = {**old, "status": "closed", "last_change": f.change, "closed_at": now, "updated_at": now,
                   "cusum": f.path.s}
            out.events.append(event("recovered", old["since_week"], old["baseline_label"],
                                    old["baseline_value"]))
            out.state.append(row)
    return out


def apply(wh: Warehouse, events: list[tuple[Event, list[str]]], state: list[dict], now: datetime) -> None:
    """Write the new state and queue one outbox row per event and channel, in one transaction.
    Not run again when it loses a race: the events were planned from the state read before it,
    which the winner (another `alert` run) has changed, so a retry would queue its messages a
    second time; the commit's error ends this run and the next one plans from what is stored."""
    with wh.transaction():
        for row in state:
            wh.con.execute("DELETE FROM alert_state WHERE rule = ? AND key = ?", [row["rule"], row["key"]])
            wh.con.execute(
                f"INSERT INTO alert_state ({', '.join(STATE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(STATE_COLUMNS))})",
                [row[c] for c in STATE_COLUMNS],
            )
        for ev, channels in events:
            for channel in channels:
                wh.con.execute(
                    "INSERT INTO alert_outbox (id, created_at, channel, event, rule, key, message) "
                    "SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ? FROM alert_outbox",
                    [now, channel, ev.event, ev.rule, ev.key, json.dumps(ev.as_dict())],
                )


def pending(wh: Warehouse) -> list[dict]:
    """Outbox rows still to send, oldest first (earlier transient failures included; rows that
    failed for good have left the queue)."""
    if not _has_tables(wh):
        return []
    rows = wh.frame(
        f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM alert_outbox "
        "WHERE delivered_at IS NULL AND failed_at IS NULL ORDER BY id"
    ).to_dicts()
    for row in rows:
        row["message"] = json.loads(row["message"])
    return rows


def mark_delivered(wh: Warehouse, outbox_id: int, attempts: int, now: datetime) -> None:
    wh.con.execute(
        "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + ?, last_error = NULL WHERE id = ?",
        [now, attempts, outbox_id],
    )


def mark_failed(wh: Warehouse, outbox_id: int, attempts: int, error: str, now: datetime,
                permanent: bool) -> None:
    """A failed post: kept for the next run, or, for an answer that will not change (a revoked
    webhook, an archived channel), taken out of the queue with its error recorded."""
    wh.con.execute(
        "UPDATE alert_outbox SET attempts = attempts + ?, last_error = ?, failed_at = ? WHERE id = ?",
        [attempts, error, now if permanent else None, outbox_id],
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
