"""GitHub's web side, continued: installing an App registered from a manifest.

    GET  /apps/{slug}/installations/new   the "Install APP" page: a checkbox per repository
    POST /apps/{slug}/installations/new   its "Install" button

As on GitHub, the install button installs the App on the chosen repositories (one installation
per account) and sends the browser to the App's ``setup_url`` with ``installation_id`` and
``setup_action=install``, or to the installation's settings page when the App has no setup_url.
The fake holds one tenant, so every repository it holds is offered. Registered by github_web.py.
"""

from __future__ import annotations

import functools
import html
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.fakes.github_web import WebSide


def install_routes(web: WebSide) -> list[Route]:
    return [Route("/apps/{slug}/installations/new", functools.partial(install, web),
                  methods=["GET", "POST"])]


async def install(web: WebSide, request: Request) -> Response:
    from tests.fakes.github_web import with_query  # github_web imports this module

    b = web.backend
    form = await web._form(request) if request.method == "POST" else {}
    with b.state.lock:
        app = b.manifest.apps.get(request.path_params["slug"])
        if app is None:
            return await web._not_found(request, Exception())
        repos = sorted(repo.full_name for repo in b.state.repos.values())
        if request.method == "GET" or form is None:
            status, response = 200, _install_page(app.name, app.slug, repos, [])
        else:
            chosen = [name for name in repos if form.get(f"repo:{name}") == "on"]
            if not chosen:
                status, response = 422, _install_page(app.name, app.slug, repos,
                                                      ["choose at least one repository"])
            else:
                installed = [b.manifest.install(app, name) for name in chosen]
                setup_url = app.manifest.get("setup_url")
                target = (with_query(setup_url, installation_id=str(installed[0].id),
                                     setup_action="install") if setup_url
                          else f"{b.web_url}/settings/installations/{installed[0].id}")
                status, response = 302, RedirectResponse(target, status_code=302)
    web._record(request, form or {}, status)
    return response


def _install_page(name: str, slug: str, repos: list[str], problems: list[str]) -> Response:
    from tests.fakes.github_web import _errors, _page  # github_web imports this module

    boxes = "".join(
        f'<p><input type="checkbox" id="repo-{i}" name="repo:{html.escape(full)}">'
        f'<label for="repo-{i}" style="display:inline">{html.escape(full)}</label></p>'
        for i, full in enumerate(repos))
    body = (f"<h1>Install {html.escape(name)}</h1>" + (_errors(problems) if problems else "")
            + f'<form method="post" action="/apps/{html.escape(slug)}/installations/new">'
            f"<h2>Repository access</h2>{boxes or '<p>No repositories.</p>'}"
            '<button type="submit">Install</button></form>')
    return _page(f"Install {name}", body, 422 if problems else 200)
