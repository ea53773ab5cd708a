#!/bin/sh
# A scheduled `sync` then `alert` (examples/crontab). Copy to /srv/dora/run-alerts.sh, chmod 755.
#
# /srv/dora holds dora.toml, dora.duckdb (kept between runs: the alert state lives in it), the
# logs, a virtual environment with dora-impact installed from its repository
# (python3 -m venv /srv/dora/.venv && /srv/dora/.venv/bin/pip install /path/to/dora-impact),
# and alert.env: KEY=value lines, readable only by this user (chmod 600), e.g.
#   GITHUB_TOKEN=ghp_...
#   SLACK_WEBHOOK_URL=https://hooks.slack.com/services/...
# (no `export` needed: every variable read from it is exported).
#
# Exit status (cron mails any output; this prints only on failure): 0 when the run worked,
# whether or not a regression is open; 1 when sync was partial (the alert still ran), when the
# config is bad, or when a notification could not be delivered.
set -u
DORA="${DORA_HOME:-/srv/dora}"
BIN="${DORA_BIN:-$DORA/.venv/bin/dora-impact}"
set -a
. "$DORA/alert.env"
set +a
run() { "$BIN" --config "$DORA/dora.toml" --db "$DORA/dora.duckdb" "$@"; }

run sync >> "$DORA/sync.log" 2>&1
sync=$?
if [ "$sync" -ne 0 ] && [ "$sync" -ne 3 ]; then
    echo "dora-impact sync failed (exit $sync): see $DORA/sync.log"
    exit 1
fi
run alert >> "$DORA/alert.log" 2>&1
alert=$?
status=0
if [ "$sync" -eq 3 ]; then
    echo "dora-impact sync was partial (exit 3): see $DORA/sync.log; the alert ran on what was stored"
    status=1
fi
if [ "$alert" -ge 2 ]; then
    echo "dora-impact alert failed (exit $alert: 2 bad config, 3 a notification was not delivered): see $DORA/alert.log"
    status=1
fi
exit "$status"
