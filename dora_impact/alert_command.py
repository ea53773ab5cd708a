"""The `alert` command: evaluates the regression rules, notifies, exits 1 while one is open.

Detection and state live in warehouse/alerts.py; this shell reads the channels from the
environment, sends the outbox and prints what happened.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from dora_impact.context import AppContext
from dora_impact.errors import UserError
from dora_impact.notify import PAYLOADS, configured_channels, post, sentence

FORMATS = ("text", "json")


def _deliver(wh, channels: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Send every undelivered outbox row, oldest first. A channel that fails after its retries
    is left for the next run with the rest of its queue (order kept, nothing sent twice)."""
    from warehouse.alerts import mark_delivered, mark_failed, pending

    sent, kept, down = [], [], set()
    for row in pending(wh):
        url = channels.get(row["channel"])
        if url is None or row["channel"] in down:
            reason = "channel not configured this run" if url is None else "channel failing this run"
            kept.append({**row, "last_error": row["last_error"] or reason})
            continue
        result = post(url, PAYLOADS[row["channel"]](row["message"]))
        if result.ok:
            mark_delivered(wh, row["id"], result.attempts)
            sent.append(row)
        else:
            mark_failed(wh, row["id"], result.attempts, result.error or "failed")
            down.add(row["channel"])
            kept.append({**row, "last_error": result.error})
    return sent, kept


def register(app: typer.Typer) -> None:
    @app.command("alert")
    def alert_cmd(
        ctx: typer.Context,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print what would be sent; change nothing.")
        ] = False,
        fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Evaluate the regression rules, notify Slack / a webhook; exit 1 while a regression is open."""
        from warehouse.alerts import apply, evaluate, frozen_baselines, load_state, pending, plan

        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        context: AppContext = ctx.obj
        alerts = context.config.alerts
        channels = configured_channels()
        if not context.location.exists():
            raise UserError(
                f"{context.location}: no such database (run `dora-impact sync` or `import` first)"
            )
        now = datetime.now(UTC)
        # whole: on a DuckLake, alert reads every shard's rows and writes only its own tables.
        with context.open(read_only=dry_run, whole=True) as wh:
            state = load_state(wh)
            findings = evaluate(wh, context.config.metrics, alerts, now.date(), frozen_baselines(state))
            result = plan(findings, state, now, alerts.dashboard_url)
            if dry_run:
                queued = [r["message"] for r in pending(wh)]
                would_send = [(r["channel"], r["message"]) for r in pending(wh) if r["channel"] in channels]
                would_send += [(c, e.as_dict()) for e in result.events for c in channels]
                sent, kept = [], []
            else:
                apply(wh, result, list(channels), now)
                sent, kept = _deliver(wh, channels)
                queued, would_send = [], []
        report = {
            "dry_run": dry_run,
            "open": [_open(r) for r in result.open],
            "events": [e.as_dict() for e in result.events],
            "skipped": [{"rule": f.rule, "key": f.key, "reason": f.judgement.reason}
                        for f in findings if f.status == "skipped"],
            "channels": sorted(channels),
            "sent": [{"channel": r["channel"], "event": r["event"], "key": r["key"]} for r in sent],
            "undelivered": [{"channel": r["channel"], "event": r["event"], "key": r["key"],
                             "attempts": r["attempts"], "error": r["last_error"]} for r in kept],
            "would_send": [{"channel": c, "text": sentence(m)} for c, m in would_send],
            "queued_before": len(queued),
        }
        if fmt == "json":
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            _print(report, findings, result)
        raise typer.Exit(1 if result.open else 0)


def _open(row: dict) -> dict:
    keys = ("rule", "scope", "key", "metric", "direction", "since_week", "baseline_label", "last_change")
    return {k: row.get(k) for k in keys}


def _print(report: dict, findings, result) -> None:
    prefix = "would send" if report["dry_run"] else "sent"
    for event in result.events:
        typer.echo(sentence(event.as_dict()))
    for row in report["open"]:
        if not any(e.rule == row["rule"] and e.key == row["key"] for e in result.events):
            typer.echo(f"still open (already notified): {row['metric']} {row['direction']} for "
                       f"{row['scope']} {row['key']} since {row['since_week']}")
    for item in report["would_send"]:
        typer.echo(f"{prefix} to {item['channel']}: {item['text']}")
    for item in report["sent"]:
        typer.echo(f"sent to {item['channel']}: {item['event']} for {item['key']}")
    for item in report["undelivered"]:
        typer.echo(f"NOT delivered to {item['channel']} ({item['error']}): {item['event']} for "
                   f"{item['key']}; kept, sent on the next run", err=True)
    checked = sum(1 for f in findings if f.status != "skipped")
    typer.echo(f"{checked} series checked, {len(report['skipped'])} skipped for too little data, "
               f"{len(report['open'])} regression(s) open"
               + ("" if report["channels"] else "; no channel configured (SLACK_WEBHOOK_URL, "
                                                 "DORA_IMPACT_WEBHOOK_URL)"))
