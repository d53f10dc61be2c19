"""The setup page and the App manifest flow, over HTTP (the browser test is test_setup_browser.py).

A server started without GitHub credentials serves the setup page at ``GET /``; its form posts
the manifest to the fake GitHub's web side, whose confirm button sends the client back to
``/setup/callback`` with a code, which the server trades at the fake's API for the App's
credentials, stores (0600, atomically) and uses at once. The failure and safety cases: spent and
expired states, codes GitHub refuses, a data directory that cannot be written, routes that are
gone once configured, other machines without the setup token, and the environment winning over
the stored file (through ``model-routing serve`` itself).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from bot.config import Config
from bot.edge.app import Edge, create_app
from bot.manifest import EVENTS, NAME, PERMISSIONS, manifest
from bot.settings import Settings
from bot.store.credentials import FILE_NAME, AppCredentials, Credentials, CredentialsError, load, write_private
from tests.conftest import FAST_RETRY
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.serving import REPO, Served, ServeProcess, sign, webhook_headers
from tests.test_fakes_manifest import Forms, confirm

LOCAL = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.9", 50000)  # TEST-NET-3: not this machine
BASE = "http://127.0.0.1:3000"  # as the browser on the server's machine addresses it


@pytest.fixture
def bare(github: FakeGitHub, tmp_path: Path) -> Settings:
    """No GitHub credentials at all, as `serve` starts on its defaults; the fake's web side is
    GITHUB_WEB_URL (its API URL has no host name to derive it from)."""
    return Settings(api_url=github.url, web_url=github.web_url, data_dir=tmp_path / "data")


@pytest.fixture
def edge(bare: Settings, make_config: Callable[..., Config]) -> Edge:
    return create_app(bare, make_config(), workers=0, retry=FAST_RETRY)


@pytest.fixture
def local(edge: Edge) -> Iterator[TestClient]:
    with TestClient(edge, base_url=BASE, client=LOCAL, follow_redirects=False) as client:
        yield client


def register_form(page: str) -> tuple[str, str]:
    """The register form's action and its manifest field."""
    [form] = [f for f in Forms(page).forms if "manifest" in f["fields"]]
    assert form["method"] == "post" and form["buttons"] == ["Register the GitHub App on GitHub"]
    return form["action"], form["fields"]["manifest"]


def state_of(action: str) -> str:
    return parse_qs(urlsplit(action).query)["state"][0]


def through_github(github: FakeGitHub, page: str, name: str = "Routing Setup Test") -> str:
    """Post the page's manifest to GitHub and confirm it there: the callback URL GitHub sends
    the browser to (``redirect_url?code=...&state=...``)."""
    action, body = register_form(page)
    confirm_page = httpx.post(action, data={"manifest": body})
    assert confirm_page.status_code == 200, confirm_page.text
    done = confirm(github, confirm_page, name=name)
    assert done.status_code == 302, done.text
    return str(done.headers["location"])


def problem(page: str) -> str:
    found = re.search(r'<div class="box error"[^>]*>(.*?)</div>', page, re.S)
    assert found, page
    return html.unescape(re.sub(r"\s+", " ", found.group(1)).strip())


def stored_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.data_dir.glob("*github-app*"))


# -- the page ---------------------------------------------------------------------------------
def test_the_setup_page_shows_the_manifest_and_posts_it_to_githubs_web_side(
        github: FakeGitHub, local: TestClient) -> None:
    page = local.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Connect Model Routing Bot to GitHub" in page.text
    action, body = register_form(page.text)
    assert action == f"{github.web_url}/settings/apps/new?state={state_of(action)}"
    assert len(state_of(action)) >= 32
    # the manifest the code holds, for the server as the browser reaches it
    assert json.loads(body) == manifest(BASE + "/webhook", BASE)
    for permission, p in PERMISSIONS.items():
        assert f"<td><code>{permission}</code></td><td>{p.level}</td>" in page.text
    for event in EVENTS:
        assert f"<td><code>{event}</code></td>" in page.text
    # readable without JavaScript, and nothing fetched from elsewhere
    assert "<script" not in page.text and " src=" not in page.text and "<link" not in page.text
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none';") and policy.endswith(f"form-action 'self' {github.web_url}")
    # every visit has a state of its own
    assert state_of(register_form(local.get("/").text)[0]) != state_of(action)
    # GitHub accepts what it is sent
    confirm_page = httpx.post(action, data={"manifest": body})
    assert confirm_page.status_code == 200 and "Create GitHub App for octocat" in confirm_page.text


