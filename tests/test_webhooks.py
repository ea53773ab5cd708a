"""The webhook receiver, driven by a real HTTP client against uvicorn on 127.0.0.1: signed
events are stored and loaded, everything else is refused; a burst of 1,000 events with the
receiver SIGKILLed in the middle loses none and doubles none."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
import requests

from tests.conftest import write
from tests.github_fake import example

SECRET = "whsec-test-0123456789"
TOKEN = "ingest-token-abcdef123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db = tmp / "d.duckdb"
        self.config = write(tmp / "dora.toml", """
[github]
repos = ["octocat/Hello-World"]

[[github.deployments.workflows]]
name = "^Deploy$"

[teams]
core = ["octocat/*"]
""")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, max_body: int | None = None, *options: str) -> None:
        env = {**os.environ, "GITHUB_WEBHOOK_SECRET": SECRET, "DORA_IMPACT_INGEST_TOKEN": TOKEN}
        extra = [*(["--max-body-bytes", str(max_body)] if max_body else []), *options]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dora_impact", "--db", str(self.db), "--config", str(self.config),
             "serve-webhooks", "--port", str(self.port), "--flush-seconds", "0.3", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("receiver did not start: " + self.proc.stderr.read().decode())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=60)
        return err.decode()

    def query(self, sql: str) -> list[tuple]:
        """Read the warehouse between the receiver's short writes."""
        for _ in range(100):
            try:
                with duckdb.connect(str(self.db), read_only=True) as con:
                    return con.execute(sql).fetchall()
            except duckdb.Error:
                time.sleep(0.1)
        raise AssertionError("database stayed locked")

    def wait_for(self, sql: str, expected: list[tuple], seconds: float = 60) -> list[tuple]:
        deadline = time.time() + seconds
        got: list[tuple] = []
        while time.time() < deadline:
            got = self.query(sql)
            if got == expected:
                return got
            time.sleep(0.2)
        return got


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path)
    yield r
    if r.proc and r.proc.poll() is None:
        r.proc.kill()
        r.proc.wait()


def github_post(r: Receiver, event: str, payload: dict, delivery: str, sign: bool = True,
                body: bytes | None = None) -> requests.Response:
    raw = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
    if sign:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return requests.post(r.url + "/github", data=body if body is not None else raw, headers=headers, timeout=10)


def deployment_status_payload() -> dict:
    repo = example("full-repository")
    return {
        "action": "created",
        "deployment_status": example("deployment-status"),
        "deployment": example("deployment"),
        "repository": {**repo, "full_name": "octocat/Hello-World"},
    }


def events_post(r: Receiver, body: dict, token: str | None = TOKEN, **headers: str) -> requests.Response:
    h = {"Content-Type": "application/json", **headers}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return requests.post(r.url + "/events", data=json.dumps(body), headers=h, timeout=10)


def deployment_event(i: int) -> dict:
    return {"entity": "deployments", "rows": [{
        "deployment_id": f"argo:{i}", "repo": "acme/shop", "environment": "production",
        "status": "success", "finished_at": f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
        "sha": f"{i:040x}",
    }]}


def test_signed_github_events_are_loaded_and_everything_else_refused(receiver):
    r = receiver
    r.start(max_body=200_000)
    payload = deployment_status_payload()
    assert github_post(r, "deployment_status", payload, "d-1").status_code == 202
    # Replayed delivery id: acknowledged, ignored.
    again = github_post(r, "deployment_status", payload, "d-1")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    # Unsigned, wrong secret, tampered body: 401.
    assert github_post(r, "deployment_status", payload, "d-2", sign=False).status_code == 401
    tampered = json.dumps({**payload, "deployment": {**payload["deployment"], "id": 666}}).encode()
    assert github_post(r, "deployment_status", payload, "d-3", body=tampered).status_code == 401
    # Oversized: 413, before anything is read into the spool.
    big = {**payload, "padding": "x" * 300_000}
    assert github_post(r, "deployment_status", big, "d-4").status_code == 413
    # A ping is answered; an unused event is acknowledged and ignored.
    assert github_post(r, "ping", {"zen": "Keep it logically awesome."}, "d-5").status_code == 200
    assert github_post(r, "star", {"repository": payload["repository"]}, "d-6").json()["status"] == "ignored"
    # Generic endpoint: bearer token required, stale signed timestamp refused.
    assert events_post(r, deployment_event(1), token=None).status_code == 401
    assert events_post(r, deployment_event(1), token="wrong").status_code == 401
    body = json.dumps(deployment_event(2)).encode()
    stale = str(int(time.time()) - 3600)
    sig = "sha256=" + hmac.new(TOKEN.encode(), f"{stale}.".encode() + body, hashlib.sha256).hexdigest()
    assert events_post(r, deployment_event(2), **{"X-Dora-Timestamp": stale, "X-Dora-Signature-256": sig}).status_code == 401
    fresh = str(int(time.time()))
    sig = "sha256=" + hmac.new(TOKEN.encode(), f"{fresh}.".encode() + body, hashlib.sha256).hexdigest()
    assert events_post(r, deployment_event(2), **{"X-Dora-Timestamp": fresh, "X-Dora-Signature-256": sig}).status_code == 202
    assert events_post(r, deployment_event(3)).status_code == 202
    bad = events_post(r, {"entity": "deployments", "rows": [{"deployment_id": "x", "repo": "a/b"}]})
    assert bad.status_code == 400 and "missing required column 'environment'" in bad.json()["error"]
    got = r.wait_for(
        "SELECT deployment_id, status, finished_at::VARCHAR, url, source FROM deployments ORDER BY 1",
        [
            ("argo:2", "success", "2026-03-03 10:02:00+00", None, "events"),
            ("argo:3", "success", "2026-03-04 10:03:00+00", None, "events"),
            ("github:octocat/Hello-World:deployment:1", "success", "2012-07-20 01:19:13+00",
             "https://example.com/deployment/42/output", "github"),
        ],
    )
    assert len(got) == 3, got
    err = r.stop()
    assert "refused /github" in err and SECRET not in err and TOKEN not in err


