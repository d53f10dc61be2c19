"""GitHub's App manifest flow in the fake GitHub (tests/fakes/github_manifest.py, github_web.py).

A manifest is posted as a form to the fake's *web* side (``github.web_url``, GitHub's
https://github.com), confirmed on GitHub's page, and the browser lands on the manifest's
``redirect_url`` with ``code`` and ``state``; the code is traded once at the *API*
(``github.url``) for the new App's id, key and secrets, and the fake then accepts that App's
JWTs. Driven over httpx, through githubkit's typed client, and once in headless Chromium.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import AppAuthStrategy, GitHub, UnauthAuthStrategy

from tests.browser import save_screenshot
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.github_manifest import EVENTS, PERMISSIONS

ROOT = Path(__file__).resolve().parent.parent
REPO = "octo/widgets"
REDIRECT = "https://setup.example.test/github/redirect"
MANIFEST: dict[str, Any] = {
    "name": "Routing Test App",
    "url": "https://www.example.com",
    "hook_attributes": {"url": "https://example.com/github/events"},
    "redirect_url": REDIRECT,
    "callback_urls": ["https://example.com/callback"],
    "public": True,
    "default_permissions": {"issues": "write", "contents": "read", "pull_requests": "write"},
    "default_events": ["issues", "issue_comment", "pull_request"],
}


def manifest(**changes: Any) -> dict[str, Any]:
    """MANIFEST with keys replaced (a value of None removes the key)."""
    out = json.loads(json.dumps(MANIFEST))
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class Forms(HTMLParser):
    """The forms of a page: action, fields (name -> value) and button labels."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._button: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}, "buttons": []})
        elif tag == "input" and self.forms and "name" in a:
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self._button = []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            self.forms[-1]["buttons"].append("".join(self._button).strip())
            self._button = None


def errors(page: str) -> list[str]:
    """The problems listed on a web page of the fake (its flash-error box)."""
    found = re.search(r'<div class="flash-error" id="errors"><ul>(.*?)</ul>', page, re.S)
    if not found:
        return []
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", found.group(1))]


def post_manifest(github: FakeGitHub, body: dict[str, Any] | str, *, org: str | None = None,
                  state: str | None = "abc123") -> httpx.Response:
    path = f"/organizations/{org}/settings/apps/new" if org else "/settings/apps/new"
    raw = body if isinstance(body, str) else json.dumps(body)
    params = {"state": state} if state is not None else None
    return httpx.post(github.web_url + path, params=params, data={"manifest": raw})


def confirm(github: FakeGitHub, page: httpx.Response, name: str | None = None) -> httpx.Response:
    """Submit the confirm page's form as the browser would (its button, its fields)."""
    [form] = Forms(page.text).forms
    fields = dict(form["fields"])
    if name is not None:
        fields["name"] = name
    return httpx.post(urljoin(str(page.url), form["action"]), data=fields)


def register(github: FakeGitHub, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, str]:
    """The whole web side: the redirect's query (code, state)."""
    page = post_manifest(github, body or MANIFEST, **kw)
    assert page.status_code == 200, errors(page.text)
    done = confirm(github, page)
    assert done.status_code == 302, errors(done.text)
    return {k: v[0] for k, v in parse_qs(urlsplit(done.headers["location"]).query).items()}


def convert(github: FakeGitHub, code: str) -> httpx.Response:
    return httpx.post(f"{github.url}/app-manifests/{code}/conversions",
                      headers={"Accept": "application/vnd.github+json"})


def app_jwt(app_id: int | str, pem: str) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app_id)}, pem,
                      algorithm="RS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}


# -- the web side --------------------------------------------------------------------------------
def test_form_post_shows_the_confirm_page_and_its_button_redirects_with_code_and_state(
        github: FakeGitHub) -> None:
    page = post_manifest(github, MANIFEST, state="abc123")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    [form] = Forms(page.text).forms
    assert form["method"] == "post" and form["action"] == "/settings/apps/new/confirm"
    assert form["fields"]["name"] == "Routing Test App" and form["fields"]["state"] == "abc123"
    assert form["buttons"] == ["Create GitHub App for octocat"]
    assert github.manifest_apps == {}  # nothing is registered before the click

    done = confirm(github, page)
    assert done.status_code == 302
    location = done.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["abc123"] and re.fullmatch(r"[0-9a-f]{40}", query["code"][0])
    app = github.manifest_app()
    assert (app.slug, app.owner_login, app.owner_type) == ("routing-test-app", "octocat", "User")
    assert [r["status"] for r in github.web_requests] == [200, 302]