def test_the_fields_prefill_from_the_public_url_and_change_the_manifest_and_the_target(
        github: FakeGitHub, bare: Settings, make_config: Callable[..., Config]) -> None:
    public = dataclasses.replace(bare, public_url="https://routing.example.com")
    with TestClient(create_app(public, make_config(), workers=0), base_url=BASE, client=LOCAL) as client:
        page = client.get("/")
        fields = next(f for f in Forms(page.text).forms if f["action"] == "/")["fields"]
        assert fields == {"webhook_url": "https://routing.example.com/webhook", "org": "", "name": NAME}
        assert json.loads(register_form(page.text)[1])["hook_attributes"]["url"] == \
            "https://routing.example.com/webhook"

        page = client.get("/", params={"webhook_url": "https://smee.io/abc123", "org": "octo",
                                       "name": "Octo Routing"})
        action, body = register_form(page.text)
        assert action.startswith(f"{github.web_url}/organizations/octo/settings/apps/new?state=")
        sent = json.loads(body)
        assert sent["hook_attributes"]["url"] == "https://smee.io/abc123"
        assert sent["name"] == "Octo Routing" and sent["redirect_url"] == BASE + "/setup/callback"
        assert "the organisation <strong>octo</strong>" in page.text

        page = client.get("/", params={"webhook_url": "ftp://nowhere", "org": "not an org!"})
        shown = html.unescape(page.text)
        assert "'ftp://nowhere' is not a full http(s) URL" in shown
        assert "'not an org!' is not an organisation's login" in shown
        assert not [f for f in Forms(page.text).forms if "manifest" in f["fields"]]  # no button


