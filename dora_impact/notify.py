"""Sending alert messages: a Slack incoming webhook (Block Kit) and a generic JSON webhook.

The URLs come only from the environment (SLACK_WEBHOOK_URL, DORA_IMPACT_WEBHOOK_URL); a Slack
webhook URL *is* its secret, so both are registered with the process-wide redactor and never
appear in output, errors or the database (the outbox stores the channel name, not the URL).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import requests

from collectors.secrets import REDACT
from dora_impact.errors import UserError

CHANNELS = {"slack": "SLACK_WEBHOOK_URL", "webhook": "DORA_IMPACT_WEBHOOK_URL"}
ATTEMPTS = 3  # per message and run: a 5xx or a timeout is retried twice, with backoff
BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 10

LABELS = {"deployment_frequency": "Deployment frequency", "lead_time": "Lead time"}
VERBS = {"fall": "fell", "rise": "rose"}


def configured_channels() -> dict[str, str]:
    """channel -> URL for every channel whose variable is set (an unusable one is exit 2)."""
    out = {}
    for channel, variable in CHANNELS.items():
        url = os.environ.get(variable, "").strip()
        if not url:
            continue
        REDACT.add(url)
        if not url.startswith(("http://", "https://")) or not url.isprintable() or " " in url:
            raise UserError(f"environment variable {variable}: not an http(s) URL")
        out[channel] = url
    return out


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "no data"
    return f"{value:.1f}/week" if metric == "deployment_frequency" else f"{value:.1f} h median"


def _whom(message: dict) -> str:
    return "the org" if message["scope"] == "org" else f"{message['scope']} {message['key']}"


def sentence(message: dict) -> str:
    """One plain sentence: what, for whom, by how much, since when, against what baseline."""
    label, metric = LABELS[message["metric"]], message["metric"]
    change = message["change"]
    amount = "–" if change is None else f"{abs(change) * 100:.0f}%"
    recent, base = _value(metric, message["recent_value"]), _value(metric, message["baseline_value"])
    if message["event"] == "recovered":
        return (f"Recovered: {label.lower()} for {_whom(message)} is back to {recent} "
                f"(baseline {base} in {message['baseline']}); the regression open since "
                f"{message['since_week']} is closed.")
    verb = VERBS[message["direction"]]
    worse = " further" if message["event"] == "worsened" else ""
    return (f"{label} {verb}{worse} {amount} for {_whom(message)} since {message['since_week']}: "
            f"{recent} against {base} in {message['baseline']}.")


def slack_payload(message: dict) -> dict:
    """A Block Kit message with a plain-text fallback."""
    title = {
        "regression": ":rotating_light: Delivery regression",
        "worsened": ":warning: Regression worsened",
        "recovered": ":white_check_mark: Regression recovered",
    }[message["event"]]
    text = sentence(message)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title.split(" ", 1)[1], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{title.split(' ', 1)[0]} {text}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"rule `{message['rule']}` · z = {message['z']:.1f}" if message.get("z") is not None
            else f"rule `{message['rule']}`")}]},
    ]
    if message.get("dashboard_url"):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the dashboard"},
            "url": message["dashboard_url"],
        }]})
    return {"text": text, "blocks": blocks}


def webhook_payload(message: dict) -> dict:
    return {"source": "dora-impact", "text": sentence(message), **message}


PAYLOADS = {"slack": slack_payload, "webhook": webhook_payload}


@dataclass
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


def post(url: str, payload: dict, attempts: int = ATTEMPTS) -> Delivery:
    """POST with retries on 5xx, timeouts and dropped connections; a 4xx is not retried."""
    error = None
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, json=payload, timeout=TIMEOUT_SECONDS)
            if response.status_code < 300:
                return Delivery(True, attempt)
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return Delivery(False, attempt, error)
        except requests.RequestException as exc:
            error = REDACT(f"{type(exc).__name__}: {exc}")
        if attempt < attempts:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)
