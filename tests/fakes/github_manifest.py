"""GitHub's App manifest flow in the fake: manifest validation, pending registrations, codes,
and the Apps registered from a manifest (each one more App identity the fake accepts).

The flow (docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest):
a page POSTs a form field ``manifest`` (JSON) and ``state`` to GitHub's *web* side
(``/settings/apps/new`` or ``/organizations/ORG/settings/apps/new``, see github_web.py); the user
confirms on GitHub's page; GitHub registers the App and redirects to the manifest's
``redirect_url`` with ``?code=...&state=...``; the App's server then trades the code at the
*API* for the App's credentials: ``POST /app-manifests/{code}/conversions`` (github_routes_apps.py).
All three steps must happen within one hour; a code can be traded once.

Validation follows the documented manifest parameters. Permission names and levels come from
the ``app-permissions`` schema of GitHub's OpenAPI description when it is loaded (the table
below is the fallback and is checked against it by tests/test_fakes_manifest.py).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.fakes.github_auth import AppIdentity
from tests.fakes.github_shapes import node_id, user
from tests.fakes.github_state import State, now_iso

if TYPE_CHECKING:
    from tests.fakes.openapi import OpenAPI

CODE_LIFETIME = 3600.0  # "You must complete all three steps ... within one hour."
NAME_MAX = 34  # GitHub App names are at most 34 characters
CALLBACK_URLS_MAX = 10

# permission -> levels a manifest may ask for (fallback for the OpenAPI `app-permissions`)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "actions": ("read", "write"), "administration": ("read", "write"),
    "attestations": ("read", "write"), "checks": ("read", "write"),
    "codespaces": ("read", "write"), "contents": ("read", "write"),
    "dependabot_secrets": ("read", "write"), "deployments": ("read", "write"),
    "discussions": ("read", "write"), "environments": ("read", "write"),
    "issues": ("read", "write"), "merge_queues": ("read", "write"),
    "metadata": ("read", "write"), "packages": ("read", "write"), "pages": ("read", "write"),
    "pull_requests": ("read", "write"), "repository_custom_properties": ("read", "write"),
    "repository_hooks": ("read", "write"), "repository_projects": ("read", "write", "admin"),
    "secret_scanning_alerts": ("read", "write"), "secrets": ("read", "write"),
    "security_events": ("read", "write"), "single_file": ("read", "write"),
    "statuses": ("read", "write"), "vulnerability_alerts": ("read", "write"),
    "workflows": ("write",), "members": ("read", "write"),
    "organization_administration": ("read", "write"),
    "organization_custom_roles": ("read", "write"),
    "organization_custom_org_roles": ("read", "write"),
    "organization_custom_properties": ("read", "write", "admin"),
    "organization_announcement_banners": ("read", "write"),
    "organization_events": ("read",), "organization_hooks": ("read", "write"),
    "organization_personal_access_tokens": ("read", "write"),
    "organization_personal_access_token_requests": ("read", "write"),
    "organization_plan": ("read",), "organization_projects": ("read", "write", "admin"),
    "organization_packages": ("read", "write"), "organization_secrets": ("read", "write"),
    "organization_self_hosted_runners": ("read", "write"),
    "organization_user_blocking": ("read", "write"),
    "email_addresses": ("read", "write"), "followers": ("read", "write"),
    "git_ssh_keys": ("read", "write"), "gpg_keys": ("read", "write"),
    "interaction_limits": ("read", "write"), "profile": ("write",), "starring": ("read", "write"),
}

# webhook events an App can subscribe to (default_events)
EVENTS = frozenset("""
    branch_protection_configuration branch_protection_rule check_run check_suite
    code_scanning_alert commit_comment create custom_property custom_property_values delete
    dependabot_alert deploy_key deployment deployment_protection_rule deployment_review
    deployment_status discussion discussion_comment fork gollum issue_comment
    issue_dependencies issues label member membership merge_group milestone org_block
    organization package page_build personal_access_token_request project project_card
    project_column projects_v2 projects_v2_item projects_v2_status_update public pull_request
    pull_request_review pull_request_review_comment pull_request_review_thread push
    registry_package release repository repository_advisory repository_dispatch
    repository_import repository_ruleset repository_vulnerability_alert secret_scanning_alert
    secret_scanning_alert_location secret_scanning_scan security_and_analysis star status
    sub_issues team team_add watch workflow_dispatch workflow_job workflow_run