def test_an_organization_app_state_in_the_form_and_an_existing_query_kept(
        github: FakeGitHub) -> None:
    body = manifest(redirect_url=REDIRECT + "?from=setup")
    page = httpx.post(github.web_url + "/organizations/acme/settings/apps/new",
                      data={"manifest": json.dumps(body), "state": "s-42"})
    assert page.status_code == 200
    [form] = Forms(page.text).forms
    assert form["action"] == "/organizations/acme/settings/apps/new/confirm"
    assert form["buttons"] == ["Create GitHub App for acme"]
    done = confirm(github, page)
    query = parse_qs(urlsplit(done.headers["location"]).query)
    assert query == {"from": ["setup"], "code": query["code"], "state": ["s-42"]}
    app = github.manifest_app()
    assert (app.owner_login, app.owner_type) == ("acme", "Organization")


def test_without_state_the_redirect_has_only_the_code(github: FakeGitHub) -> None:
    assert set(register(github, state=None)) == {"code"}


def test_the_name_can_be_edited_and_a_taken_name_is_refused(github: FakeGitHub) -> None:
    page = post_manifest(github, manifest(name="Model Routing Bot"))  # the built-in App's name
    refused = confirm(github, page)
    assert refused.status_code == 422 and errors(refused.text) == [
        "name: 'Model Routing Bot' is already taken"]
    again = confirm(github, refused, name="Model Routing Bot (staging)")
    assert again.status_code == 302
    assert list(github.manifest_apps) == ["model-routing-bot-staging"]
    assert confirm(github, page).status_code == 422  # that registration is done: token used


BAD = [
    pytest.param(manifest(url=None), "url: required", id="no-url"),
    pytest.param(manifest(url="example.com"), "url: 'example.com' is not a full http(s) URL",
                 id="relative-url"),
    pytest.param(manifest(hook_attributes=None),
                 "hook_attributes.url: required when default_events is not empty", id="no-hook"),
    pytest.param(manifest(hook_attributes={"active": True}), "hook_attributes.url: required",
                 id="hook-without-url"),
    pytest.param(manifest(redirect_url="/redirect"),
                 "redirect_url: '/redirect' is not a full http(s) URL", id="redirect-url"),
    pytest.param(manifest(public="yes"), "public: must be a boolean (true or false), not 'yes'",
                 id="public-not-boolean"),
    pytest.param(manifest(default_permissions={"issues": "write", "emails": "read"}),
                 "default_permissions.emails: not a GitHub App permission", id="permission-name"),
    pytest.param(manifest(default_permissions={"issues": "admin"}),
                 "default_permissions.issues: 'admin' is not a level of this permission "
                 "(one of read, write)", id="permission-level"),
    pytest.param(manifest(default_permissions={"workflows": "read"}),
                 "default_permissions.workflows: 'read' is not a level of this permission "
                 "(one of write)", id="write-only-permission"),
    pytest.param(manifest(default_events=["issues", "issue"]),
                 "default_events: 'issue' is not a webhook event", id="event-name"),
    pytest.param(manifest(default_events=["installation"]),
                 "default_events: 'installation' is sent to every App and cannot be subscribed to",
                 id="global-event"),
    pytest.param(manifest(default_events=["check_run"]),
                 "default_events: 'check_run' needs the checks permission in default_permissions",
                 id="event-without-permission"),
    pytest.param(manifest(callback_urls=[f"https://e.test/{i}" for i in range(11)]),
                 "callback_urls: at most 10 URLs (11 given)", id="too-many-callbacks"),
    pytest.param(manifest(name="x" * 35), f"name: '{'x' * 35}' is longer than 34 characters",
                 id="long-name"),
    pytest.param("{not json", "manifest: not valid JSON", id="not-json"),
    pytest.param("[]", "manifest: must be a JSON object", id="not-an-object"),
]


