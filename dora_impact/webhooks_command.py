"""`serve-webhooks`: an ASGI app (Starlette on Uvicorn) that receives GitHub webhook events and
generic CI/CD events, and loads them as `sync` would (collectors/webhooks.py).

Routes:
  POST /github  GitHub events (deployment_status, workflow_run, pull_request, issues; `ping`
                answered), verified with X-Hub-Signature-256 (HMAC-SHA256 of the body with env
                GITHUB_WEBHOOK_SECRET, compared in constant time). A known X-GitHub-Delivery
                is answered 200 and ignored (GitHub's "redeliver" button, or a replay).
  POST /events  {"entity": "<canonical entity>", "rows": [...]} with
                `Authorization: Bearer <env DORA_IMPACT_INGEST_TOKEN>`; optional
                `Idempotency-Key` (else the body's digest is the delivery id); optional
                X-Dora-Timestamp + X-Dora-Signature-256 (HMAC of "<timestamp>.<body>" with the
                token), refused when the timestamp is more than 5 minutes away.
  GET /healthz  events queued and loaded.

Answers: 202 once the event is in the warehouse and in its precomputed tables (a group
commit: the event is fsynced in the spool, the request waits, without a thread, until the
loader has loaded the batch holding it and run the after-load step); 200 for a duplicate
(once it is loaded too) or an event that counts nothing; 400 malformed; 401 missing or wrong
signature or token (logged without any secret); 413 body over --max-body-bytes (default
5 MiB); 503 when the batch did not commit within --ack-seconds (the database held by another
writer): the event is stored and is loaded later, and a retry is answered `duplicate` once it
is. The loader thread opens the warehouse for each batch, writes it and closes it, so the
write lock is never held between batches; a failed load is tried again every
--flush-seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collectors.github.webhook import EVENTS as GITHUB_EVENTS
from collectors.github.webhook import github_event
from collectors.secrets import REDACT, install_log_filter
from collectors.webhooks import (
    ROTATE_BYTES,
    Spool,
    Ticket,
    body_delivery,
    generic_event,
    load_spool,
)
from dora_impact.errors import UserError
from dora_impact_app.after_load import after_load
from warehouse import Warehouse
from warehouse.errors import InputError
from warehouse.location import Location

log = logging.getLogger("dora_impact.webhooks")

MAX_BODY_BYTES = 5 * 1024 * 1024
TIMESTAMP_TOLERANCE = 300.0  # seconds either side of now for a signed X-Dora-Timestamp
SECRET_ENV = "GITHUB_WEBHOOK_SECRET"
TOKEN_ENV = "DORA_IMPACT_INGEST_TOKEN"
# How long a request waits for its batch: under GitHub's 10 s limit on a webhook's answer.
ACK_SECONDS = 8.0


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused beyond `limit` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def signature_ok(secret: str, body: bytes, header: str | None, prefix: bytes = b"") -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), prefix + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


class GroupCommit:
    """Requests waiting for their event to be loaded: each waits, without a thread, on a
    future that the loader resolves once the spool is loaded past the request's ticket and
    the after-load step has run. Many requests share one batch, so one transaction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.committed: Ticket | None = None  # loaded and after-loaded up to here
        self._waiting: list[tuple[Ticket, asyncio.AbstractEventLoop, asyncio.Future]] = []

    def done(self, ticket: Ticket) -> bool:
        with self._lock:
            return self.committed is not None and ticket <= self.committed

    async def wait(self, ticket: Ticket, timeout: float) -> bool:
        """True once the ticket's batch has committed; False when `timeout` passed first."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.committed is not None and ticket <= self.committed:
                return True
            future = loop.create_future()
            entry = (ticket, loop, future)
            self._waiting.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if entry in self._waiting:
                    self._waiting.remove(entry)

    def advance(self, ticket: Ticket) -> None:
        """Called by the loader (its own thread) after a commit: wake every request at or
        before `ticket`."""
        with self._lock:
            self.committed = ticket
            ready = [w for w in self._waiting if w[0] <= ticket]
            self._waiting = [w for w in self._waiting if w[0] > ticket]
        for _, loop, future in ready:
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():  # a request that gave up waiting has cancelled it
        future.set_result(None)


class Loader:
    """Loads the spool into the warehouse in its own thread, one short write at a time: a
    batch is every event spooled since the last one, so while one batch loads, the requests
    arriving gather into the next. After each batch (and its after-load step) the waiting
    requests are answered."""

    def __init__(self, spool: Spool, location: Location | Path, config, interval: float) -> None:
        self.spool, self.config, self.interval = spool, config, interval
        self.location = Location.parse(location)
        self.commits = GroupCommit()
        self.loaded = 0
        self.failures = 0
        # The after-load step of a committed batch is still to run (and, on start, may not
        # have run for what an earlier receiver loaded before it was killed).
        self._after_pending = True
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spool-loader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)
        self.flush()

    def poke(self) -> None:
        self._wake.set()

    def idle(self) -> bool:
        """Nothing spooled past the last commit, nothing left to run after it."""
        committed = self.commits.committed
        return not self._after_pending and committed is not None and self.spool.head() <= committed

    def flush(self) -> int:
        """Load everything spooled, batch by batch, each followed by the after-load step and
        the answers of the requests it holds; returns events loaded. A failure (the file is
        held by another writer) leaves the events in the spool, and their requests waiting,
        for the next try."""
        total = 0
        try:
            while True:
                with Warehouse(self.location) as wh:
                    n = load_spool(wh, self.spool)
                    self._after_pending = self._after_pending or n > 0
                    if self._after_pending:
                        # Team ownership, attribution and the precomputed tables, as after
                        # any load: an event is in every reader's numbers once answered.
                        for warning in after_load(wh, self.config).warnings:
                            log.warning("%s", REDACT(warning))
                        self._after_pending = False
                total += n
                if self.spool.loaded is not None:
                    # Answered once the file is closed, so a reader gets in at once.
                    self.commits.advance(self.spool.loaded)
                if n == 0:
                    break
        except Exception as exc:  # noqa: BLE001 - keep serving; the spool keeps the events
            self.failures += 1
            why = REDACT(f"{type(exc).__name__}: {exc}")
            log.warning("loading spooled events failed (will retry): %s", why)
        self.loaded += total
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self.idle():
                self.flush()


def create_app(
    config,
    location: Location | Path,
    spool_path: Path,
    *,
    github_secret: str | None,
    ingest_token: str | None,
    max_body: int = MAX_BODY_BYTES,
    flush_seconds: float = 2.0,
    ack_seconds: float = ACK_SECONDS,
    rotate_bytes: int = ROTATE_BYTES,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    spool = Spool(spool_path, rotate_bytes)
    loader = Loader(spool, location, config, flush_seconds)

    def refuse(status: int, why: str, route: str) -> JSONResponse:
        log.warning("refused %s: %s", route, why)
        return JSONResponse({"error": why}, status_code=status)

    async def settled(ticket: Ticket | None, delivery: str, answer: JSONResponse) -> JSONResponse:
        """`answer` once the event is loaded; 503 when its batch did not commit in time."""
        if ticket is None or loader.commits.done(ticket):
            return answer
        loader.poke()
        if await loader.commits.wait(ticket, ack_seconds):
            return answer
        log.warning("delivery %r stored, not yet loaded after %.0f s", delivery[:64], ack_seconds)
        return JSONResponse(
            {"status": "stored", "delivery": delivery,
             "reason": "stored, not yet loaded (the database is busy); send it again to learn when"},
            status_code=503, headers={"Retry-After": str(max(1, round(ack_seconds)))},
        )

    async def duplicate(delivery: str) -> JSONResponse:
        # A retry of an event still waiting for its batch waits for it too.
        answer = JSONResponse({"status": "duplicate", "delivery": delivery})
        return await settled(spool.ticket(delivery), delivery, answer)

    async def store(event) -> JSONResponse:
        if not event.rows:
            return JSONResponse({"status": "ignored", "reason": "nothing that counts"}, status_code=200)
        ticket = await run_in_threadpool(spool.append, event)
        if ticket is None:
            return await duplicate(event.delivery)
        answer = JSONResponse({"status": "loaded", "delivery": event.delivery}, status_code=202)
        return await settled(ticket, event.delivery, answer)

    async def github(request: Request) -> JSONResponse:
        try:
            body = await read_body(request, max_body)
        except TooLarge:
            return refuse(413, f"body over {max_body} bytes", "/github")
        delivery = request.headers.get("x-github-delivery", "")
        if not github_secret:
            return refuse(401, f"{SECRET_ENV} is not set: no signature can be verified", "/github")
        if not signature_ok(github_secret, body, request.headers.get("x-hub-signature-256")):
            return refuse(401, "missing or wrong X-Hub-Signature-256", f"/github delivery {delivery[:64]!r}")
        kind = request.headers.get("x-github-event", "")
        if not delivery:
            return refuse(400, "no X-GitHub-Delivery header", "/github")
        if kind == "ping":
            return JSONResponse({"status": "pong"})
        if kind not in GITHUB_EVENTS:
            return JSONResponse({"status": "ignored", "reason": f"event {kind!r} is not used"})
        if spool.known(f"github:{delivery}"):
            return await duplicate(f"github:{delivery}")
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            event = github_event(kind, f"github:{delivery}", payload, config)
        except (ValueError, KeyError, TypeError) as exc:
            return refuse(400, f"malformed {kind} payload: {type(exc).__name__}", "/github")
        return await store(event)

    async def events(request: Request) -> JSONResponse:
        try:
            body = await read_body(request, max_body)
        except TooLarge:
            return refuse(413, f"body over {max_body} bytes", "/events")
        if not ingest_token:
            return refuse(401, f"{TOKEN_ENV} is not set: no token can be checked", "/events")
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(given.encode(), ingest_token.encode()):
            return refuse(401, "missing or wrong bearer token", "/events")
        stamp = request.headers.get("x-dora-timestamp")
        if stamp is not None:
            signed = signature_ok(
                ingest_token, body, request.headers.get("x-dora-signature-256"), f"{stamp}.".encode()
            )
            try:
                age = abs(clock() - float(stamp))
            except ValueError:
                age = float("inf")
            if not signed or age > TIMESTAMP_TOLERANCE:
                why = "wrong X-Dora-Signature-256" if not signed else f"stale timestamp ({age:.0f} s away)"
                return refuse(401, why, "/events")
        key = request.headers.get("idempotency-key")
        delivery = f"events:{key}" if key else f"events:{body_delivery(body)}"
        if spool.known(delivery):
            return await duplicate(delivery)
        try:
            event = generic_event(json.loads(body), delivery)
        except json.JSONDecodeError as exc:
            return refuse(400, f"request body: not valid JSON: {exc.msg}", "/events")
        except InputError as exc:
            return refuse(400, str(exc), "/events")
        return await store(event)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"spooled": len(spool.deliveries), "rotated": len(spool.previous_deliveries),
                             "loaded_this_run": loader.loaded,
                             "load_failures": loader.failures})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        loader.start()
        loader.poke()  # events spooled by an earlier run that did not get loaded
        yield
        await run_in_threadpool(loader.stop)

    app = Starlette(
        routes=[
            Route("/github", github, methods=["POST"]),
            Route("/events", events, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.spool = spool
    app.state.loader = loader
    return app


def register(app: typer.Typer) -> None:
    @app.command("serve-webhooks")
    def serve_webhooks(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8787,
        address: Annotated[str, typer.Option("--address", help="Address to bind.")] = "127.0.0.1",
        spool: Annotated[
            Path | None, typer.Option("--spool", help="Spool file (default: beside the database).")
        ] = None,
        max_body_bytes: Annotated[
            int, typer.Option("--max-body-bytes", help="Larger bodies are refused with 413.")
        ] = MAX_BODY_BYTES,
        flush_seconds: Annotated[
            float,
            typer.Option("--flush-seconds",
                         help="How often a load that failed (the database busy) is tried again."),
        ] = 2.0,
        ack_seconds: Annotated[
            float,
            typer.Option("--ack-seconds", min=0.1,
                         help="How long a request waits for its event to be loaded before it is "
                         "answered 503 (the event stays stored and is loaded later)."),
        ] = ACK_SECONDS,
        rotate_mb: Annotated[
            float,
            typer.Option("--rotate-mb", min=0.001,
                         help="Start a new spool file once the loaded one passes this size."),
        ] = ROTATE_BYTES / 2**20,
    ) -> None:
        """Receive GitHub webhooks (POST /github) and generic CI/CD events (POST /events).

        Secrets from env GITHUB_WEBHOOK_SECRET and DORA_IMPACT_INGEST_TOKEN (at least one).
        """
        import uvicorn

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        install_log_filter()
        secret = os.environ.get(SECRET_ENV, "").strip() or None
        token = os.environ.get(TOKEN_ENV, "").strip() or None
        if not secret and not token:
            raise UserError(f"set {SECRET_ENV} (for POST /github) and/or {TOKEN_ENV} (for POST /events)")
        REDACT.add(secret)
        REDACT.add(token)
        app_ctx = ctx.obj
        spool_path = spool or app_ctx.location.beside(".webhooks.jsonl")
        with app_ctx.open():  # create or migrate the database once, then let go of it
            pass
        web = create_app(
            app_ctx.config, app_ctx.location, spool_path, github_secret=secret, ingest_token=token,
            max_body=max_body_bytes, flush_seconds=flush_seconds, ack_seconds=ack_seconds,
            rotate_bytes=int(rotate_mb * 2**20),
        )
        typer.echo(f"listening on http://{address}:{port} (spool {spool_path})", err=True)
        uvicorn.run(web, host=address, port=port, log_level="warning")
