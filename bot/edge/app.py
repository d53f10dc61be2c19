"""The App server's ASGI app: the webhook edge, /healthz and /metrics, the web pages at ``/``,
with the queue services in its lifespan (``model-routing serve`` runs it on uvicorn).

``GET /`` is the setup page while the server has no GitHub credentials (``bot.edge.setup``) and
the dashboard once it has them (``bot.edge.dashboard``, with ``POST /login`` and
``GET /api/stats``). The credentials may arrive while the server runs (the setup page stores
them): the webhook endpoint is told the new secret, and the jobs read them from the same holder
(``bot.store.credentials.Credentials``).

``POST /webhook`` is ``bot.edge.webhook.WebhookEndpoint``, a plain ASGI callable put in front of
starlette (the hot path); starlette serves /healthz, /metrics and everything else, and owns
the lifespan. Everything lives in the lifespan state of the app; there are no module globals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.config import Config
from bot.edge import dashboard
from bot.edge.ingest import Ingest
from bot.edge.metrics import EdgeMetrics, collect
from bot.edge.setup import Setup, installed
from bot.edge.webhook import MAX_BODY, Receive, Scope, Send, WebhookEndpoint
from bot.github.clients import RetryPolicy
from bot.settings import Settings
from bot.store.credentials import Credentials
from bot.work.compose import handler_router
from bot.work.queue import QueueOptions
from bot.work.services import Services

__all__ = ["MAX_BODY", "UVICORN_SETTINGS", "Edge", "create_app"]
log = logging.getLogger("model_routing.server")
# uvicorn's C parser and event loop (both in uvicorn[standard]) and no access log: per request
# they cost less than any Python the edge runs. bench/ingress runs its floor on the same.
UVICORN_SETTINGS: dict[str, Any] = {"http": "httptools", "loop": "uvloop", "access_log": False}


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
    credentials: Credentials | None = None,
) -> Edge:
    """The ASGI app. Its lifespan builds the store, queue, dispatcher and workers, and stops them.
    ``credentials``: default, resolved from ``settings`` and the data directory."""
    credentials = credentials if credentials is not None else Credentials.resolve(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services = Services.build(settings, config, workers=workers, embedded=True,
                                  dry_run=dry_run, options=options, retry=retry,
                                  credentials=credentials)
        ingest = Ingest(services.store, services.queue.enqueue)
        ingest.start()
        services.start()
        if credentials.configured and credentials.settings.webhook_secret is None:
            log.warning("GITHUB_WEBHOOK_SECRET is not set: unsigned webhooks are accepted from "
                        "loopback clients only, everything else gets 401")
        try:
            yield {"settings": settings, "services": services, "ingest": ingest,
                   "edge": EdgeMetrics(), "dry_run": dry_run}
        finally:
            await asyncio.to_thread(ingest.stop)  # commits what is still queued
            await asyncio.to_thread(services.stop)

    webhook = WebhookEndpoint(credentials.settings.webhook_secret, handler_router().handles)
    credentials.watch(lambda now: webhook.use_secret(now.webhook_secret))
    setup = Setup(credentials)

    async def home(request: Request) -> Response:
        if not credentials.configured:
            return await setup.page(request)
        return await dashboard.page(request)

    routes = [
        Route("/webhook", webhook, methods=["POST"]),  # reached only by other methods: 405
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/", home, methods=["GET"]),
        Route("/setup/callback", setup.callback, methods=["GET"]),  # 404 once configured
        Route("/installed", installed, methods=["GET"]),
        Route("/login", dashboard.login, methods=["POST"]),
        Route("/api/stats", dashboard.api_stats, methods=["GET"]),
    ]
    return Edge(Starlette(routes=routes, lifespan=lifespan), webhook, setup)


class Edge:
    """``POST /webhook`` straight to its endpoint, everything else (lifespan included) to
    starlette: the hot path skips starlette's middleware stack and routing."""

    def __init__(self, app: Starlette, webhook: WebhookEndpoint, setup: Setup) -> None:
        self.app = app
        self.webhook = webhook
        self.setup = setup  # its token is what ``serve`` prints for other machines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/webhook":
            await self.webhook(scope, receive, send)
        else:
            await self.app(scope, receive, send)