""".split())
# sent to every App whatever it subscribes to, so not a default_event
GLOBAL_EVENTS = frozenset({"installation", "installation_repositories", "installation_target",
                           "github_app_authorization", "meta", "ping", "security_advisory",
                           "marketplace_purchase", "sponsorship"})
# an event is only delivered with one of these permissions (the well-known ones)
EVENT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "check_run": ("checks",), "check_suite": ("checks",),
    "issues": ("issues",), "issue_comment": ("issues", "pull_requests"),
    "milestone": ("issues", "pull_requests"),
    "pull_request": ("pull_requests",), "pull_request_review": ("pull_requests",),
    "pull_request_review_comment": ("pull_requests",),
    "pull_request_review_thread": ("pull_requests",),
    "push": ("contents",), "create": ("contents",), "delete": ("contents",),
    "release": ("contents",), "commit_comment": ("contents",), "status": ("statuses",),
    "deployment": ("deployments",), "deployment_status": ("deployments",),
    "workflow_run": ("actions",), "workflow_job": ("actions",),
    "discussion": ("discussions",), "discussion_comment": ("discussions",),
}
BOOLEANS = ("public", "request_oauth_on_install", "setup_on_update")


def permission_levels(openapi: OpenAPI | None) -> dict[str, tuple[str, ...]]:
    """Permission name -> allowed levels, from GitHub's description when loaded."""
    if openapi is not None:
        schema = openapi.document.get("components", {}).get("schemas", {}).get("app-permissions")
        if schema and schema.get("properties"):
            return {name: tuple(v for v in (prop.get("enum") or ()) if v is not None)
                    for name, prop in schema["properties"].items()}
    return dict(PERMISSIONS)


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_manifest(raw: str | None, levels: dict[str, tuple[str, ...]]
                      ) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest as a dict and every problem found (empty when GitHub would accept it)."""
    if raw is None or not raw.strip():
        return None, ["manifest: the form field `manifest` (the JSON-encoded manifest) is missing"]
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        return None, [f"manifest: not valid JSON ({exc})"]
    if not isinstance(manifest, dict):
        return None, ["manifest: must be a JSON object"]
    problems: list[str] = []

    def url_field(key: str, value: Any, required: bool = False) -> None:
        if value is None:
            if required:
                problems.append(f"{key}: required")
        elif not _is_url(value):
            problems.append(f"{key}: {value!r} is not a full http(s) URL")

    url_field("url", manifest.get("url"), required=True)
    name = manifest.get("name")
    if name is not None and not isinstance(name, str):
        problems.append("name: must be a string")
    elif isinstance(name, str) and len(name) > NAME_MAX:
        problems.append(f"name: {name!r} is longer than {NAME_MAX} characters")
    description = manifest.get("description")
    if description is not None and not isinstance(description, str):
        problems.append("description: must be a string")
    for key in BOOLEANS:
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"{key}: must be a boolean (true or false), not {manifest[key]!r}")
    url_field("redirect_url", manifest.get("redirect_url"))
    url_field("setup_url", manifest.get("setup_url"))
    callbacks = manifest.get("callback_urls")
    if callbacks is not None:
        if not isinstance(callbacks, list):
            problems.append("callback_urls: must be an array of URLs")
        else:
            if len(callbacks) > CALLBACK_URLS_MAX:
                problems.append(f"callback_urls: at most {CALLBACK_URLS_MAX} URLs "
                                f"({len(callbacks)} given)")
            for i, value in enumerate(callbacks):
                url_field(f"callback_urls[{i}]", value)
    if manifest.get("request_oauth_on_install") is True and not callbacks:
        problems.append("callback_urls: required when request_oauth_on_install is true")

    hook = manifest.get("hook_attributes")
    hook_active = True
    if hook is not None:
        if not isinstance(hook, dict):
            problems.append("hook_attributes: must be an object")
            hook = None
        else:
            if "active" in hook and not isinstance(hook["active"], bool):
                problems.append("hook_attributes.active: must be a boolean")
            hook_active = hook.get("active", True) is not False
            url_field("hook_attributes.url", hook.get("url"), required=True)

    permissions = manifest.get("default_permissions")
    if permissions is not None:
        if not isinstance(permissions, dict):
            problems.append("default_permissions: must be an object of permission: level")
            permissions = {}
        for perm, level in permissions.items():
            if perm not in levels:
                problems.append(f"default_permissions.{perm}: not a GitHub App permission")
            elif level not in levels[perm]:
                problems.append(f"default_permissions.{perm}: {level!r} is not a level of this "
                                f"permission (one of {', '.join(levels[perm])})")
    granted = permissions if isinstance(permissions, dict) else {}

    events = manifest.get("default_events")
    if events is not None:
        if not isinstance(events, list):
            problems.append("default_events: must be an array of event names")
            events = []
        for event in events:
            if event in GLOBAL_EVENTS:
                problems.append(f"default_events: {event!r} is sent to every App and cannot be "
                                "subscribed to")
            elif not isinstance(event, str) or event not in EVENTS:
                problems.append(f"default_events: {event!r} is not a webhook event")
            elif event in EVENT_PERMISSIONS and not any(
                    p in granted for p in EVENT_PERMISSIONS[event]):
                needs = " or ".join(EVENT_PERMISSIONS[event])
                problems.append(f"default_events: {event!r} needs the {needs} permission in "
                                "default_permissions")
        if events and hook_active and not (isinstance(hook, dict) and hook.get("url")):
            if hook is None:
                problems.append("hook_attributes.url: required when default_events is not empty")
    return manifest, problems


def slugify(name: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in name.strip())
    return "-".join(part for part in out.split("-") if part)


@dataclass
class Installation:
    id: int
    account: str  # login of the user or organization it is installed on
    repos: set[str] = field(default_factory=set)  # lower-case full names
    created_at: str = field(default_factory=now_iso)


@dataclass
class ManifestApp(AppIdentity):
    """An App registered from a manifest: one more identity whose JWTs the fake accepts."""

    name: str = ""
    owner_type: str = "User"  # User | Organization
    manifest: dict[str, Any] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    client_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    created_at: str = field(default_factory=now_iso)
    installations: dict[int, Installation] = field(default_factory=dict)
    converted: bool = False  # its code was traded for the credentials

    @property
    def description(self) -> str | None:
        return self.manifest.get("description")

    @property
    def hook_url(self) -> str | None:
        hook = self.manifest.get("hook_attributes") or {}
        return hook.get("url")

    def installation_for(self, full_name: str) -> Installation | None:
        for inst in self.installations.values():
            if full_name.lower() in inst.repos:
                return inst
        return None

    def sign(self, body: bytes) -> str:
        """``X-Hub-Signature-256`` of a webhook delivery from this App."""
        return "sha256=" + hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Pending:
    """A validated manifest waiting for the user's click on the confirm page."""

    token: str
    manifest: dict[str, Any]
    owner: str
    owner_type: str
    state: str | None
    expires: float