@pytest.mark.slow
def test_burst_of_1000_with_a_kill_in_the_middle_loses_and_doubles_nothing(receiver):
    r = receiver
    r.start()
    acked: set[int] = set()
    lock = threading.Lock()

    def send(indices: list[int]) -> None:
        for i in indices:
            try:
                resp = events_post(r, deployment_event(i), **{"Idempotency-Key": f"burst-{i}"})
            except requests.RequestException:
                continue
            if resp.status_code in (200, 202):
                with lock:
                    acked.add(i)

    # 16 senders at once: the receiver commits their events in groups.
    senders = [threading.Thread(target=send, args=(list(range(k, 1000, 16)),)) for k in range(16)]
    for t in senders:
        t.start()
    while len(acked) < 400:
        time.sleep(0.01)
    r.kill()  # SIGKILL mid-burst: no cleanup, the loader may be mid-transaction
    for t in senders:
        t.join()
    assert 400 <= len(acked) < 1000
    r.start()
    # The sender retries everything (it cannot know which un-answered ones were stored).
    def resend(i: int) -> int:
        return events_post(r, deployment_event(i), **{"Idempotency-Key": f"burst-{i}"}).status_code

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(resend, range(1000)))
    assert all(code in (200, 202) for code in results)
    assert all(results[i] == 200 for i in acked)  # everything acknowledged before was kept
    got = r.wait_for(
        "SELECT count(*), count(DISTINCT deployment_id) FROM deployments", [(1000, 1000)], seconds=120
    )
    assert got == [(1000, 1000)]
    spooled = (r.tmp / "d.duckdb.webhooks.jsonl").read_text().splitlines()
    assert len(spooled) == 1000  # each event stored once
    r.stop()


def test_a_rotated_spool_loads_every_event_once_across_restarts(receiver):
    """In-process, step by step: a fully loaded spool past its size starts a new file; the
    stored offset names the file it counts in, so a restart after the rotation neither loads
    the old file again nor skips the new one; recent deliveries are still duplicates."""
    from collectors.webhooks import Spool, generic_event, load_spool
    from warehouse import Warehouse

    r = receiver
    path = r.tmp / "spool.jsonl"

    def event(i: int):
        return generic_event(deployment_event(i), f"events:k{i}")

    def deployments() -> tuple[int, int]:
        return r.query("SELECT count(*), count(DISTINCT deployment_id) FROM deployments")[0]

    spool = Spool(path, rotate_bytes=2_000)
    line = len(event(0).to_json()) + 1
    assert 10 * line > 2_000  # ten events pass the threshold
    assert all(spool.append(event(i)) for i in range(10))
    with Warehouse(r.db) as wh:
        assert load_spool(wh, spool) == 10
        assert spool.size() == 10 * line
        assert load_spool(wh, spool) == 0  # all loaded: this pass rotates
    assert spool.size() == 0 and spool.previous_path.stat().st_size == 10 * line
    assert not path.exists() or path.stat().st_size == 0

    # A restart (e.g. after kill -9) right after the rotation: the deliveries of the rotated
    # file are still known, and the stored offset (10 lines into the old file) is not applied
    # to the new one.
    spool = Spool(path, rotate_bytes=2_000)
    assert spool.known("events:k3") and not spool.append(event(3))
    assert all(spool.append(event(i)) for i in (10, 11, 12))
    with Warehouse(r.db) as wh:
        assert load_spool(wh, spool) == 3
        assert load_spool(wh, spool) == 0  # 3 lines < 2,000 bytes: no rotation
    assert spool.size() == sum(len(event(i).to_json()) + 1 for i in (10, 11, 12))
    assert deployments() == (13, 13)

    # A second restart before anything new: nothing is loaded twice.
    spool = Spool(path, rotate_bytes=2_000)
    with Warehouse(r.db) as wh:
        assert load_spool(wh, spool) == 0
    assert deployments() == (13, 13)


