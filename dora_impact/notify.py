"""Sending alert messages: Slack incoming webhooks (Block Kit) and generic JSON webhooks.

Channels: the org-wide ones from SLACK_WEBHOOK_URL and DORA_IMPACT_WEBHOOK_URL, and one per
`[[alerts.routes]]` entry, whose URL is in the environment variable the route names. A webhook
URL *is* its secret, so every URL is registered with the process-wide redactor and never
appears in output, errors or the database (the outbox stores the channel's name, not its URL).

Answers (Slack's incoming-webhook errors, docs/alerts.md): 2xx delivered; 400 invalid_payload /
user_not_found, 403 action_prohibited, 404 channel_not_found, 410 channel_is_archived and any
other 4xx will not change by retrying: the message leaves the queue with its error recorded;
429 is retried after its Retry-After, 5xx, timeouts and dropped connections with backoff, and
if they still fail the message waits for the next run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import requests

from collectors.secrets import REDACT
from dora_impact.errors import UserError
from warehouse import catalog
from warehouse.alert_rules import ALERT_METRICS, AlertsConfig
from warehouse.formatting import value_text

DEFAULT_CHANNELS = {"slack": "SLACK_WEBHOOK_URL", "webhook": "DORA_IMPACT_WEBHOOK_URL"}
ATTEMPTS = 3  # per message and run
BACKOFF_SECONDS = 0.5  # then 1 s
MAX_RETRY_AFTER = 30.0  # a longer Retry-After waits for the next run instead
TIMEOUT_SECONDS = 10

LABELS = {metric: catalog.LABELS[metric] for metric in ALERT_METRICS}  # the metrics alerts watch
VERBS = {"fall": "fell", "rise": "rose"}


@dataclass
class Channel:
    name: str  # slack, webhook, or team:<team>
    kind: str  # slack / webhook: the payload it takes
    variable: str
    url: str | None  # None: the variable is not set this run
    mentions: list[str] = field(default_factory=list)


def _url(variable: str) -> str | None:
    url = os.environ.get(variable, "").strip()
    if not url:
        return None
    REDACT.add(url)
    if not url.startswith(("http://", "https://")) or not url.isprintable() or " " in url:
        raise UserError(f"environment variable {variable}: not an http(s) URL")
    return url


def channels(alerts: AlertsConfig) -> dict[str, Channel]:
    """Every channel: the org-wide ones whose variable is set, and every route (set or not: a
    route whose variable is missing cannot deliver, which the run reports)."""
    out = {}
    for name, variable in DEFAULT_CHANNELS.items():
        url = _url(variable)
        if url is not None:
            out[name] = Channel(name, name, variable, url)
    for route in alerts.routes:
        name = f"team:{route.team}"
        url = _url(route.webhook_env)
        out[name] = Channel(name, route.kind, route.webhook_env, url, list(route.mentions))
    return out


def targets(message: dict, chans: dict[str, Channel], alerts: AlertsConfig) -> list[str]:
    """Where a message goes: a team's to its route (and the org-wide channels when the route
    says so), everything else to the org-wide channels."""
    defaults = [c for c in DEFAULT_CHANNELS if c in chans]
    if message.get("scope") == "team":
        route = next((r for r in alerts.routes if r.team == message["key"]), None)
        if route is not None:
            return [f"team:{route.team}"] + (defaults if route.also_default else [])
    return defaults


def _value(metric: str, value: float | None) -> str:
    return value_text(metric, value, missing="no data")


def _whom(message: dict) -> str:
    return "the org" if message["scope"] == "org" else f"{message['scope']} {message['key']}"


def sentence(message: dict) -> str:
    """One plain sentence: what, for whom, by how much, since when, against what baseline."""
    if message["event"] == "digest":
        return digest_sentence(message)
    label, metric = LABELS[message["metric"]], message["metric"]
    change = message["change"]
    amount = "–" if change is None else f"{abs(change) * 100:.0f}%"
    recent, base = _value(metric, message["recent_value"]), _value(metric, message["baseline_value"])
    if message["event"] == "recovered":
        return (f"Recovered: {label.lower()} for {_whom(message)} is back near its baseline "
                f"({base} in {message['baseline']}); the regression open since "
                f"{message['since_week']} is closed.")
    verb = VERBS[message["direction"]]
    worse = " further" if message["event"] == "worsened" else ""
    return (f"{label} {verb}{worse} {amount} for {_whom(message)} since {message['since_week']}: "
            f"{recent} against {base} in {message['baseline']}.")


def digest_sentence(message: dict) -> str:
    org = next((r for r in message["digest"]["rows"] if r["scope"] == "org"), None)
    head = f"Weekly delivery digest for {message['since_week']}"
    if org is None:
        return head + ": no data."
    return head + ": the org " + "; ".join(_digest_cell(org, m) for m in LABELS) + "."


def _digest_cell(row: dict, metric: str) -> str:
    now, before = row.get(metric), row.get(f"{metric}_before")
    shown = _value(metric, now)
    if now is None or before in (None, 0):
        return f"{LABELS[metric].lower()} {shown}"
    return f"{LABELS[metric].lower()} {shown} ({(now / before - 1) * 100:+.0f}%)"


def slack_payload(message: dict, mentions: list[str] | None = None) -> dict:
    """A Block Kit message with a plain-text fallback."""
    text = sentence(message)
    if mentions:
        text = " ".join(mentions) + " " + text
    if message["event"] == "digest":
        return {"text": text, "blocks": _digest_blocks(message, text)}
    title = {
        "regression": ":rotating_light: Delivery regression",
        "worsened": ":warning: Regression worsened",
        "recovered": ":white_check_mark: Regression recovered",
    }[message["event"]]
    evidence = message.get("evidence")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title.split(" ", 1)[1], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{title.split(' ', 1)[0]} {text}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"rule `{message['rule']}` · evidence {evidence:.1f}" if evidence is not None
            else f"rule `{message['rule']}`")}]},
    ]
    if message.get("dashboard_url"):
        team = message["scope"] == "team"
        label = f"Open {message['key']} in the dashboard" if team else "Open the dashboard"
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": label}, "url": message["dashboard_url"],
        }]})
    return {"text": text, "blocks": blocks}


def _digest_blocks(message: dict, text: str) -> list[dict]:
    lines = [f"{'':14} {'deploys/wk':>11} {'lead h':>8} {'CFR':>6} {'recovery h':>11}"]
    for row in message["digest"]["rows"]:
        def cell(metric: str, width: int, pct: bool = False, row=row) -> str:
            value = row.get(metric)
            if value is None:
                return f"{'–':>{width}}"
            return f"{value * 100:>{width - 1}.0f}%" if pct else f"{value:>{width}.1f}"
        name = "org" if row["scope"] == "org" else row["key"]
        lines.append(f"{name[:14]:14} {cell('deployment_frequency', 11)} {cell('lead_time', 8)} "
                     f"{cell('change_fail_rate', 6, True)} {cell('recovery_time', 11)}")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Weekly delivery digest", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "```" + "\n".join(lines) + "```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"week {message['since_week']} against the mean of {message['baseline']}")}]},
    ]
    if message.get("dashboard_url"):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the dashboard"},
            "url": message["dashboard_url"]}]})
    return blocks


def webhook_payload(message: dict, mentions: list[str] | None = None) -> dict:
    return {"source": "dora-impact", "text": sentence(message), "mentions": mentions or [], **message}


PAYLOADS = {"slack": slack_payload, "webhook": webhook_payload}


@dataclass
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None
    permanent: bool = False  # the answer will not change: the message leaves the queue
    status: int | None = None


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", BACKOFF_SECONDS)))
    except ValueError:
        return BACKOFF_SECONDS


def post(url: str, payload: dict, attempts: int = ATTEMPTS) -> Delivery:
    """POST with retries on 429 (after Retry-After), 5xx, timeouts and dropped connections;
    any other 4xx is final."""
    error, status = None, None
    for attempt in range(1, attempts + 1):
        wait = BACKOFF_SECONDS * 2 ** (attempt - 1)
        try:
            response = requests.post(url, json=payload, timeout=TIMEOUT_SECONDS)
            status = response.status_code
            if status < 300:
                return Delivery(True, attempt, status=status)
            body = REDACT(response.text.strip().splitlines()[0][:80]) if response.text.strip() else ""
            error = f"HTTP {status}" + (f" {body}" if body else "")
            if status == 429:
                wait = _retry_after(response)
                if wait > MAX_RETRY_AFTER:
                    return Delivery(False, attempt, error + f" (retry after {wait:.0f} s)", status=status)
            elif status < 500:
                return Delivery(False, attempt, error, permanent=True, status=status)
        except requests.RequestException as exc:
            error, status = REDACT(f"{type(exc).__name__}: {exc}"), None
        if attempt < attempts:
            time.sleep(wait)
    return Delivery(False, attempts, error, status=status)