@dataclass
class Code:
    value: str
    slug: str
    expires: float
    used: bool = False


class ManifestRegistry:
    """Everything the manifest flow holds; cleared by the fake's reset()."""

    def __init__(self) -> None:
        self._app_ids = itertools.count(900_001)
        self._installation_ids = itertools.count(9_100_001)
        self.reset()

    def reset(self) -> None:
        self.apps: dict[str, ManifestApp] = {}  # by slug
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, Code] = {}
        self.web_requests: list[dict[str, Any]] = []  # what the web side was sent
        self.login = "octocat"  # who is signed in on the web side
        self.auto_install: list[str] = []  # repositories every new App is installed on
        self.code_lifetime = CODE_LIFETIME

    # -- the web side --------------------------------------------------------------------
    def hold(self, manifest: dict[str, Any], owner: str, owner_type: str,
             state: str | None) -> Pending:
        pending = Pending(secrets.token_urlsafe(24), manifest, owner, owner_type, state,
                          time.time() + self.code_lifetime)
        self.pending[pending.token] = pending
        return pending

    def name_problem(self, name: str, taken: set[str]) -> str | None:
        if not name.strip():
            return "name: the GitHub App needs a name"
        if len(name) > NAME_MAX:
            return f"name: {name!r} is longer than {NAME_MAX} characters"
        slug = slugify(name)
        if not slug:
            return f"name: {name!r} has no letters or digits"
        if slug in taken or slug in self.apps:
            return f"name: {name!r} is already taken"
        return None

    def register(self, state: State, pending: Pending, name: str) -> tuple[ManifestApp, Code]:
        manifest = pending.manifest
        permissions = dict(manifest.get("default_permissions") or {})
        permissions.setdefault("metadata", "read")  # every App can read metadata
        app_id = next(self._app_ids)
        app = ManifestApp(
            app_id=app_id, client_id=f"Iv23li{secrets.token_hex(7)}", slug=slugify(name),
            installation_id=0, owner_login=pending.owner, name=name, owner_type=pending.owner_type,
            manifest=manifest, permissions=permissions,
            events=list(dict.fromkeys(manifest.get("default_events") or [])))
        state.user(pending.owner, pending.owner_type)
        self.apps[app.slug] = app
        code = Code(secrets.token_hex(20), app.slug, time.time() + self.code_lifetime)
        self.codes[code.value] = code
        self.pending.pop(pending.token, None)
        for repo in self.auto_install:
            self.install(app, repo)
        return app, code

    # -- the API side --------------------------------------------------------------------
    def redeem(self, value: str) -> ManifestApp | None:
        """The App the code was issued for, once: None when unknown, used or expired."""
        code = self.codes.get(value)
        if code is None or code.used or code.expires <= time.time():
            return None
        code.used = True
        app = self.apps[code.slug]
        app.converted = True
        return app

    def expire(self) -> None:
        for code in self.codes.values():
            code.expires = 0.0
        for pending in self.pending.values():
            pending.expires = 0.0

    def install(self, app: ManifestApp, full_name: str) -> Installation:
        """Install ``app`` on a repository (one installation per account, as on GitHub)."""
        account = full_name.split("/", 1)[0]
        for inst in app.installations.values():
            if inst.account.lower() == account.lower():
                inst.repos.add(full_name.lower())
                return inst
        inst = Installation(next(self._installation_ids), account, {full_name.lower()})
        app.installations[inst.id] = inst
        if not app.installation_id:
            app.installation_id = inst.id
        return inst

    def identity(self, iss: str) -> ManifestApp | None:
        for app in self.apps.values():
            if iss in (str(app.app_id), app.client_id):
                return app
        return None


# -- JSON shapes -------------------------------------------------------------------------
def app_json(api: str, web: str, state: State, app: ManifestApp) -> dict[str, Any]:
    """``integration`` as ``GET /app`` answers for an App registered from a manifest."""
    owner = state.user(app.owner_login, app.owner_type)
    return {
        "id": app.app_id, "slug": app.slug, "node_id": node_id("A", app.app_id),
        "client_id": app.client_id, "owner": user(api, owner), "name": app.name,
        "description": app.description, "external_url": app.manifest["url"],
        "html_url": f"{web}/apps/{app.slug}", "created_at": app.created_at,
        "updated_at": app.created_at, "permissions": dict(app.permissions),
        "events": list(app.events), "installations_count": len(app.installations),
    }


def conversion_json(api: str, web: str, state: State, app: ManifestApp) -> dict[str, Any]:
    """The 201 body of ``POST /app-manifests/{code}/conversions``: the App and its secrets."""
    body = app_json(api, web, state, app)
    body.pop("installations_count")
    body.update({"client_id": app.client_id, "client_secret": app.client_secret,
                 "webhook_secret": app.webhook_secret, "pem": app.private_key_pem})
    return body