def test_a_loaded_event_is_in_the_precomputed_tables_with_its_configured_team(receiver):
    """Each loaded batch runs the after-load step: `[teams] core = ["octocat/*"]` owns both a
    GitHub deployment_status and an /events deployment (which names no team), and the
    precomputed per-row table holds both, current with the last load, with no sync after."""
    r = receiver
    r.start()
    assert github_post(r, "deployment_status", deployment_status_payload(), "t-1").status_code == 202
    event = {"entity": "deployments", "rows": [{
        "deployment_id": "argo:shop-1", "repo": "octocat/shop", "environment": "production",
        "status": "success", "finished_at": "2026-03-02T10:00:00Z"}]}
    assert events_post(r, event).status_code == 202
    expected = [("argo:shop-1", "core"), ("github:octocat/Hello-World:deployment:1", "core")]
    got = r.wait_for("SELECT deployment_id, team FROM mart_prod_deployments ORDER BY 1", expected)
    assert got == expected
    assert r.query("SELECT (SELECT version FROM mart_state) = (SELECT version FROM load_version)") == [(True,)]
    assert r.query("SELECT team, repo FROM teams ORDER BY repo") == [
        ("core", "octocat/Hello-World"), ("core", "octocat/shop")]
    r.stop()


def test_an_acknowledged_event_is_already_in_the_precomputed_tables(receiver):
    """The 202 follows the commit: right on the answer (no waiting, no second request), a
    read-only connection finds the deployment, its change's lead time and the week's
    aggregates in the precomputed tables, owned by its `[teams]` team. By hand: the change
    was committed at 08:00 and shipped by the deployment that finished at 10:30, so 2.5 hours;
    2026-03-02 is the Monday of 2026-W10, one deployment in it."""
    r = receiver
    r.start()
    sha = "ab" * 20
    change = {"entity": "changes", "rows": [{
        "repo": "octocat/shop", "sha": sha, "committed_at": "2026-03-02T08:00:00Z",
        "deployment_id": "argo:shop-7"}]}
    answer = events_post(r, change)
    assert (answer.status_code, answer.json()["status"]) == (202, "loaded")
    deployment = {"entity": "deployments", "rows": [{
        "deployment_id": "argo:shop-7", "repo": "octocat/shop", "environment": "production",
        "status": "success", "finished_at": "2026-03-02T10:30:00Z", "sha": sha}]}
    answer = events_post(r, deployment)
    assert (answer.status_code, answer.json()["status"]) == (202, "loaded")
    assert r.query("SELECT deployment_id, team, finished_at::VARCHAR FROM mart_prod_deployments") == [
        ("argo:shop-7", "core", "2026-03-02 10:30:00+00")]
    assert r.query("SELECT sha, lead_time_hours FROM mart_change_lead_times") == [(sha, 2.5)]
    week = "scope = 'team' AND key = 'core' AND period_kind = 'week' AND period_start = '2026-03-02'"
    assert r.query(f"SELECT deployments FROM mart_deployment_frequency WHERE {week}") == [(1,)]
    assert r.query(f"SELECT changes, lead_time_median_hours FROM mart_lead_time WHERE {week}") == [(1, 2.5)]
    assert r.query(
        f"SELECT production_deployments, failed_deployments FROM mart_change_fail_rate WHERE {week}"
    ) == [(1, 0)]
    assert r.query("SELECT (SELECT version FROM mart_state) = (SELECT version FROM load_version)") == [(True,)]
    # The same event again: a duplicate, answered at once (it is loaded).
    again = events_post(r, deployment)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    r.stop()


def test_an_event_not_loaded_in_time_is_answered_503_and_its_retry_once_loaded(receiver):
    """While another writer holds the database, no batch can commit: the request is answered
    503 with Retry-After (the event is stored, never a 2xx before it is loaded). Once the
    writer lets go, the retry is a duplicate answered 200, and the event is there."""
    r = receiver
    r.start(None, "--ack-seconds", "2")
    holder = None
    while holder is None:  # the receiver's first pass over the spool holds it for a moment
        try:
            holder = duckdb.connect(str(r.db))  # the write lock, as a running `sync` holds it
        except duckdb.IOException:
            time.sleep(0.1)
    try:
        busy = events_post(r, deployment_event(5), **{"Idempotency-Key": "busy-5"})
        assert busy.status_code == 503 and busy.json()["status"] == "stored"
        assert busy.headers["Retry-After"] == "2"
        assert (r.tmp / "d.duckdb.webhooks.jsonl").read_text().count('"argo:5"') == 1  # stored
    finally:
        holder.close()
    # The sender retries as Retry-After says, until it gets a 2xx.
    for _ in range(30):
        again = events_post(r, deployment_event(5), **{"Idempotency-Key": "busy-5"})
        if again.status_code != 503:
            break
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert r.query("SELECT deployment_id, team FROM mart_prod_deployments") == [("argo:5", "unassigned")]
    r.stop()