@pytest.mark.parametrize(("body", "problem"), BAD)
def test_a_bad_manifest_gets_422_and_a_page_naming_the_problem(
        github: FakeGitHub, body: Any, problem: str) -> None:
    page = post_manifest(github, body)
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert "Invalid GitHub App manifest" in page.text
    assert any(e.startswith(problem) for e in errors(page.text)), errors(page.text)
    assert github.manifest_apps == {} and not Forms(page.text).forms


def test_every_problem_is_listed_and_a_missing_manifest_field_too(github: FakeGitHub) -> None:
    page = post_manifest(github, manifest(url=None, public=1, default_events=["nope"]))
    assert len(errors(page.text)) == 3
    missing = httpx.post(github.web_url + "/settings/apps/new", data={"state": "x"})
    assert missing.status_code == 422 and "`manifest`" in errors(missing.text)[0]


def test_the_projects_app_yml_is_a_manifest_github_accepts(github: FakeGitHub) -> None:
    shipped = yaml.safe_load((ROOT / "app.yml").read_text())
    body = dict(shipped, redirect_url=REDIRECT)
    page = post_manifest(github, body)
    assert page.status_code == 200, errors(page.text)
    code = parse_qs(urlsplit(confirm(github, page, name="Model Routing Bot test").headers[
        "location"]).query)["code"][0]
    created = convert(github, code).json()
    assert created["events"] == shipped["default_events"]
    assert created["permissions"] == shipped["default_permissions"]
    assert created["description"] == shipped["description"]


def test_only_the_flows_pages_are_served_and_the_api_does_not_serve_them(
        github: FakeGitHub) -> None:
    assert httpx.get(github.web_url + "/settings/apps/new").status_code == 404
    assert httpx.get(github.web_url + "/repos/octo/widgets").status_code == 404
    wrong = httpx.post(github.url + "/settings/apps/new", data={"manifest": "{}"})
    assert wrong.status_code in (400, 422)  # a form is not JSON; no such REST operation either
    if github.violations:
        github.backend.stats.deliberate.append("POST /settings/apps/new on the API -> 422: the "
                                               "manifest form belongs to the web side")
        github.violations.clear()


def test_the_permission_table_agrees_with_githubs_description(github: FakeGitHub) -> None:
    if github.backend.openapi is None:
        pytest.skip("GitHub's OpenAPI description is not loaded (bash .ci/fetch-github-fixtures)")
    schema = github.backend.openapi.document["components"]["schemas"]["app-permissions"]
    described = {k: tuple(v["enum"]) for k, v in schema["properties"].items()}
    assert {k: v for k, v in PERMISSIONS.items() if described.get(k) != v} == {}
    assert {"issues", "issue_comment", "pull_request", "push", "check_run"} <= EVENTS