def test_githubs_web_side_is_told_from_the_api_url_or_set() -> None:
    def web(api: str, override: str | None = None) -> str | None:
        return Settings(api_url=api, web_url=override).github_web_url

    assert web("https://api.github.com") == "https://github.com"
    assert web("https://ghe.example.com/api/v3") == "https://ghe.example.com"
    assert web("https://api.octo.ghe.com") == "https://octo.ghe.com"
    assert web("http://127.0.0.1:8080") is None
    assert web("http://127.0.0.1:8080", "http://127.0.0.1:8081") == "http://127.0.0.1:8081"
    env = Settings.from_env({"GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert env.github_web_url == "https://ghe.example.com"
    assert Settings.from_env({"GITHUB_WEB_URL": "https://web.example/"}).web_url == "https://web.example"


def test_without_a_known_web_side_the_page_says_to_set_github_web_url(
        bare: Settings, make_config: Callable[..., Config]) -> None:
    unknown = dataclasses.replace(bare, web_url=None)
    with TestClient(create_app(unknown, make_config(), workers=0), base_url=BASE, client=LOCAL) as client:
        page = client.get("/")
    assert page.status_code == 200 and "set GITHUB_WEB_URL" in page.text
    assert not [f for f in Forms(page.text).forms if "manifest" in f["fields"]]


# -- the callback -----------------------------------------------------------------------------
def test_the_callback_stores_the_app_and_the_server_uses_it_at_once(
        github: FakeGitHub, bare: Settings, make_config: Callable[..., Config]) -> None:
    with Served(create_app(bare, make_config(), workers=0, retry=FAST_RETRY)) as served, \
            httpx.Client(base_url=served.url) as http:
        body = json.dumps(payload("watch", "started", repo=REPO)).encode()
        unsigned = webhook_headers("watch", "w-0", body, secret=None)
        assert http.post("/webhook", content=body, headers=unsigned).status_code == 202  # loopback, no secret yet

        callback = through_github(github, http.get("/").text)
        assert callback.startswith(served.url + "/setup/callback?code=")
        done = http.get(callback)
        assert done.status_code == 200, done.text
        app = github.manifest_app()
        assert "Connected to GitHub as Routing Setup Test" in done.text
        [install] = re.findall(r'<a class="button" id="install" href="([^"]+)"', done.text)
        assert install == f"{github.web_url}/apps/{app.slug}/installations/new"

        path = bare.data_dir / FILE_NAME
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text()) == {
            "app_id": app.app_id, "slug": app.slug, "private_key": app.private_key_pem,
            "webhook_secret": app.webhook_secret, "client_id": app.client_id,
            "client_secret": app.client_secret, "name": "Routing Setup Test", "owner": "octocat",
            "html_url": f"{github.web_url}/apps/{app.slug}"}
        assert stored_files(bare) == [FILE_NAME]  # no temporary file left

        # the next delivery is verified with the new secret, without a restart
        assert http.post("/webhook", content=body, headers=unsigned).status_code == 401
        wrong = webhook_headers("watch", "w-1", body, secret="test-webhook-secret")
        assert http.post("/webhook", content=body, headers=wrong).status_code == 401
        signed = {**unsigned, "X-GitHub-Delivery": "w-2", "X-Hub-Signature-256": app.sign(body)}
        assert http.post("/webhook", content=body, headers=signed).status_code == 202

        # the setup routes are gone: the dashboard has taken the home page
        assert_no_setup(http.get("/"))
        assert http.get(callback).status_code == 404
        assert http.get("/setup/callback", params={"code": "abc", "state": "x"}).status_code == 404
        assert http.get("/installed", params={"installation_id": "1"}).status_code == 200


def test_a_state_is_spent_by_its_first_callback_even_when_the_exchange_fails(
        github: FakeGitHub, bare: Settings, local: TestClient) -> None:
    page = local.get("/").text
    state = state_of(register_form(page)[0])
    failed = local.get("/setup/callback", params={"code": "0" * 40, "state": state})
    assert failed.status_code == 502
    assert problem(failed.text) == (
        "GitHub did not hand over the App's credentials: GitHub does not know this code (404): it "
        "has been used already, or more than an hour passed since GitHub made it.")
    assert 'href="/"' in failed.text and f"{github.web_url}/settings/apps" in failed.text  # how to retry
    assert stored_files(bare) == []

    # the same state with a good code: refused, and the code is not traded
    callback = through_github(github, page)
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    again = local.get(callback)
    assert again.status_code == 400
    assert problem(again.text) == "This link's state cannot be used: it has been used already."
    assert not any(r.path.startswith("/app-manifests/") and r.path.endswith(
        parse_qs(urlsplit(callback).query)["code"][0] + "/conversions") for r in github.requests)
    assert stored_files(bare) == [] and local.get("/").status_code == 200  # still unconfigured

    unknown = local.get("/setup/callback", params={"code": "abc", "state": "made-up"})
    assert unknown.status_code == 400 and "did not issue it" in problem(unknown.text)
    assert local.get("/setup/callback", params={"code": "abc"}).status_code == 400


def test_a_state_older_than_an_hour_is_refused(github: FakeGitHub, bare: Settings, edge: Edge,
                                              local: TestClient) -> None:
    callback = through_github(github, local.get("/").text)
    later = time.monotonic() + 3601
    edge.setup.states.clock = lambda: later
    reply = local.get(callback)
    assert reply.status_code == 400
    assert problem(reply.text) == "This link's state cannot be used: it is more than 60 minutes old."
    assert stored_files(bare) == []


def test_an_expired_code_and_a_refused_code_say_what_went_wrong_and_store_nothing(
        github: FakeGitHub, bare: Settings, local: TestClient) -> None:
    callback = through_github(github, local.get("/").text)
    github.expire_manifest_codes()
    reply = local.get(callback)
    assert reply.status_code == 502 and "more than an hour passed" in problem(reply.text)
    assert "GitHub registered the App when you confirmed it" in reply.text
    assert stored_files(bare) == []

    callback = through_github(github, local.get("/").text, name="Routing Setup Test 2")
    github.fail("POST", r"^/app-manifests/[^/]+/conversions$", 422, {
        "message": "Validation Failed",
        "documentation_url": "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest"})
    reply = local.get(callback)
    assert reply.status_code == 502
    assert problem(reply.text) == ("GitHub did not hand over the App's credentials: GitHub refused "
                                   "the code (422): Validation Failed.")
    assert stored_files(bare) == [] and local.get("/").status_code == 200


def test_a_data_directory_that_cannot_take_the_file_leaves_nothing_behind(
        github: FakeGitHub, bare: Settings, local: TestClient) -> None:
    (bare.data_dir / FILE_NAME).mkdir(parents=True)  # the rename over it fails
    reply = local.get(through_github(github, local.get("/").text))
    assert reply.status_code == 500
    assert "could not be stored in" in problem(reply.text) and "Nothing was stored" in problem(reply.text)
    assert [p.name for p in bare.data_dir.iterdir() if "github-app" in p.name] == [FILE_NAME]
    assert (bare.data_dir / FILE_NAME).is_dir()  # untouched; no temporary file beside it
    assert local.get("/").status_code == 200  # not configured


def assert_no_setup(home: httpx.Response) -> None:
    """A configured server's home page is the dashboard (this client is local), never setup."""
    assert home.status_code == 200 and "<title>Model Routing Bot: dashboard</title>" in home.text
    assert "settings/apps/new" not in home.text and "manifest" not in home.text


# -- safety -----------------------------------------------------------------------------------
def test_the_setup_routes_answer_404_on_a_configured_server(
        settings: Settings, app_settings: Settings, make_config: Callable[..., Config]) -> None:
    for configured in (settings, app_settings):  # a token, an App from the environment
        with TestClient(create_app(configured, make_config(), workers=0), base_url=BASE, client=LOCAL) as client:
            assert_no_setup(client.get("/"))
            assert client.get("/setup/callback", params={"code": "abc", "state": "x"}).status_code == 404
            assert_no_setup(client.get("/?token=whatever"))


def test_another_machine_needs_the_setup_token(github: FakeGitHub, bare: Settings, edge: Edge) -> None:
    with TestClient(edge, client=REMOTE, follow_redirects=False) as remote:
        for query in ("", "?token=", "?token=wrong-token"):
            denied = remote.get("/" + query)
            assert denied.status_code == 403 and "Setup link needed" in denied.text
            assert "manifest" not in denied.text and edge.setup.token not in denied.text
        page = remote.get("/", params={"token": edge.setup.token})
        assert page.status_code == 200
        options = next(f for f in Forms(page.text).forms if f["action"] == "/")
        assert options["fields"]["token"] == edge.setup.token  # the settings form keeps it
        # the callback needs no token: its state was handed out with the page
        done = remote.get(through_github(github, page.text))
        assert done.status_code == 200 and "Connected to GitHub" in done.text
        assert remote.get("/", params={"token": edge.setup.token}).status_code == 404


def test_a_proxy_or_another_name_for_this_machine_does_not_make_a_request_local(edge: Edge) -> None:
    with TestClient(edge, base_url=BASE, client=LOCAL) as client:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            assert client.get("/", headers={header: "203.0.113.9"}).status_code == 403
        assert client.get("/", headers={"X-Forwarded-For": "203.0.113.9"},
                          params={"token": edge.setup.token}).status_code == 200
        # a site whose name resolves to 127.0.0.1 (DNS rebinding) must not read a state
        assert client.get("/", headers={"Host": "rebound.example.com"}).status_code == 403
        for host in ("localhost:3000", "127.0.0.1", "[::1]:3000", "127.1.2.3:80"):
            assert client.get("/", headers={"Host": host}).status_code == 200, host


def _convert(github: FakeGitHub, name: str) -> AppCredentials:
    _, code = github.register_manifest_app(manifest("https://routing.example.com/webhook",
                                                    "https://routing.example.com"), name=name)
    reply = httpx.post(f"{github.url}/app-manifests/{code}/conversions")
    assert reply.status_code == 201, reply.text
    return AppCredentials.from_conversion(reply.json())


def test_serve_says_which_credentials_it_uses_and_the_environment_wins(
        github: FakeGitHub, tmp_path: Path) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    data = tmp_path / "data"
    body = json.dumps(payload("watch", "started", repo=REPO)).encode()
    base = {"GITHUB_API_URL": github.url, "GITHUB_WEB_URL": github.web_url,
            "MODEL_ROUTING_DATA_DIR": str(data)}

    with ServeProcess(tmp_path, base, "--workers", "0") as serve:  # nothing yet
        log = serve.log()
        assert "GitHub credentials: none yet" in log
        assert f"not connected to GitHub yet: open http://127.0.0.1:{serve.port} to connect it to GitHub" in log
        [token] = re.findall(r"from another machine or through a proxy: http://127\.0\.0\.1:\d+/\?token=(\S+)", log)
        forwarded = {"X-Forwarded-For": "203.0.113.9"}  # uvicorn takes it: a remote client
        assert httpx.get(serve.url + "/", headers=forwarded).status_code == 403
        assert httpx.get(serve.url + "/", headers=forwarded, params={"token": token}).status_code == 200

    stored = _convert(github, "Routing Stored App")
    Credentials(Settings(data_dir=data), path=data / FILE_NAME).adopt(stored)
    env_app = {"GITHUB_APP_ID": str(github.app.app_id), "GITHUB_APP_PRIVATE_KEY": github.app.private_key_pem,
               "GITHUB_WEBHOOK_SECRET": "env-webhook-secret"}
    with ServeProcess(tmp_path, {**base, **env_app}, "--workers", "0") as serve:
        assert (f"GitHub credentials: App {github.app.app_id} from the environment (GITHUB_APP_ID, "
                f"GITHUB_APP_PRIVATE_KEY); the App stored in {data / FILE_NAME} is not used: the "
                "environment wins") in serve.log()
        assert_no_setup(httpx.get(serve.url + "/"))
        as_stored = webhook_headers("watch", "e-1", body, secret=str(stored.webhook_secret))
        assert httpx.post(serve.url + "/webhook", content=body, headers=as_stored).status_code == 401
        as_env = webhook_headers("watch", "e-2", body, secret="env-webhook-secret")
        assert httpx.post(serve.url + "/webhook", content=body, headers=as_env).status_code == 202

    with ServeProcess(tmp_path, base, "--workers", "0") as serve:  # the file alone
        assert (f"GitHub credentials: App routing-stored-app (id {stored.app_id}) stored in "
                f"{data / FILE_NAME}") in serve.log()
        assert_no_setup(httpx.get(serve.url + "/"))
        signed = {**webhook_headers("watch", "f-1", body, secret=None), "X-Hub-Signature-256": sign(
            body, str(stored.webhook_secret))}
        assert httpx.post(serve.url + "/webhook", content=body, headers=signed).status_code == 202


# -- the stored file --------------------------------------------------------------------------
def test_the_file_is_written_whole_with_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "new" / FILE_NAME
    old = os.umask(0)
    try:
        write_private(target, b'{"a": 1}\n')
    finally:
        os.umask(old)
    assert target.read_bytes() == b'{"a": 1}\n' and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == [FILE_NAME]


def test_an_unusable_stored_file_stops_serve_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from bot.cli.main import main

    data = tmp_path / "data"
    data.mkdir()
    (data / FILE_NAME).write_text('{"app_id": 1}')
    with pytest.raises(CredentialsError, match="does not hold App credentials"):
        load(data / FILE_NAME)
    for key in [k for k in os.environ if k.startswith(("GITHUB_", "MODEL_ROUTING_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MODEL_ROUTING_DATA_DIR", str(data))
    assert main(["serve", "--port", "1"]) == 2
    assert f"{data / FILE_NAME} does not hold App credentials" in caplog.text


def test_a_worker_started_before_the_setup_picks_the_stored_app_up(
        github: FakeGitHub, tmp_path: Path) -> None:
    settings = Settings(api_url=github.url, data_dir=tmp_path / "data")
    worker = Credentials.resolve(settings)
    seen: list[Any] = []
    worker.watch(seen.append)
    assert not worker.configured and worker.current().app_id is None
    stored = _convert(github, "Routing Worker App")
    Credentials.resolve(settings).adopt(stored)  # the server's holder, another process
    now = worker.current()
    assert worker.source == "file" and now.app_id == str(stored.app_id)
    assert now.bot_login == "routing-worker-app[bot]" and now.webhook_secret == stored.webhook_secret
    assert seen == [now]
