"""The `alert` command: evaluates the regression rules, notifies, and exits 0 when none is open,
1 while one is, 2 on bad configuration, 3 when a notification could not be delivered this run.

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
from dora_impact.notify import PAYLOADS, Channel, channels, post, sentence, targets

FORMATS = ("text", "json")
DELIVERY_FAILED = 3


def _deliver(wh, chans: dict[str, Channel], now: datetime) -> list[dict]:
    """Send every queued outbox row, oldest first; one record per row. A channel that fails
    for now is left for the next run with the rest of its queue (order kept, nothing sent
    twice); a final answer (4xx) takes the row out of the queue with its error."""
    from warehouse.alerts import mark_delivered, mark_failed, pending

    out, down = [], set()
    for row in pending(wh):
        record = {"channel": row["channel"], "event": row["event"], "rule": row["rule"], "key": row["key"],
                  "attempts": 0, "http_status": None}
        chan = chans.get(row["channel"])
        if chan is None or chan.url is None:
            variable = chan.variable if chan else "its variable"
            out.append({**record, "status": "not_configured",
                        "error": f"{variable} is not set this run; kept for the next run"})
            continue
        if row["channel"] in down:
            out.append({**record, "status": "queued", "error": "channel failing this run; kept in order"})
            continue
        result = post(chan.url, PAYLOADS[chan.kind](row["message"], chan.mentions))
        record.update(attempts=result.attempts, http_status=result.status)
        if result.ok:
            mark_delivered(wh, row["id"], result.attempts, now)
            out.append({**record, "status": "delivered", "error": None})
        elif result.permanent:
            mark_failed(wh, row["id"], result.attempts, result.error or "failed", now, permanent=True)
            out.append({**record, "status": "failed", "error": result.error})
        else:
            mark_failed(wh, row["id"], result.attempts, result.error or "failed", now, permanent=False)
            down.add(row["channel"])
            out.append({**record, "status": "retry_later", "error": result.error})
    return out


def register(app: typer.Typer) -> None:
    @app.command("alert")
    def alert_cmd(
        ctx: typer.Context,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print what would be sent; change nothing.")
        ] = False,
        fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    ) -> None:
        """Evaluate the regression rules, notify Slack / webhooks; exit 1 while a regression is
        open, 3 when a notification could not be delivered."""
        from warehouse.alert_digest import digest
        from warehouse.alerts import apply, evaluate, load_state, pending, plan

        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        context: AppContext = ctx.obj
        alerts = context.config.alerts
        chans = channels(alerts)
        if not context.location.exists():
            raise UserError(
                f"{context.location}: no such database (run `dora-impact sync` or `import` first)"
            )
        now = datetime.now(UTC)
        # whole: on a DuckLake, alert reads every shard's rows and writes only its own tables.
        with context.open(read_only=dry_run, whole=True) as wh:
            state = load_state(wh)
            findings = evaluate(wh, context.config.metrics, alerts, now.date())
            result = plan(findings, state, now, alerts.dashboard_url)
            events = list(result.events)
            if alerts.digest.enabled:
                weekly = digest(wh, context.config.metrics, alerts.digest, now.date(), alerts.dashboard_url)
                if not _digest_queued(wh, str(weekly.since_week)):
                    events.append(weekly)
            routed = [(e, targets(e.as_dict(), chans, alerts)) for e in events]
            if dry_run:
                deliveries = [{"channel": r["channel"], "event": r["event"], "rule": r["rule"],
                               "key": r["key"], "status": "would_send", "text": sentence(r["message"])}
                              for r in pending(wh)]
                deliveries += [{"channel": c, "event": e.event, "rule": e.rule, "key": e.key,
                                "status": "would_send", "text": sentence(e.as_dict())}
                               for e, cs in routed for c in cs]
            else:
                apply(wh, routed, result.state, now)
                deliveries = _deliver(wh, chans, now)
        undelivered = [d for d in deliveries if d["status"] in ("failed", "retry_later", "not_configured")]
        code = DELIVERY_FAILED if undelivered else 1 if result.open else 0
        report = {
            "dry_run": dry_run,
            "exit_code": code,
            "open": [_open(r) for r in result.open],
            "events": [e.as_dict() for e in events],
            "skipped": [{"rule": f.rule, "key": f.key, "reason": f.path.reason}
                        for f in findings if f.status == "skipped"],
            "channels": sorted(c.name for c in chans.values() if c.url),
            "deliveries": deliveries,
        }
        if fmt == "json":
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            _print(report, findings, events)
        for d in undelivered:
            fate = "taken out of the queue" if d["status"] == "failed" else "kept for the next run"
            typer.echo(f"NOT delivered to {d['channel']}: {d['event']} for {d['key']} ({d['error']}); {fate}",
                       err=True)
        raise typer.Exit(code)


def _digest_queued(wh, week: str) -> bool:
    """A week's digest goes out once, whichever run first sees the week complete."""
    from warehouse.alerts import _has_tables

    if not _has_tables(wh):
        return False
    return bool(wh.scalar("SELECT count(*) FROM alert_outbox WHERE event = 'digest' AND key = ?", [week]))


def _open(row: dict) -> dict:
    keys = ("rule", "scope", "key", "metric", "direction", "since_week", "opened_week", "baseline_label",
            "last_change")
    return {k: row.get(k) for k in keys}


def _print(report: dict, findings, events) -> None:
    for event in events:
        typer.echo(sentence(event.as_dict()))
    for row in report["open"]:
        if not any(e.rule == row["rule"] and e.key == row["key"] for e in events):
            typer.echo(f"still open (already notified): {row['metric']} {row['direction']} for "
                       f"{row['scope']} {row['key']} since {row['since_week']}")
    for item in report["deliveries"]:
        if item["status"] == "would_send":
            typer.echo(f"would send to {item['channel']}: {item['text']}")
        elif item["status"] == "delivered":
            typer.echo(f"sent to {item['channel']}: {item['event']} for {item['key']}")
    checked = sum(1 for f in findings if f.status != "skipped")
    typer.echo(f"{checked} series checked, {len(report['skipped'])} skipped for too little data, "
               f"{len(report['open'])} regression(s) open"
               + ("" if report["channels"] else "; no channel configured (SLACK_WEBHOOK_URL, "
                                                 "DORA_IMPACT_WEBHOOK_URL, [[alerts.routes]])"))