# -- the API side --------------------------------------------------------------------------------
def test_the_conversion_returns_the_app_and_a_key_the_fake_then_accepts(
        github: FakeGitHub) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    query = register(github)
    answer = convert(github, query["code"])
    assert answer.status_code == 201  # and it fitted the description: no violation at teardown
    created = answer.json()
    app = github.manifest_app()
    assert created["id"] == app.app_id and created["slug"] == "routing-test-app"
    assert created["name"] == "Routing Test App" and created["owner"]["login"] == "octocat"
    assert created["client_id"] == app.client_id and created["client_secret"]
    assert created["webhook_secret"] == app.webhook_secret
    assert created["permissions"] == {**MANIFEST["default_permissions"], "metadata": "read"}
    assert created["events"] == MANIFEST["default_events"]
    assert created["html_url"] == f"{github.web_url}/apps/routing-test-app"
    assert httpx.get(created["html_url"]).status_code == 200  # the App's page on the web side
    key = serialization.load_pem_private_key(created["pem"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert created["pem"].startswith("-----BEGIN RSA PRIVATE KEY-----")

    signed = app_jwt(created["id"], created["pem"])
    me = httpx.get(f"{github.url}/app", headers=bearer(signed)).json()
    assert (me["slug"], me["id"], me["installations_count"]) == ("routing-test-app", app.app_id, 0)
    assert httpx.get(f"{github.url}/repos/{REPO}/installation",
                     headers=bearer(signed)).status_code == 404  # not installed yet

    installation = github.install_manifest_app(REPO)
    found = httpx.get(f"{github.url}/repos/{REPO}/installation", headers=bearer(signed)).json()
    assert found["id"] == installation.id == app.installation_id
    assert found["app_slug"] == "routing-test-app" and found["account"]["login"] == "octo"
    listed = httpx.get(f"{github.url}/app/installations", headers=bearer(signed)).json()
    assert [i["id"] for i in listed] == [installation.id]
    minted = httpx.post(f"{github.url}/app/installations/{installation.id}/access_tokens",
                        headers=bearer(signed))
    assert minted.status_code == 201
    token = minted.json()["token"]
    issue = github.add_issue(REPO, "Hello")
    posted = httpx.post(f"{github.url}/repos/{REPO}/issues/{issue.number}/comments",
                        headers={"Authorization": f"token {token}"}, json={"body": "/help"})
    assert posted.status_code == 201
    assert posted.json()["user"]["login"] == "routing-test-app[bot]"
    assert posted.json()["user"]["type"] == "Bot"

    # the built-in App is still there, with its own key and installation
    builtin = app_jwt(github.app.app_id, github.app.private_key_pem)
    assert httpx.get(f"{github.url}/app", headers=bearer(builtin)).json()["slug"] == \
        "model-routing-bot"
    assert httpx.post(f"{github.url}/app/installations/{installation.id}/access_tokens",
                      headers=bearer(builtin)).status_code == 404  # not its installation
    # a JWT naming the new App but signed with another key is refused
    forged = app_jwt(created["id"], github.app.private_key_pem)
    assert httpx.get(f"{github.url}/app", headers=bearer(forged)).status_code == 401


def test_a_code_is_traded_once_and_only_within_the_hour(github: FakeGitHub) -> None:
    first = register(github)["code"]
    assert convert(github, first).status_code == 201
    used = convert(github, first)
    assert used.status_code == 404 and used.json()["message"] == "Not Found"
    assert convert(github, "0" * 40).status_code == 404

    late = register(github, manifest(name="Second App"))["code"]
    pending = post_manifest(github, manifest(name="Third App"))
    github.expire_manifest_codes()
    assert convert(github, late).status_code == 404
    expired = confirm(github, pending)  # a confirm page left open for over an hour
    assert expired.status_code == 422 and "expired" in errors(expired.text)[0]
    assert [c.used for c in github.manifest_codes()] == [True, False]


def test_a_webhook_from_the_new_app_is_signed_with_its_secret(github: FakeGitHub) -> None:
    created = convert(github, register(github)["code"]).json()
    app = github.manifest_app()
    body = b'{"action":"opened"}'
    expected = hmac.new(created["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    assert app.sign(body) == f"sha256={expected}"


def test_githubkit_converts_the_code_and_authenticates_as_the_new_app(
        github: FakeGitHub) -> None:
    """A real client's typed models accept the conversion, and its App auth works."""
    github.create_repo(REPO)
    github.install_manifest_apps_on(REPO)
    code = register(github)["code"]
    anonymous = GitHub(UnauthAuthStrategy(), base_url=github.url + "/", http_cache=False,
                       auto_retry=False)
    created = anonymous.rest.apps.create_from_manifest(code).parsed_data
    assert created.slug == "routing-test-app" and created.pem.startswith("-----BEGIN")
    as_app = GitHub(AppAuthStrategy(str(created.id), created.pem), base_url=github.url + "/",
                    http_cache=False, auto_retry=False)
    me = as_app.rest.apps.get_authenticated().parsed_data
    assert me is not None and me.slug == "routing-test-app"
    installation = as_app.rest.apps.get_repo_installation("octo", "widgets").parsed_data
    as_installation = as_app.with_auth(as_app.auth.as_installation(installation.id))
    repo = as_installation.rest.repos.get("octo", "widgets").parsed_data
    assert repo.full_name == REPO


# -- in a real browser -----------------------------------------------------------------------
class SetupSite:
    """A tiny site of the App's own: a setup page whose button posts the manifest to GitHub
    (as docs.github.com's example does), and the redirect_url that records code and state."""

    def __init__(self, github: FakeGitHub) -> None:
        self.received: list[dict[str, list[str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/setup":
                    page = site.setup_page(github)
                elif parts.path == "/redirect":
                    site.received.append(parse_qs(parts.query))
                    page = "<!DOCTYPE html><title>Done</title><h1>App registered</h1>"
                else:
                    self.send_error(404)
                    return
                data = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def setup_page(self, github: FakeGitHub) -> str:
        body = manifest(redirect_url=self.url + "/redirect", name="Browser Test App")
        return ("<!DOCTYPE html><title>Set up</title>"
                f'<form action="{github.web_url}/settings/apps/new?state=abc123" method="post">'
                f'<input type="hidden" name="manifest" value="{html.escape(json.dumps(body))}">'
                '<button type="submit">Register the GitHub App</button></form>')


@pytest.fixture
def setup_site(github: FakeGitHub) -> Iterator[SetupSite]:
    site = SetupSite(github)
    site.thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


def test_the_manifest_flow_in_headless_chromium(github: FakeGitHub, setup_site: SetupSite,
                                                page: Any, tmp_path: Path) -> None:
    page.goto(setup_site.url + "/setup")
    page.get_by_role("button", name="Register the GitHub App").click()
    page.wait_for_url(f"{github.web_url}/settings/apps/new?state=abc123")
    assert page.locator("h1").inner_text() == "Create GitHub App for octocat"
    assert page.get_by_label("GitHub App name").input_value() == "Browser Test App"
    shot = save_screenshot(page, tmp_path / "manifest-confirm.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.get_by_label("GitHub App name").fill("Browser Test App 2")
    page.get_by_role("button", name="Create GitHub App for octocat").click()
    page.wait_for_url(re.compile(re.escape(setup_site.url + "/redirect?") + ".*"))
    assert page.locator("h1").inner_text() == "App registered"
    [received] = setup_site.received
    assert received["state"] == ["abc123"] and len(received["code"][0]) == 40

    created = convert(github, received["code"][0]).json()
    assert created["slug"] == "browser-test-app-2"
    signed = app_jwt(created["id"], created["pem"])
    assert httpx.get(f"{github.url}/app", headers=bearer(signed)).json()["slug"] == \
        "browser-test-app-2"


# -- the bot, as the App the manifest made ---------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_bot_server_runs_as_the_new_app(github: FakeGitHub, tmp_path: Path) -> None:
    """`model-routing serve` (README: Running it) with the id, key and webhook secret the
    conversion gave: a signed webhook from the new App's installation is answered by
    `<slug>[bot]` through that installation's token. Started as a process through its console
    script, so this test does not depend on the bot's module layout."""
    github.create_repo(REPO, roles={"alice": "write"})
    created = convert(github, register(github)["code"]).json()
    installation = github.install_manifest_app(REPO)
    issue = github.add_issue(REPO, "Widgets are slow", "Please look.")

    port = _free_port()
    script = Path(sys.executable).parent / "model-routing"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "MODEL_ROUTING_", "REDIS_URL"))}
    env.update({"GITHUB_API_URL": github.url, "GITHUB_APP_ID": str(created["id"]),
                "GITHUB_APP_PRIVATE_KEY": created["pem"],
                "GITHUB_WEBHOOK_SECRET": created["webhook_secret"],
                "MODEL_ROUTING_BOT_LOGIN": f"{created['slug']}[bot]",
                "MODEL_ROUTING_DATA_DIR": str(tmp_path / "data"),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(script), "serve", "--port", str(port), "--workers", "1"],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        data = payload("issue_comment", "created", repo=REPO, sender="alice",
                       installation_id=installation.id,
                       issue={"number": issue.number, "pull_request": None, "labels": []},
                       comment={"id": 9001, "body": "/help", "user": {"login": "alice"}})
        body = json.dumps(data).encode()
        signature = github.manifest_app().sign(body)
        unsigned = httpx.post(base + "/webhook", content=body, headers={
            "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "d-0",
            "Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert unsigned.status_code in (401, 403)  # only the new App's secret is accepted
        sent = httpx.post(base + "/webhook", content=body, headers={
            "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "d-1",
            "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 30
        while not any(c.user.login == f"{created['slug']}[bot]"
                      for c in github.comments(REPO, issue.number)):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    [reply] = github.comments(REPO, issue.number)
    assert "/spec" in reply.body  # the command list
    exchange = [r for r in github.requests if r.path.endswith("/access_tokens")]
    assert [r.path for r in exchange] == [f"/app/installations/{installation.id}/access_tokens"]
