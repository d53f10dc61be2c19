"""GitHub's *web* side (https://github.com), as far as the App manifest flow needs it.

It is served by its own uvicorn on its own port (``FakeGitHub.web_url``), apart from the REST
API (``FakeGitHub.url``, the https://api.github.com of the fake): a page posts a manifest to the
web side, never to the API. These routes are not part of GitHub's REST API, so they are not
checked against the OpenAPI description; that exemption is exactly this route list: any other
path here answers 404, and the API server still refuses (and records as a violation) any of
these paths sent to it.

    POST /settings/apps/new                          manifest (form) + state (query or form)
    POST /organizations/{org}/settings/apps/new      the same, for an organization's App
    POST .../settings/apps/new/confirm               the confirm page's "Create GitHub App" button
    GET  /settings/apps/{slug}, /organizations/{org}/settings/apps/{slug}, /apps/{slug}
    GET, POST /apps/{slug}/installations/new         install the App (github_web_install.py)

A valid manifest is answered with GitHub's confirm page: a real HTML form whose name field can
be edited and whose button says "Create GitHub App for OWNER". Its submission registers the App
and answers 302 to ``redirect_url?code=CODE&state=STATE`` (to the App's settings page when the
manifest has no redirect_url). A bad manifest is answered 422 with an HTML page listing every
problem. The signed-in user is ``FakeGitHub.web_login`` ("octocat").
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.github_manifest import ManifestApp, Pending, permission_levels, validate_manifest
from tests.fakes.github_web_install import install_routes

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

FORM_TYPE = "application/x-www-form-urlencoded"
STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 12px 24px; font-weight: 600; }
main { max-width: 640px; margin: 24px auto; background: #fff; border: 1px solid #d0d7de;
       border-radius: 6px; padding: 16px 24px; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin-top: 20px; }
label { display: block; font-weight: 600; margin-bottom: 4px; }
input[type=text] { width: 100%; box-sizing: border-box; padding: 5px 12px; font-size: 14px;
                   border: 1px solid #d0d7de; border-radius: 6px; }
button { margin-top: 16px; background: #1f883d; color: #fff; border: 0; border-radius: 6px;
         padding: 6px 16px; font-size: 14px; font-weight: 600; cursor: pointer; }
.flash-error { background: #ffebe9; border: 1px solid #ff818266; border-radius: 6px;
               padding: 8px 16px; }
code { background: #afb8c133; padding: 0 4px; border-radius: 4px; }
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)} · GitHub (fake)</title><style>{STYLE}</style></head>"
        f"<body><header>GitHub (fake)</header><main>{body}</main></body></html>\n",
        status_code=status)


def _errors(problems: list[str]) -> str:
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return f'<div class="flash-error" id="errors"><ul>{items}</ul></div>'


def with_query(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


class WebSide:
    """The Starlette app of the web side, over the same Backend (state, manifest registry)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        org = "/organizations/{org}"
        self.app = Starlette(routes=[
            Route("/settings/apps/new", self.new_app, methods=["POST"]),
            Route(org + "/settings/apps/new", self.new_app, methods=["POST"]),
            Route("/settings/apps/new/confirm", self.confirm, methods=["POST"]),
            Route(org + "/settings/apps/new/confirm", self.confirm, methods=["POST"]),
            Route("/settings/apps/{slug}", self.app_page, methods=["GET"]),
            Route(org + "/settings/apps/{slug}", self.app_page, methods=["GET"]),
            Route("/apps/{slug}", self.app_page, methods=["GET"]),
            *install_routes(self),
        ])
        self.app.add_exception_handler(404, self._not_found)
        self.app.add_exception_handler(405, self._not_found)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        self._record(request, {}, 404)
        return _page("Page not found", "<h1>404: this is not the web page you are looking for"
                     "</h1>", 404)

    def _record(self, request: Request, form: dict[str, str], status: int) -> None:
        with self.backend.state.lock:
            self.backend.manifest.web_requests.append({
                "method": request.method, "path": request.url.path,
                "query": dict(request.query_params), "form": form, "status": status})

    async def _form(self, request: Request) -> dict[str, str] | None:
        kind = request.headers.get("content-type", FORM_TYPE).split(";")[0].strip().lower()
        if kind != FORM_TYPE:
            return None
        return dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                              keep_blank_values=True))

    def _owner(self, request: Request) -> tuple[str, str]:
        org = request.path_params.get("org")
        return (org, "Organization") if org else (self.backend.manifest.login, "User")

    # -- POST .../settings/apps/new --------------------------------------------------------
    async def new_app(self, request: Request) -> Response:
        form = await self._form(request)
        if form is None:
            self._record(request, {}, 415)
            return _page("Unsupported form", _errors([
                f"the manifest must be posted as an HTML form ({FORM_TYPE})"]), 415)
        state = request.query_params.get("state", form.get("state"))
        b = self.backend
        with b.state.lock:
            manifest, problems = validate_manifest(form.get("manifest"),
                                                   permission_levels(b.openapi))
            if problems or manifest is None:
                status, response = 422, _page("Invalid GitHub App manifest", (
                    "<h1>Invalid GitHub App manifest</h1>"
                    "<p>GitHub could not register an App from this manifest:</p>"
                    + _errors(problems)), 422)
            else:
                owner, owner_type = self._owner(request)
                pending = b.manifest.hold(manifest, owner, owner_type, state)
                status, response = 200, self._confirm_page(request, pending,
                                                           manifest.get("name") or "", [])
        self._record(request, form, status)
        return response

    def _confirm_page(self, request: Request, pending: Pending, name: str,
                      problems: list[str]) -> HTMLResponse:
        m = pending.manifest
        base = f"/organizations/{pending.owner}" if pending.owner_type == "Organization" else ""
        perms = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(str(v))}</li>"
                        for k, v in sorted((m.get("default_permissions") or {}).items()))
        events = "".join(f"<li><code>{html.escape(str(e))}</code></li>"
                         for e in m.get("default_events") or [])
        hook = (m.get("hook_attributes") or {}).get("url")
        owner = html.escape(pending.owner)
        body = (
            f"<h1>Create GitHub App for {owner}</h1>"
            + (_errors(problems) if problems else "")
            + f'<form method="post" action="{base}/settings/apps/new/confirm" id="confirm">'
            f'<input type="hidden" name="authenticity_token" value="{pending.token}">'
            + (f'<input type="hidden" name="state" value="{html.escape(pending.state)}">'
               if pending.state is not None else "")
            + '<label for="name">GitHub App name</label>'
            f'<input type="text" id="name" name="name" value="{html.escape(name)}" '
            f'maxlength="34" required>'
            f'<h2>Homepage URL</h2><p>{html.escape(str(m.get("url")))}</p>'
            + (f"<h2>Description</h2><p>{html.escape(str(m['description']))}</p>"
               if m.get("description") else "")
            + (f"<h2>Webhook URL</h2><p>{html.escape(str(hook))}</p>" if hook else "")
            + f"<h2>Permissions</h2><ul>{perms or '<li>metadata: read</li>'}</ul>"
            + (f"<h2>Subscribe to events</h2><ul>{events}</ul>" if events else "")
            + f'<button type="submit">Create GitHub App for {owner}</button></form>')
        return _page("Create GitHub App", body, 422 if problems else 200)

    # -- POST .../settings/apps/new/confirm ------------------------------------------------
    async def confirm(self, request: Request) -> Response:
        form = await self._form(request) or {}
        b = self.backend
        response: Response
        with b.state.lock:
            pending = b.manifest.pending.get(form.get("authenticity_token", ""))
            owner, _ = self._owner(request)
            if pending is None or pending.owner != owner or pending.expires <= time.time():
                status, response = 422, _page("Registration expired", (
                    "<h1>This App registration expired</h1>" + _errors([
                        "authenticity_token: unknown, used or expired (a manifest must be "
                        "confirmed within one hour); post the manifest again"])), 422)
            else:
                name = form.get("name", "").strip()
                problem = b.manifest.name_problem(name, {b.app.slug})
                if problem:
                    status, response = 422, self._confirm_page(request, pending, name, [problem])
                else:
                    app, code = b.manifest.register(b.state, pending, name)
                    redirect = pending.manifest.get("redirect_url")
                    if redirect:
                        target = with_query(redirect, code=code.value, state=pending.state)
                    else:  # GitHub shows the new App's settings; no code is handed out
                        target = f"{self._settings_base(app)}/settings/apps/{app.slug}"
                    status, response = 302, RedirectResponse(target, status_code=302)
        self._record(request, form, status)
        return response

    def _settings_base(self, app: ManifestApp) -> str:
        if app.owner_type == "Organization":
            return f"{self.backend.web_url}/organizations/{app.owner_login}"
        return self.backend.web_url

    # -- GET pages of a registered App -------------------------------------------------------
    async def app_page(self, request: Request) -> Response:
        with self.backend.state.lock:
            app = self.backend.manifest.apps.get(request.path_params["slug"])
            if app is None:
                return await self._not_found(request, Exception())
            rows = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
                           for k, v in sorted(app.permissions.items()))
            body = (f"<h1>{html.escape(app.name)}</h1><p>App ID: <code>{app.app_id}</code>, "
                    f"client ID: <code>{html.escape(app.client_id)}</code>, owned by "
                    f"{html.escape(app.owner_login)}</p><h2>Permissions</h2><ul>{rows}</ul>")
        self._record(request, {}, 200)
        return _page(app.name, body)


def web_app(backend: Backend) -> Any:
    return WebSide(backend).app
