"""The dashboard (``GET /``) and ``GET /api/stats`` of a configured server.

The page is rendered by the real server (uvicorn on a loopback port) and read in headless
Chromium; its figures must be the JSON's. Who may look is tested through the ASGI app with a
client address that is not loopback, as the webhook's loopback rule is (tests/test_server.py).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bot.config import Config
from bot.edge.app import create_app
from bot.edge.dashboard import COOKIE
from bot.settings import Settings
from tests.browser import save_screenshot
from tests.conftest import FAST_RETRY
from tests.fakes.ci_logs import CIFailure
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.outcome_scene import REPO, Scene
from tests.serving import Served

REMOTE = ("203.0.113.7", 41000)  # TEST-NET-3: no loopback address
TOKEN = "dash-token-0123456789abcdef"


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


@pytest.fixture
def recorded(github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure) -> Settings:
    """Two repositories' worth of jobs and outcomes in the settings' ledger."""
    dispatcher = make_dispatcher(settings)
    scene = Scene.start(github, llm, dispatcher)
    scene.merged_story(ci.log)
    scene.closed_story()
    scene.review_story()
    Scene.start(github, llm, dispatcher, "acme/gadgets").switch_story()
    return settings


def test_the_page_in_chromium_shows_the_figures_of_api_stats(
        recorded: Settings, make_config: Callable[..., Config], page: Any, tmp_path: Path) -> None:
    with Served(create_app(recorded, make_config(), workers=0, retry=FAST_RETRY)) as served:
        api = httpx.get(served.url + "/api/stats", timeout=10).json()
        reply = page.goto(served.url + "/")
        assert reply.status == 200
        assert reply.headers["content-security-policy"].startswith("default-src 'none'")
        page.set_viewport_size({"width": 1400, "height": 900})
        # the screenshot docs/ keeps (its times change on every run: rewritten only when asked)
        shot = save_screenshot(page, "docs/dashboard.png" if os.environ.get("MODEL_ROUTING_WRITE_EXAMPLES") == "1"
                               else tmp_path / "dashboard.png")
        assert shot.stat().st_size > 10_000

        def text(selector: str) -> str:
            return str(page.locator(selector).inner_text()).strip()

        spend = api["spend"]
        assert text('[data-k="spend-total"]') == money(spend["total_usd"])
        assert text('[data-k="budget"]') == f"${api['budgets']['monthly_usd']:.2f}"
        for key in ("calls", "escalations", "fallbacks"):
            assert text(f'[data-k="{key}"]') == str(spend["switches"][key])
        assert text('[data-k="failed-attempts"]') == str(spend["switches"]["failed_attempts"])
        assert text('[data-k="per-merged-pr"]') == money(api["outcomes"]["cost_per_merged_pr_usd"])
        assert [r["repo"] for r in spend["by_repo"]] == [REPO, "acme/gadgets"]  # the costlier first
        for r in spend["by_repo"]:
            assert text(f'tr[data-repo="{r["repo"]}"] [data-k="repo-cost"]') == money(r["cost_usd"])
        # one bar per repository, phase and model in the charts, and the budget line
        assert page.locator("svg.chart").count() == 3
        assert page.locator("svg.chart").nth(0).locator("rect").count() == len(spend["by_repo"])
        assert page.locator("svg.chart").nth(2).locator("rect").count() == len(spend["by_model"])
        assert "budget $50.00" in str(page.locator("svg.chart").nth(0).text_content())

        rows = page.locator("#outcomes tbody tr")
        assert rows.count() == len(api["outcomes"]["rows"]) > 0
        for i, r in enumerate(api["outcomes"]["rows"]):
            row = rows.nth(i)
            assert (row.get_attribute("data-phase"), row.get_attribute("data-model")) == (r["phase"], r["model"])
            assert str(row.locator('[data-k="jobs"]').inner_text()) == str(r["jobs"])
            assert str(row.locator('[data-k="cost"]').inner_text()) == money(r["cost_usd"])
            assert r["words"] in str(row.inner_text())

        jobs = page.locator("#jobs tbody tr")
        assert jobs.count() == len(api["jobs"])
        for i, j in enumerate(api["jobs"]):
            assert jobs.nth(i).get_attribute("data-job") == j["id"]
            assert str(jobs.nth(i).locator('[data-k="job-cost"]').inner_text()) == money(j["cost_usd"])


def test_api_stats_holds_the_switches_the_jobs_and_the_outcomes(
        recorded: Settings, make_config: Callable[..., Config]) -> None:
    with TestClient(create_app(recorded, make_config(), workers=0), base_url="http://127.0.0.1",
                    client=("127.0.0.1", 50000)) as local:
        api = local.get("/api/stats").json()
    switches = api["spend"]["switches"]
    # gadgets: reason-a answered 500 (a failed attempt; reason-b fell back in), fast-a's edits
    # did not apply twice, and reason-a wrote them (an escalation)
    assert (switches["escalations"], switches["fallbacks"], switches["failed_attempts"]) == (1, 1, 1)
    implement = next(j for j in api["jobs"] if j["repo"] == "acme/gadgets" and j["phase"] == "implement")
    assert (implement["trigger"], implement["profile"], implement["model"]) == (
        "issue_comment.created", "high-reasoning", "openai/reason-a")
    assert implement["why"].startswith("escalated: edits failed to apply twice")
    assert implement["calls"] == 3 and implement["url"].startswith("https://github.com/acme/gadgets/pull/")
    assert implement["outcomes"] == ["ci.green"]
    merged = next(j for j in api["jobs"] if j["repo"] == REPO and j["outcomes"] == ["ci.red", "pr.merged"])
    assert merged["phase"] == "implement" and merged["tokens_in"] == 2000
    assert api["outcomes"]["merged_prs"] == 1


@pytest.fixture
def remote(settings: Settings, make_config: Callable[..., Config]) -> Iterator[Callable[[str | None], TestClient]]:
    opened: list[TestClient] = []

    def open_(token: str | None) -> TestClient:
        client = TestClient(create_app(dataclasses.replace(settings, dashboard_token=token), make_config(), workers=0),
                            client=REMOTE, follow_redirects=False)
        opened.append(client.__enter__())
        return client

    yield open_
    for client in opened:
        client.__exit__(None, None, None)


def test_a_proxy_on_this_machine_does_not_make_its_visitors_local(
        settings: Settings, make_config: Callable[..., Config]) -> None:
    """A reverse proxy here forwards every visitor from 127.0.0.1: its forwarding header, or a
    public host name, makes the request another machine's (``bot.edge.local``)."""
    app = create_app(settings, make_config(), workers=0)
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as local:
        assert local.get("/api/stats").status_code == 200
        assert local.get("/api/stats", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
        assert local.get("/api/stats", headers={"Host": "bot.example.com"}).status_code == 404


def test_off_loopback_without_a_token_configured_everything_is_404(remote: Any) -> None:
    client = remote(None)
    assert client.get("/").status_code == 404
    assert client.get("/api/stats").status_code == 404
    assert client.get("/api/stats", headers={"Authorization": "Bearer anything"}).status_code == 404
    assert client.post("/login", data={"token": "anything"}).status_code == 404


def test_off_loopback_with_a_token_the_login_form_and_no_data_until_it_is_given(remote: Any) -> None:
    client = remote(TOKEN)
    page = client.get("/")
    assert page.status_code == 401 and '<form method="post" action="/login">' in page.text
    assert "$" not in page.text and "spent this month" not in page.text
    assert client.get("/api/stats").status_code == 401
    assert client.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert set(client.get("/api/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()) == {
        "generated_at", "month", "month_start", "budgets", "spend", "jobs", "outcomes"}

    wrong = client.post("/login", data={"token": "nope"})
    assert wrong.status_code == 401 and "not the one this server was given" in wrong.text
    assert COOKIE not in wrong.cookies
    right = client.post("/login", data={"token": TOKEN})
    assert right.status_code == 303 and right.headers["location"] == "/"
    cookie = right.headers["set-cookie"]
    assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert re.search(rf"{COOKIE}=[0-9a-f]{{64}}", cookie)
    signed_in = client.get("/")  # the client keeps the cookie
    assert signed_in.status_code == 200 and "spent this month" in signed_in.text
    client.cookies.clear()
    assert client.get("/").status_code == 401
