"""``model-routing serve``: the webhook edge (starlette on uvicorn) with embedded queue workers.

``POST /webhook`` checks, in order: size (413), signature (401), the GitHub headers (400),
content type (415) and JSON (400). It answers ``ping`` itself; any other event is stored
durably through the group-commit writer, enqueued when a handler wants it, and answered 202
with ``{"delivery", "status": queued | duplicate | skipped}``. Everything lives in the
lifespan state of the app; there are no module globals.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from githubkit.webhooks import verify
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.config import Config
from bot.deliveries import PENDING, SKIPPED, NewDelivery
from bot.events import parse_event
from bot.github import RetryPolicy
from bot.ingest import Ingest
from bot.metrics import EdgeMetrics, collect
from bot.queue import QueueOptions
from bot.settings import Settings
from bot.worker import Services, startup

log = logging.getLogger("model_routing.server")
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


class Reject(Exception):
    def __init__(self, status: int, result: str, message: str) -> None:
        super().__init__(message)
        self.status, self.result, self.message = status, result, message


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Reject(413, "too_large", f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted too: a missing or false Content-Length
        size += len(chunk)
        if size > limit:
            raise Reject(413, "too_large", f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_signature(request: Request, body: bytes, secret: str | None) -> None:
    signature = request.headers.get("x-hub-signature-256")
    if secret is None:
        if not _is_loopback(request):
            raise Reject(401, "unauthorized", "no webhook secret is configured (GITHUB_WEBHOOK_SECRET); "
                         "unsigned deliveries are accepted from loopback clients only")
        return
    if not signature:
        raise Reject(401, "unauthorized", "missing X-Hub-Signature-256 header")
    if not signature.startswith("sha256=") or not verify(secret, body, signature):
        raise Reject(401, "unauthorized", "X-Hub-Signature-256 does not match the body")


def _json_payload(request: Request, body: bytes) -> tuple[bytes, dict[str, Any]]:
    """The payload as JSON bytes and parsed, from either content type GitHub can send."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in fields:
            raise Reject(400, "bad_request", "form-encoded body has no `payload` field")
        body = fields["payload"][0].encode()
    elif ctype != "application/json":
        raise Reject(415, "unsupported_media_type",
                     f"content type {ctype or '(none)'!r} is not supported; send application/json "
                     "(or application/x-www-form-urlencoded with a `payload` field)")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Reject(400, "bad_request", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Reject(400, "bad_request", f"payload must be a JSON object, not {type(data).__name__}")
    return body, data


async def webhook(request: Request) -> Response:
    state = request.state
    metrics: EdgeMetrics = state.edge
    event_name = request.headers.get("x-github-event")
    try:
        body = await _read_body(request, MAX_BODY)
        _check_signature(request, body, state.settings.webhook_secret)
        delivery_id = request.headers.get("x-github-delivery")
        if not event_name or not delivery_id:
            raise Reject(400, "bad_request", "missing X-GitHub-Event or X-GitHub-Delivery header")
        if not _DELIVERY_ID.match(delivery_id):
            raise Reject(400, "bad_request", "X-GitHub-Delivery is not a delivery id")
        raw, payload = _json_payload(request, body)
    except Reject as exc:
        metrics.count(event_name, exc.result)
        log.info("webhook rejected (%d): %s", exc.status, exc.message)
        return JSONResponse({"error": exc.message}, exc.status)
    if event_name == "ping":
        metrics.count(event_name, "pong")
        return JSONResponse({"msg": "pong", "zen": payload.get("zen"), "hook_id": payload.get("hook_id")})
    services: Services = state.services
    event = parse_event(event_name, payload, delivery_id)
    wanted = services.dispatcher.handles(event)
    record = NewDelivery(delivery_id, event_name, event.action, event.repo,
                         raw if wanted else b"", PENDING if wanted else SKIPPED)
    try:
        status = await state.ingest.submit(record)
    except Exception as exc:  # noqa: BLE001 - storage down: GitHub shows the failure and can redeliver
        metrics.count(event_name, "unavailable")
        return JSONResponse({"error": f"could not store the delivery: {type(exc).__name__}"}, 503)
    metrics.count(event_name, status)
    return JSONResponse({"delivery": delivery_id, "status": status}, 202)


async def healthz(request: Request) -> Response:
    services: Services = request.state.services
    storage_ok = await asyncio.to_thread(services.store.ping)
    try:
        pending: int | None = await asyncio.to_thread(services.queue.pending)
    except Exception:  # noqa: BLE001 - reported, not raised
        pending = None
    ok = storage_ok and pending is not None
    body = {
        "status": "ok" if ok else "unavailable",
        "storage": {"backend": services.store.backend, "ok": storage_ok},
        "queue": {"backend": services.queue_backend, "ok": pending is not None, "pending": pending},
        "workers": services.workers,
        "dry_run": request.state.dry_run,
    }
    return JSONResponse(body, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    state = request.state
    answers = dict(state.edge.answers)  # a copy taken on the loop, which is where it changes
    try:
        text = await asyncio.to_thread(collect, state.services, state.ingest, answers)
    except Exception as exc:  # noqa: BLE001 - storage or queue down: /healthz says which
        log.warning("metrics unavailable: %s", exc)
        return PlainTextResponse(f"metrics unavailable: {type(exc).__name__}\n", 503)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(
    settings: Settings,
    config: Config | None = None,
    *,
    workers: int = 2,
    dry_run: bool = False,
    options: QueueOptions | None = None,
    retry: RetryPolicy | None = None,
) -> Starlette:
    """The ASGI app. Its lifespan builds the store, queue, dispatcher and workers, and stops them."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services = Services.build(settings, config, workers=workers, embedded=True,
                                  dry_run=dry_run, options=options, retry=retry)
        ingest = Ingest(services.store, services.queue.enqueue)
        ingest.start()
        services.start()
        if settings.webhook_secret is None:
            log.warning("GITHUB_WEBHOOK_SECRET is not set: unsigned webhooks are accepted from "
                        "loopback clients only, everything else gets 401")
        try:
            yield {"settings": settings, "services": services, "ingest": ingest,
                   "edge": EdgeMetrics(), "dry_run": dry_run}
        finally:
            await asyncio.to_thread(ingest.stop)  # commits what is still queued
            await asyncio.to_thread(services.stop)

    routes = [
        Route("/webhook", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    started = startup(args, min_workers=0)
    if started is None:
        return 2
    settings, config = started
    app = create_app(settings, config, workers=args.workers, dry_run=args.dry_run)
    log.info("serving on http://%s:%d (queue: %s, %d worker threads%s)", args.host, args.port,
             "redis" if settings.redis_url else f"sqlite in {settings.data_dir}", args.workers,
             ", dry run" if args.dry_run else "")
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info",
                lifespan="on", timeout_graceful_shutdown=30)
    return 0
