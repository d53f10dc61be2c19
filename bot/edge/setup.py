"""The setup page: from a server without credentials to a registered GitHub App, through
GitHub's App manifest flow, without a restart.

    GET /                  (while no credentials are configured) what the bot does, what it asks
                           GitHub for (``bot.manifest``), and a form that POSTs the manifest to
                           GitHub's ``settings/apps/new`` with a random single-use ``state``
    GET /setup/callback    GitHub sends the browser here with ``code`` and ``state``: the state is
                           spent, the code traded for the App's credentials, which are stored in
                           the data directory and used from then on (``Credentials.adopt``)
    GET /installed         the manifest's ``setup_url``: where GitHub sends the user after an
                           installation

Safety: the first two exist only while the server has no credentials (404 afterwards). A
request from another machine (or through a proxy: any forwarding header; or to a name that is
not a loopback one) sees the page only with the setup token ``serve`` prints at start
(``?token=...``, as Jupyter does), so nobody who merely finds the port can register an App in
the server's name. The callback needs no token: its state was handed out only with the page,
and works once.

The page works without JavaScript: a GET form changes the webhook URL, organisation and name
(the page is rendered again with a manifest that says them), and the register button is a
plain form POST to GitHub.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.edge.local import is_local, loopback_name
from bot.github.app_registration import ConversionFailed, convert
from bot.github.clients import GitHubClients
from bot.manifest import EVENTS, NAME, NAME_MAX, PERMISSIONS, WEBHOOK_PATH, manifest
from bot.store.credentials import AlreadyConfigured, Credentials
from bot.templates import render_page

log = logging.getLogger("model_routing.setup")
STATE_LIFETIME = 3600.0  # GitHub's code lives an hour too
STATES_MAX = 100  # outstanding states; the oldest goes first
ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


class SetupStates:
    """Random ``state`` values for the manifest flow: issued with the page, spent the first time
    a callback presents one (whatever then happens), refused after ``lifetime`` seconds."""

    def __init__(self, lifetime: float = STATE_LIFETIME, limit: int = STATES_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime, self.limit, self.clock = lifetime, limit, clock
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._spent: OrderedDict[str, None] = OrderedDict()

    def issue(self) -> str:
        while len(self._issued) >= self.limit:
            self._issued.popitem(last=False)
        state = secrets.token_urlsafe(24)
        self._issued[state] = self.clock()
        return state

    def spend(self, state: str) -> str | None:
        """None when ``state`` is good (it is spent now), else why it is not."""
        issued = self._issued.pop(state, None)
        if issued is None:
            if state in self._spent:
                return "it has been used already"
            return "this server did not issue it (or has restarted since)"
        self._spent[state] = None
        while len(self._spent) > self.limit:
            self._spent.popitem(last=False)
        if self.clock() - issued > self.lifetime:
            return f"it is more than {self.lifetime / 60:.0f} minutes old"
        return None


def _page(template: str, status: int = 200, *, posts_to: str = "", **values: Any) -> HTMLResponse:
    """A page that loads nothing from anywhere, runs no script, is never framed or cached, sends
    no Referer (it may carry the token or a state), and whose forms go here or to ``posts_to``."""
    policy = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
              f"frame-ancestors 'none'; form-action 'self' {posts_to}").strip()
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
               "X-Frame-Options": "DENY", "Content-Security-Policy": policy}
    return HTMLResponse(render_page(template, **values), status, headers=headers)


def not_found() -> Response:
    return HTMLResponse(render_page("pages/not_found.html.j2"), 404)


def register_url(web_url: str, org: str, state: str) -> str:
    base = f"{web_url}/organizations/{quote(org)}" if org else web_url
    return f"{base}/settings/apps/new?state={quote(state)}"


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"the webhook URL {value!r} is not a full http(s) URL"
    if parts.fragment or parts.username or parts.password:
        return f"the webhook URL {value!r} may not hold a #fragment or a user name"
    return None


def _loopback_host(url: str) -> bool:
    return loopback_name(urlsplit(url).netloc)


class Setup:
    """The setup routes of one server. ``token``: the setup token for other machines."""

    def __init__(self, credentials: Credentials, states: SetupStates | None = None,
                 token: str | None = None) -> None:
        self.credentials = credentials
        self.states = states or SetupStates()
        self.token = token or secrets.token_urlsafe(24)
        self._exchange = asyncio.Lock()  # one callback at a time trades its code

    def allowed(self, request: Request) -> bool:
        if is_local(request.scope):
            return True
        return hmac.compare_digest(request.query_params.get("token", "").encode(), self.token.encode())

    async def page(self, request: Request) -> Response:
        if not self.allowed(request):
            return _page("pages/setup_forbidden.html.j2", 403)
        settings = self.credentials.settings
        server = str(request.base_url).rstrip("/")  # as the browser reaches this server
        query = request.query_params
        webhook = query.get("webhook_url", "").strip() or (settings.public_url or server) + WEBHOOK_PATH
        org = query.get("org", "").strip()
        name = query.get("name", "").strip() or NAME
        problems = [p for p in [_url_problem(webhook)] if p]
        if org and not ORG.fullmatch(org):
            problems.append(f"{org!r} is not an organisation's login (letters, digits and hyphens)")
        if len(name) > NAME_MAX:
            problems.append(f"the App name may have at most {NAME_MAX} characters")
        web = settings.github_web_url
        if web is None:
            problems.append(f"cannot tell GitHub's web address from GITHUB_API_URL={settings.api_url}: "
                            "set GITHUB_WEB_URL (e.g. https://github.example.com) and start again")
        body = manifest(webhook, server, name=name)
        action = register_url(web, org, self.states.issue()) if web and not problems else None
        return _page(
            "pages/setup.html.j2", 200, posts_to=web or "", body=body, manifest_json=json.dumps(body),
            manifest_pretty=json.dumps(body, indent=2), permissions=PERMISSIONS, events=EVENTS,
            webhook_url=webhook, org=org, name=name, web_url=web or "", action=action,
            problems=problems, token=query.get("token", "") if not is_local(request.scope) else "",
            unreachable=_loopback_host(webhook))

    async def callback(self, request: Request) -> Response:
        if self.credentials.configured:
            return not_found()
        state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
        why = self.states.spend(state) if state else "the link has none"
        if why is not None:
            return self._failed(400, f"This link's state cannot be used: {why}.")
        if not code:
            return self._failed(400, "GitHub's link has no code.")
        async with self._exchange:  # one callback at a time; a second one finds it configured
            return await self._connect(request.state.services.dispatcher.clients, code)

    async def _connect(self, clients: GitHubClients, code: str) -> Response:
        if self.credentials.configured:
            return not_found()
        try:
            app = await convert(clients, code)
        except ConversionFailed as exc:
            log.warning("setup: the manifest code could not be traded: %s", exc)
            return self._failed(502, f"GitHub did not hand over the App's credentials: {exc}.",
                                registered=True)
        try:
            await asyncio.to_thread(self.credentials.adopt, app)
        except AlreadyConfigured:
            return not_found()
        except OSError as exc:
            log.error("setup: cannot store the App's credentials in %s: %s", self.credentials.path, exc)
            return self._failed(500, f"The App's credentials could not be stored in "
                                f"{self.credentials.path}: {exc.strerror or exc}. Nothing was "
                                "stored; fix the data directory, then start again.", registered=True)
        log.info("setup: connected to GitHub as App %s (id %d); credentials stored in %s",
                 app.slug, app.app_id, self.credentials.path)
        web = self.credentials.settings.github_web_url or ""
        app_page = app.html_url or f"{web}/apps/{app.slug}"
        return _page("pages/setup_done.html.j2", 200, app=app, path=str(self.credentials.path),
                     install_url=app_page + "/installations/new")

    def _failed(self, status: int, what: str, registered: bool = False) -> Response:
        web = self.credentials.settings.github_web_url or "GitHub"
        return _page("pages/setup_failed.html.j2", status, what=what, registered=registered,
                     apps_url=f"{web}/settings/apps")


async def installed(request: Request) -> Response:
    """The manifest's ``setup_url``: GitHub sends the user here after an installation."""
    return _page("pages/installed.html.j2", 200,
                 installation_id=request.query_params.get("installation_id", ""))
