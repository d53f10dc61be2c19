"""From a server without credentials to a job run as the new App, in headless Chromium with
JavaScript off: the setup page, GitHub's confirm page (the fake's web side), the callback, the
installation, then a webhook signed with the new App's secret answered by ``<slug>[bot]``.

Also makes docs/setup-page.png, the screenshot README shows, from a server that would talk to
https://api.github.com (nothing is sent there: the page is only rendered)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Config
from bot.edge.app import create_app
from bot.manifest import EVENTS, PERMISSIONS
from bot.settings import Settings
from bot.store.credentials import FILE_NAME
from tests.browser import save_screenshot
from tests.conftest import FAST_RETRY
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.serving import REPO, Served, wait_until, webhook_headers


@pytest.fixture
def no_js_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context with JavaScript disabled: the flow must not need it."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_setup_page_screenshot(no_js_page: Any, tmp_path: Path,
                                   make_config: Callable[..., Config]) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_url="https://routing.example.com")
    with Served(create_app(settings, make_config(), workers=0)) as served:
        page = no_js_page
        page.goto(served.url + "/")
        assert page.locator("h1").inner_text() == "Connect Model Routing Bot to GitHub"
        rows = page.locator("#permissions tr").all_inner_texts()[1:]
        assert [r.split("\t")[:2] for r in rows] == [[n, p.level] for n, p in PERMISSIONS.items()]
        assert len(page.locator("#events tr").all_inner_texts()) == len(EVENTS) + 1
        assert page.get_by_label("Webhook URL").input_value() == "https://routing.example.com/webhook"
        form = page.locator("form#register")
        assert form.get_attribute("action").startswith("https://github.com/settings/apps/new?state=")
        shot = save_screenshot(page, "docs/setup-page.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_from_the_setup_page_to_a_job_run_as_the_new_app(
        github: FakeGitHub, no_js_page: Any, tmp_path: Path, make_config: Callable[..., Config]) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    issue = github.add_issue(REPO, "Widgets are slow", "Please look.")
    settings = Settings(api_url=github.url, web_url=github.web_url, data_dir=tmp_path / "data")
    with Served(create_app(settings, make_config(), workers=1, retry=FAST_RETRY)) as served:
        page = no_js_page
        page.goto(served.url + "/")
        assert page.get_by_label("Webhook URL").input_value() == served.url + "/webhook"

        # the options form: an organisation and a name of our own, the page rendered again
        page.get_by_label("Organisation (optional)").fill("octo")
        page.get_by_label("App name").fill("Routing Browser App")
        page.get_by_role("button", name="Use these settings").click()
        page.wait_for_url(re.compile(re.escape(served.url) + r"/\?.*org=octo.*"))
        assert "for the organisation octo" in page.locator("form#register").inner_text()

        page.get_by_role("button", name="Register the GitHub App on GitHub").click()
        page.wait_for_url(re.compile(re.escape(github.web_url) + r"/organizations/octo/settings/apps/new\?state=.+"))
        assert page.locator("h1").inner_text() == "Create GitHub App for octo"
        assert page.get_by_label("GitHub App name").input_value() == "Routing Browser App"
        page.get_by_role("button", name="Create GitHub App for octo").click()

        page.wait_for_url(re.compile(re.escape(served.url) + r"/setup/callback\?code=.+&state=.+"))
        assert page.locator("h1").inner_text() == "Connected to GitHub as Routing Browser App"
        app = github.manifest_app("routing-browser-app")
        assert app.owner_login == "octo" and app.owner_type == "Organization"
        stored = settings.data_dir / FILE_NAME
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert json.loads(stored.read_text())["app_id"] == app.app_id

        page.get_by_role("link", name="Install Routing Browser App on GitHub").click()
        assert page.locator("h1").inner_text() == "Install Routing Browser App"
        page.get_by_label(REPO).check()
        page.get_by_role("button", name="Install").click()
        page.wait_for_url(re.compile(re.escape(served.url) + r"/installed\?installation_id=\d+&setup_action=install"))
        assert page.locator("h1").inner_text() == "Model Routing Bot is installed"
        installation = app.installation_for(REPO)
        assert installation is not None

        # GitHub's next delivery, signed with the new App's secret, runs a job as the new App
        data = payload("issue_comment", "created", repo=REPO, sender="alice",
                       installation_id=installation.id,
                       issue={"number": issue.number, "pull_request": None, "labels": []},
                       comment={"id": 9001, "body": "/help", "user": {"login": "alice"}})
        body = json.dumps(data).encode()
        headers = {**webhook_headers("issue_comment", "d-1", body, secret=None),
                   "X-Hub-Signature-256": app.sign(body)}
        reply = httpx.post(served.url + "/webhook", content=body, headers=headers)
        assert reply.status_code == 202, reply.text
        [comment] = wait_until(lambda: [c for c in github.comments(REPO, issue.number)
                                        if c.user.login == "routing-browser-app[bot]"], 30,
                               "the /help reply from routing-browser-app[bot]")
        assert "/spec" in comment.body
        tokens = [r.path for r in github.requests if r.path.endswith("/access_tokens")]
        assert tokens == [f"/app/installations/{installation.id}/access_tokens"]

        page.goto(served.url + "/")  # configured now: the home page is the dashboard, not setup
        assert page.title() == "Model Routing Bot: dashboard"
        assert page.locator("form[action$='settings/apps/new']").count() == 0
