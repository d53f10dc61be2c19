"""The App endpoints: ``GET /app``, installations, installation tokens, and the manifest
conversion ``POST /app-manifests/{code}/conversions``.

The fake knows several App identities: the built-in one (``Backend.app``) and every App
registered through the manifest flow (``Backend.manifest.apps``). JWT routes answer for the App
whose key signed the JWT (``call.app``, set by the server's authentication).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes import github_shapes_git as git_shapes
from tests.fakes.github_auth import AppIdentity
from tests.fakes.github_http import Call, Reply, Routes, not_found, paginate
from tests.fakes.github_manifest import Installation, ManifestApp, app_json, conversion_json
from tests.fakes.github_routes_repo import repo_or_404

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend


def _identity(b: Backend, call: Call) -> AppIdentity:
    return call.app if call.app is not None else b.app


def get_app(b: Backend, call: Call) -> Reply:
    a = _identity(b, call)
    if isinstance(a, ManifestApp):
        return Reply(200, app_json(call.base_url, b.web_url, b.state, a))
    owner = b.state.user(a.owner_login, "Organization")
    return Reply(200, git_shapes.app(call.base_url, a.app_id, a.slug, owner, a.client_id))


def _installation_json(b: Backend, call: Call, a: AppIdentity, installation_id: int,
                       account_login: str, inst: Installation | None = None) -> dict[str, Any]:
    body = git_shapes.installation(call.base_url, installation_id, a.app_id, a.slug,
                                   a.client_id, b.state.user(account_login))
    if isinstance(a, ManifestApp):
        body.update({"permissions": dict(a.permissions), "events": list(a.events),
                     "repository_selection": "selected",
                     "html_url": f"{b.web_url}/settings/installations/{installation_id}"})
        if inst is not None:
            body["created_at"] = body["updated_at"] = inst.created_at
    return body


def _installations(b: Backend, a: AppIdentity) -> list[tuple[int, str, Installation | None]]:
    if isinstance(a, ManifestApp):
        return [(i.id, i.account, i) for i in a.installations.values()]
    return [(a.installation_id, a.owner_login, None)]


def list_installations(b: Backend, call: Call) -> Reply:
    a = _identity(b, call)

    def render(found: tuple[int, str, Installation | None]) -> dict[str, Any]:
        body = _installation_json(b, call, a, *found)
        # the description of this operation (not of the others) has the account as allOf
        # [Simple User, Enterprise], so it must carry Enterprise's required keys as well
        account = body["account"]
        account.update({"name": account["login"], "slug": account["login"].lower(),
                        "created_at": body["created_at"], "updated_at": body["updated_at"]})
        return body

    return paginate(call, _installations(b, a), render)


def get_installation(b: Backend, call: Call) -> Reply:
    a = _identity(b, call)
    wanted = int(call.params["installation_id"])
    for installation_id, account, inst in _installations(b, a):
        if installation_id == wanted:
            return Reply(200, _installation_json(b, call, a, installation_id, account, inst))
    raise not_found()


def get_repo_installation(b: Backend, call: Call) -> Reply:
    a = _identity(b, call)
    repo = repo_or_404(b.state, call)
    if isinstance(a, ManifestApp):
        inst = a.installation_for(repo.full_name)
        if inst is None:
            raise not_found()
        return Reply(200, _installation_json(b, call, a, inst.id, inst.account, inst))
    return Reply(200, _installation_json(b, call, a, a.installation_id, repo.owner.login))


def create_access_token(b: Backend, call: Call) -> Reply:
    a = _identity(b, call)
    wanted = int(call.params["installation_id"])
    if wanted not in {installation_id for installation_id, _, _ in _installations(b, a)}:
        raise not_found()
    token = a.issue_token(b.state, wanted)
    if isinstance(a, ManifestApp):
        return Reply(201, {"token": token.value, "expires_at": token.expires_at,
                           "permissions": dict(a.permissions),
                           "repository_selection": "selected"})
    return Reply(201, {"token": token.value, "expires_at": token.expires_at,
                       "permissions": git_shapes.APP_PERMISSIONS,
                       "repository_selection": "all"})


def convert_manifest(b: Backend, call: Call) -> Reply:
    """Trade the temporary code for the App's id, key and secrets: once, within the hour."""
    app = b.manifest.redeem(call.params["code"])
    if app is None:
        raise not_found()
    return Reply(201, conversion_json(call.base_url, b.web_url, b.state, app))


def register(routes: Routes) -> None:
    routes.add("GET", "/app", get_app, auth="jwt")
    routes.add("GET", "/app/installations", list_installations, auth="jwt")
    routes.add("GET", "/app/installations/{installation_id}", get_installation, auth="jwt")
    routes.add("GET", "/repos/{owner}/{repo}/installation", get_repo_installation, auth="jwt")
    routes.add("POST", "/app/installations/{installation_id}/access_tokens",
               create_access_token, auth="jwt")
    routes.add("POST", "/app-manifests/{code}/conversions", convert_manifest, auth="none")
