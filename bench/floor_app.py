"""The framework floor of bench/ingress: a bare Starlette endpoint that reads the body and
answers 202, nothing else. Run by uvicorn with the same settings as ``model-routing serve``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def webhook(request: Request) -> Response:
    await request.body()
    return Response(status_code=202)


app = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])
