"""Regression alerts on weekly series: the rules' config model, the detection, and the alert
state (which regressions are open, which messages still have to go out) in the warehouse.

Detection (docs/alerts.md): for each rule and key, the last `recent_weeks` complete weeks are
compared with the `baseline_weeks` before them on a log scale:

* deployment frequency: x_w = log(deployments + 0.5); lead time: x_w = log(weekly median hours).
* A team (or repository) is read *against the rest of the org*: x_w minus the same log of the
  rest of the org's deployments that week (of the org's median lead time). A holiday week, when
  every team deploys less, moves both and cancels out; a team that alone deploys less does not.
* Weeks when the whole org is quiet (fewer than half its baseline median deployments) are left
  out of every rule, unless most of the recent window is quiet: a dip that lasts is no holiday,
  and the org rule then sees it.
* Weeks with too little data (a lead-time week with fewer than 3 changes) are skipped; a key
  with too few usable weeks (or under one deployment a week in its baseline) is skipped, never
  alarmed on.
* The baseline is its median and robust scale (1.4826 x MAD), the scale floored at the Poisson
  noise of the counts. The recent mean r gives the change exp(r - median) - 1 and
  z = (r - median) / (scale * sqrt(1/k + (pi/2)/n)). A regression needs both: the change at
  least `min_change` in the rule's direction *and* |z| >= Z_THRESHOLD in that direction.
* While a regression is open its baseline is kept (it is not absorbed as the window slides); it
  closes when the change is back within half of min_change or z within 1 (hysteresis, so it
  does not flap), and notifies again only when the change worsens by WORSEN_STEP more.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np

from warehouse.alert_rules import ALERT_METRICS, AlertRule, AlertsConfig
from warehouse.db import Warehouse
from warehouse.metrics import compute_metrics

if TYPE_CHECKING:
    from warehouse.metrics import MetricsConfig

__all__ = ["ALERT_METRICS", "AlertRule", "AlertsConfig", "evaluate", "plan", "apply", "pending"]
Z_THRESHOLD = 3.0  # one-sided; set by bench/alerts.py for <= 1 false alarm per 5 team-years
CLOSE_Z = 1.0
WORSEN_STEP = 0.10  # re-notify when the change is 10 points worse than last notified
QUIET_SHARE = 0.5  # an org week under half the baseline median is a quiet (holiday) week
MIN_CHANGES = 3  # a lead-time week needs this many changes to count
MIN_WEEKLY_DEPLOYMENTS = 1.0  # a frequency baseline below this is too thin to alarm on
MEDIAN_EFFICIENCY = math.pi / 2  # variance of a median relative to a mean (normal data)


# -- detection on arrays (shared with bench/alerts.py) --------------------------------------------


@dataclass
class Judgement:
    status: Literal["regressed", "ok", "skipped"]
    reason: str = ""
    change: float | None = None
    z: float | None = None
    center: float | None = None
    scale: float | None = None
    recent_weeks_used: int = 0
    baseline_weeks_used: int = 0


def log_values(metric: str, values: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """The detection scale: log(deployments + 0.5), or log(median hours) where a week has at
    least MIN_CHANGES changes (NaN, i.e. skipped, otherwise)."""
    values = np.asarray(values, dtype=float)
    if metric == "deployment_frequency":
        return np.log(values + 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.where(values > 0, values, np.nan))
    if counts is not None:
        out = np.where(np.asarray(counts) >= MIN_CHANGES, out, np.nan)
    return out


def quiet_weeks(org_deployments: np.ndarray, recent_weeks: int) -> np.ndarray:
    """Org-wide quiet weeks (holidays), to leave out of every rule; none when most of the recent
    window is quiet (a sustained dip is a regression, not a holiday)."""
    counts = np.asarray(org_deployments, dtype=float)
    baseline = counts[:-recent_weeks]
    if len(baseline) == 0:
        return np.zeros(len(counts), dtype=bool)
    quiet = counts < QUIET_SHARE * np.median(baseline)
    if quiet[-recent_weeks:].sum() * 2 > recent_weeks:
        quiet[-recent_weeks:] = False
    return quiet


def judge(
    x: np.ndarray,
    recent_weeks: int,
    min_change: float,
    direction: str,
    noise_floor: float = 0.0,
    frozen: tuple[float, float] | None = None,
    is_open: bool = False,
    seasonal: float | None = None,
) -> Judgement:
    """x: the detection series (NaN = skipped week), baseline then recent weeks, oldest first.
    seasonal: last year's shift from the same baseline weeks to the same recent weeks, expected
    again this year (the org's summer lull); its own noise doubles the variance."""
    base, recent = x[:-recent_weeks], x[-recent_weeks:]
    base, recent = base[np.isfinite(base)], recent[np.isfinite(recent)]
    need_recent = math.ceil(recent_weeks / 2)
    if len(recent) < need_recent:
        return Judgement("skipped", f"{len(recent)} of {recent_weeks} recent weeks have enough data")
    if frozen is not None:
        center, scale = frozen
        n_base = len(x) - recent_weeks
    else:
        need_base = max(4, math.ceil(len(x[:-recent_weeks]) / 2))
        if len(base) < need_base:
            return Judgement("skipped", f"{len(base)} baseline weeks have enough data (needs {need_base})")
        center = float(np.median(base))
        # The robust scale alone, from 12 weeks, is too often too small (false alarms); the
        # plain SD is as large whenever a week is unusual. Both are floored at the counting noise.
        mad = 1.4826 * float(np.median(np.abs(base - center)))
        scale = max(mad, float(np.std(base, ddof=1)), noise_floor, 1e-3)
        n_base = len(base)
    r = float(np.mean(recent)) - (seasonal or 0.0)
    change = math.expm1(r - center)
    inflate = 2.0 if seasonal is not None else 1.0
    z = (r - center) / (scale * math.sqrt(inflate * (1 / len(recent) + MEDIAN_EFFICIENCY / n_base)))
    sign = -1 if direction == "fall" else 1
    bad_change, bad_z = sign * change, sign * z
    if is_open:
        regressed = bad_change >= min_change / 2 and bad_z >= CLOSE_Z
    else:
        regressed = bad_change >= min_change and bad_z >= Z_THRESHOLD
    return Judgement("regressed" if regressed else "ok", "", change, z, center, scale, len(recent), n_base)


def frequency_floor(team: np.ndarray, reference: np.ndarray | None) -> float:
    """Poisson noise of a weekly log count (of a ratio to the rest of the org)."""
    floor = 1 / (float(np.nanmean(team)) + 0.5)
    if reference is not None:
        floor += 1 / (float(np.nanmean(reference)) + 0.5)
    return math.sqrt(floor)


# -- detection over the warehouse ------------------------------------------------------------------


@dataclass
class Finding:
    rule: str
    metric: str
    direction: str
    scope: str
    key: str
    judgement: Judgement
    since_week: str
    baseline_label: str
    recent_value: float | None  # mean per week (frequency) or median of weekly medians (hours)
    baseline_value: float | None
    min_change: float

    @property
    def status(self) -> str:
        return self.judgement.status


def week_label(monday: date) -> str:
    return monday.strftime("%G-W%V")


def last_complete_monday(today: date) -> date:
    """Monday of the last complete week before `today`'s week."""
    return today - timedelta(days=today.weekday() + 7)


def _weekly(wh: Warehouse, cfg, scope: str, first: date, last_sunday: date, mondays: list[date]) -> dict:
    rows = compute_metrics(wh, cfg, scope, "week", first, last_sunday)  # type: ignore[arg-type]
    index = {m: i for i, m in enumerate(mondays)}
    out: dict[str, dict[str, np.ndarray]] = {}
    for row in rows:
        i = index.get(row["period_start"])
        if i is None:
            continue
        series = out.setdefault(row["key"], {
            "deployments": np.zeros(len(mondays)), "lead": np.full(len(mondays), np.nan),
            "changes": np.zeros(len(mondays)),
        })
        series["deployments"][i] = row["deployments"]
        series["changes"][i] = row["changes"]
        if row["lead_time_median_hours"] is not None:
            series["lead"][i] = row["lead_time_median_hours"]
    return out


def evaluate(
    wh: Warehouse,
    cfg: MetricsConfig | None,
    alerts: AlertsConfig,
    today: date,
    frozen: dict[tuple[str, str], tuple[float, float]] | None = None,
) -> list[Finding]:
    """Every rule on every key of its scope, over the complete weeks before `today`'s week.
    `frozen`: the kept baseline (center, scale) of open regressions, by (rule, key)."""
    frozen = frozen or {}
    findings: list[Finding] = []
    last_monday = last_complete_monday(today)
    for rule in alerts.effective_rules():
        weeks = rule.baseline_weeks + rule.recent_weeks
        mondays = [last_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
        last_sunday = last_monday + timedelta(days=6)
        # The org over a year more: the same weeks a year ago give its seasonal shift.
        extended = [mondays[0] - timedelta(weeks=52 - i) for i in range(52)] + mondays
        org_all = _weekly(wh, cfg, "org", extended[0], last_sunday, extended).get("org")
        if org_all is None:
            continue
        org = {name: values[52:] for name, values in org_all.items()}
        year_ago = {name: values[:weeks] for name, values in org_all.items()}
        has_year = bool(year_ago["deployments"][: rule.baseline_weeks].min() > 0)
        keyed = (
            {"org": org} if rule.scope == "org"
            else _weekly(wh, cfg, rule.scope, mondays[0], last_sunday, mondays)
        )
        quiet = quiet_weeks(org["deployments"], rule.recent_weeks)
        since = week_label(mondays[-rule.recent_weeks])
        baseline_label = f"{week_label(mondays[0])}..{week_label(mondays[-rule.recent_weeks - 1])}"
        for key, series in sorted(keyed.items()):
            findings.append(_finding(rule, key, series, org, quiet, since, baseline_label,
                                     frozen.get((rule.name, key)), year_ago if has_year else None))
    return findings


def judge_series(
    metric: str,
    values: np.ndarray,
    org_values: np.ndarray,
    quiet: np.ndarray,
    recent_weeks: int,
    min_change: float,
    direction: str,
    is_org: bool,
    counts: np.ndarray | None = None,
    org_counts: np.ndarray | None = None,
    frozen: tuple[float, float] | None = None,
    last_year: tuple | None = None,
) -> Judgement:
    """One key's weekly series (deployments, or median lead hours with their change counts)
    judged against its baseline, read against the rest of the org unless it is the org.
    last_year (the org only): (values, counts, org deployments) of the same weeks a year before,
    whose shift from baseline to recent weeks is expected again (seasonality)."""
    base = slice(None, -recent_weeks)
    seasonal = None
    if is_org and last_year is not None:
        ly_values, ly_counts, ly_org = last_year
        ly = log_values(metric, ly_values, ly_counts if metric == "lead_time" else None)
        ly = np.where(quiet_weeks(ly_org, recent_weeks), np.nan, ly)
        ly_base, ly_recent = ly[base], ly[-recent_weeks:]
        enough = np.isfinite(ly_base).sum() >= len(ly_base) / 2
        if enough and np.isfinite(ly_recent).sum() >= recent_weeks / 2:
            seasonal = float(np.nanmean(ly_recent) - np.nanmedian(ly_base))
    if metric == "deployment_frequency":
        values = np.asarray(values, dtype=float)
        reference = None if is_org else np.asarray(org_values, dtype=float) - values
        x = log_values(metric, values)
        if reference is not None:
            x = x - log_values(metric, reference)
        usable = ~quiet[base]
        floor = frequency_floor(values[base][usable], None if reference is None else reference[base][usable])
        if float(np.mean(values[base])) < MIN_WEEKLY_DEPLOYMENTS:
            return Judgement("skipped", "fewer than one deployment a week in the baseline")
    else:
        x = log_values(metric, values, counts)
        if not is_org:
            x = x - log_values(metric, org_values, org_counts)
        floor = 0.0
    x = np.where(quiet, np.nan, x)
    return judge(x, recent_weeks, min_change, direction, floor, frozen, is_open=frozen is not None,
                 seasonal=seasonal)


def _finding(rule: AlertRule, key, series, org, quiet, since, baseline_label, frozen, year_ago) -> Finding:
    recent = slice(-rule.recent_weeks, None)
    base = slice(None, -rule.recent_weeks)
    frequency = rule.metric == "deployment_frequency"
    judgement = judge_series(
        rule.metric, series["deployments"] if frequency else series["lead"],
        org["deployments"] if frequency else org["lead"], quiet, rule.recent_weeks, rule.min_change,
        rule.direction, rule.scope == "org", series["changes"], org["changes"], frozen,
        None if year_ago is None else (
            year_ago["deployments"] if frequency else year_ago["lead"], year_ago["changes"],
            year_ago["deployments"],
        ),
    )
    if frequency:
        shown = series["deployments"].astype(float)
    else:
        shown = np.where(series["changes"] >= MIN_CHANGES, series["lead"], np.nan)
    usable = ~quiet
    recent_value = _summary(shown[recent][usable[recent]], rule.metric)
    baseline_value = _summary(shown[base][usable[base]], rule.metric)
    return Finding(rule.name, rule.metric, rule.direction, rule.scope, key, judgement, since,
                   baseline_label, recent_value, baseline_value, rule.min_change)


def _summary(values: np.ndarray, metric: str) -> float | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    return float(np.mean(values) if metric == "deployment_frequency" else np.median(values))


# -- state and outbox ------------------------------------------------------------------------------


@dataclass
class Event:
    """A message to send: a regression opened, worsened, or recovered."""

    event: Literal["regression", "worsened", "recovered"]
    rule: str
    metric: str
    direction: str
    scope: str
    key: str
    change: float | None
    since_week: str
    baseline: str
    recent_value: float | None
    baseline_value: float | None
    z: float | None = None
    dashboard_url: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    """What a run does: the events to send and the state rows to write."""

    events: list[Event] = field(default_factory=list)
    state: list[dict] = field(default_factory=list)
    open: list[dict] = field(default_factory=list)  # open regressions after this run


STATE_COLUMNS = (
    "rule", "scope", "key", "metric", "direction", "status", "since_week", "baseline_label",
    "baseline_center", "baseline_scale", "baseline_value", "notified_change", "last_change",
    "opened_at", "closed_at", "updated_at",
)


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


def frozen_baselines(state: dict[tuple[str, str], dict]) -> dict[tuple[str, str], tuple[float, float]]:
    return {k: (r["baseline_center"], r["baseline_scale"]) for k, r in state.items() if r["status"] == "open"}


def plan(findings: list[Finding], state: dict[tuple[str, str], dict], now: datetime,
         dashboard_url: str | None = None) -> Plan:
    """Compare findings with the stored state: open, worsen, recover (pure; nothing written)."""
    out = Plan()
    for f in findings:
        j = f.judgement
        old = state.get((f.rule, f.key))
        was_open = old is not None and old["status"] == "open"

        def event(kind: str, baseline_value: float | None, baseline: str, since: str, f=f, j=j) -> Event:
            return Event(kind, f.rule, f.metric, f.direction, f.scope, f.key, j.change, since,
                         baseline, f.recent_value, baseline_value, j.z, dashboard_url)

        if j.status == "skipped":
            if was_open:
                out.open.append(old)
            continue
        if j.status == "regressed" and not was_open:
            row = {
                "rule": f.rule, "scope": f.scope, "key": f.key, "metric": f.metric,
                "direction": f.direction, "status": "open", "since_week": f.since_week,
                "baseline_label": f.baseline_label, "baseline_center": j.center,
                "baseline_scale": j.scale, "baseline_value": f.baseline_value,
                "notified_change": j.change, "last_change": j.change, "opened_at": now,
                "closed_at": None, "updated_at": now,
            }
            out.events.append(event("regression", f.baseline_value, f.baseline_label, f.since_week))
            out.state.append(row)
            out.open.append(row)
        elif j.status == "regressed":
            row = {**old, "last_change": j.change, "updated_at": now}
            worse = abs(j.change) >= abs(old["notified_change"] or 0) + WORSEN_STEP
            if worse:
                row["notified_change"] = j.change
                out.events.append(event("worsened", old["baseline_value"], old["baseline_label"],
                                        old["since_week"]))
            out.state.append(row)
            out.open.append(row)
        elif was_open:
            row = {**old, "status": "closed", "last_change": j.change, "closed_at": now, "updated_at": now}
            out.events.append(
                event("recovered", old["baseline_value"], old["baseline_label"], old["since_week"])
            )
            out.state.append(row)
    return out


def apply(wh: Warehouse, result: Plan, channels: list[str], now: datetime) -> None:
    """Write the new state and queue one outbox row per event and channel, in one transaction."""
    with wh.transaction():
        for row in result.state:
            wh.con.execute("DELETE FROM alert_state WHERE rule = ? AND key = ?", [row["rule"], row["key"]])
            wh.con.execute(
                f"INSERT INTO alert_state ({', '.join(STATE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(STATE_COLUMNS))})",
                [row[c] for c in STATE_COLUMNS],
            )
        for ev in result.events:
            for channel in channels:
                wh.con.execute(
                    "INSERT INTO alert_outbox (id, created_at, channel, event, rule, key, message) "
                    "SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ? FROM alert_outbox",
                    [now, channel, ev.event, ev.rule, ev.key, json.dumps(ev.as_dict())],
                )


def pending(wh: Warehouse) -> list[dict]:
    """Undelivered outbox rows, oldest first (earlier failures included)."""
    if not _has_tables(wh):
        return []
    rows = wh.frame(
        "SELECT id, channel, event, rule, key, message, attempts, last_error FROM alert_outbox "
        "WHERE delivered_at IS NULL ORDER BY id"
    ).to_dicts()
    for row in rows:
        row["message"] = json.loads(row["message"])
    return rows


def mark_delivered(wh: Warehouse, outbox_id: int, attempts: int) -> None:
    wh.con.execute(
        "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + ?, last_error = NULL WHERE id = ?",
        [datetime.now(UTC), attempts, outbox_id],
    )


def mark_failed(wh: Warehouse, outbox_id: int, attempts: int, error: str) -> None:
    wh.con.execute(
        "UPDATE alert_outbox SET attempts = attempts + ?, last_error = ? WHERE id = ?",
        [attempts, error, outbox_id],
    )
