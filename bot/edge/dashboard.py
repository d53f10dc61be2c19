"""The dashboard of a configured server: ``GET /`` (HTML, drawn on the server with inline SVG,
no script or external asset) and ``GET /api/stats`` (the same data as JSON, from one function:
``bot.store.overview``).

Who may look: a client on this machine (``bot.edge.local.is_local``) always; anyone else only with
``MODEL_ROUTING_DASHBOARD_TOKEN``, sent as ``Authorization: Bearer TOKEN`` or through the login
form (``POST /login``), which sets an HttpOnly, SameSite=Strict cookie holding an HMAC of the
token, never the token itself. With no token configured, such clients get 404 (the pages do not
exist for them); with a token configured but not given, the login form and no data (401).

Behind a reverse proxy on the same machine every request arrives from loopback: a request
carrying a proxy's forwarding header, or addressed to another name than a loopback one, counts
as another machine's and needs the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from bot.edge.charts import bars, rate
from bot.edge.local import is_local
from bot.llm.track_words import outcome_words
from bot.store.overview import overview
from bot.templates import render_page

COOKIE = "model_routing_dashboard"
COOKIE_DAYS = 30
LOGIN_BODY_LIMIT = 4096
WRONG_TOKEN_DELAY_S = 0.5  # a guessed token costs this much per try
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}


def session_value(token: str) -> str:
    """What the cookie holds: proof of the token, useless as the token itself."""
    return hmac.new(token.encode(), b"model-routing dashboard session", hashlib.sha256).hexdigest()


def gate(request: Request) -> str:
    """"open", "login" (a token is configured and was not given) or "hidden" (404)."""
    if is_local(request.scope):
        return "open"
    token: str | None = request.state.settings.dashboard_token
    if not token:
        return "hidden"
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return "open"
    cookie = request.cookies.get(COOKIE, "")
    if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
        return "open"
    return "login"


def _not_found() -> Response:
    return PlainTextResponse("Not Found", 404)


def _login_page(error: str = "", status: int = 401) -> Response:
    return HTMLResponse(render_page("pages/login.html.j2", error=error), status, headers=HEADERS)


async def data(request: Request) -> dict[str, Any]:
    dispatcher = request.state.services.dispatcher
    budgets = dispatcher.config.budgets
    return await asyncio.to_thread(overview, dispatcher.ledger, budgets.monthly_usd, budgets.per_job_usd,
                                   describe=outcome_words)


def headline(row: dict[str, Any]) -> tuple[str, int, int]:
    """The one rate that best says how a phase's outputs fared: (what, good, of how many)."""
    if row["approved"] + row["revised"] + row["stale"]:
        return "approved", row["approved"], row["approved"] + row["revised"] + row["stale"]
    if row["merged"] + row["closed"]:
        return "merged", row["merged"], row["merged"] + row["closed"]
    if row["chains"]:
        return "green first try", row["first_try"], row["chains"]
    if row["fixes"]:
        return "fix green", row["fixes_green"], row["fixes"]
    if row["findings"]:
        return "acted on", row["acted_on"], row["findings"]
    return "", 0, 0


async def page(request: Request) -> Response:
    state = gate(request)
    if state == "hidden":
        return _not_found()
    if state == "login":
        return _login_page()
    found = await data(request)
    spend = found["spend"]
    charts = {
        "repo": bars([(r["repo"], r["cost_usd"]) for r in spend["by_repo"]],
                     budget=found["budgets"]["monthly_usd"], title="spend by repository"),
        "phase": bars([(r["phase"], r["cost_usd"]) for r in spend["by_phase"]], title="spend by phase"),
        "model": bars([(r["model"], r["cost_usd"]) for r in spend["by_model"]], title="spend by model"),
    }
    rates = []
    for row in found["outcomes"]["rows"]:
        what, good, whole = headline(row)
        rates.append({"what": what, "good": good, "whole": whole, "bar": rate(good, whole)})
    html = render_page("pages/dashboard.html.j2", d=found, charts=charts, rates=rates)
    return HTMLResponse(html, headers=HEADERS)


async def api_stats(request: Request) -> Response:
    state = gate(request)
    if state == "hidden":
        return _not_found()
    if state == "login":
        return JSONResponse({"error": "send MODEL_ROUTING_DASHBOARD_TOKEN as 'Authorization: Bearer TOKEN'"},
                            401, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"})
    return JSONResponse(await data(request), headers={"Cache-Control": "no-store"})


async def login(request: Request) -> Response:
    state = gate(request)
    if state == "hidden":
        return _not_found()
    if state == "open" and is_local(request.scope):
        return RedirectResponse("/", 303)
    body = await request.body()
    if len(body) > LOGIN_BODY_LIMIT:
        return _login_page("That form is too large.", 413)
    given = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
    token: str = request.state.settings.dashboard_token
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return _login_page("That token is not the one this server was given.")
    reply = RedirectResponse("/", 303, headers={"Cache-Control": "no-store"})
    reply.set_cookie(COOKIE, session_value(token), max_age=COOKIE_DAYS * 86400, httponly=True,
                     samesite="strict", secure=request.url.scheme == "https", path="/")
    return reply
