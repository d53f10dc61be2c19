"""Shared fixtures: one fake GitHub and one fake LLM per test session, reset for every test.

``github`` and ``llm`` are the started fakes (state cleared before each test). A test that makes
the fake GitHub record an OpenAPI violation fails at teardown with the list of violations, so a
request GitHub would refuse can never pass unnoticed. ``make_config`` builds an operator config
whose three profiles point at the fake LLM; ``make_dispatcher`` the dispatcher every edge uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bot.config import Config, ModelSpec
from bot.dispatch.dispatcher import Dispatcher
from bot.github.clients import RetryPolicy
from bot.github.identity import ACTIONS_BOT
from bot.settings import Settings
from tests.fakes.chaos import ChaosProxy
from tests.fakes.ci_logs import CIFailure, failing_ci_run
from tests.fakes.fixtures import openapi_path, require
from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.fakes.openapi import OpenAPI

# fixture modules: `chromium`, `browser`, `page` (tests/browser.py); `postgres`, `database_url`,
# `pg_url` (tests/postgres.py)
pytest_plugins = ("tests.browser", "tests.postgres")

# test model names: the fake LLM answers any name; windows and prices come from here
TEST_MODELS: dict[str, list[dict[str, Any]]] = {
    "high-reasoning": [
        {"model": "openai/reason-a", "max_input_tokens": 200_000, "input_cost_per_million": 20.0, "output_cost_per_million": 80.0},
        {"model": "openai/reason-b", "max_input_tokens": 128_000, "input_cost_per_million": 0.55, "output_cost_per_million": 2.19},
    ],
    "high-throughput": [
        {"model": "openai/fast-a", "max_input_tokens": 1_000_000, "input_cost_per_million": 0.5, "output_cost_per_million": 3.0},
        {"model": "openai/fast-b", "max_input_tokens": 200_000, "input_cost_per_million": 1.0, "output_cost_per_million": 5.0},
    ],
    "massive-context": [
        {"model": "openai/wide-a", "max_input_tokens": 1_048_576, "input_cost_per_million": 2.0, "output_cost_per_million": 12.0},
        {"model": "openai/wide-b", "max_input_tokens": 1_000_000, "input_cost_per_million": 3.0, "output_cost_per_million": 15.0},
    ],
}
# retries that do not make a test wait: GitHub's asked-for waits are honoured, but capped
FAST_RETRY = RetryPolicy(secondary_wait=0.05, max_wait=0.2, server_backoff=0.01)


def _openapi() -> OpenAPI | None:
    path = openapi_path()
    if not path.is_file():
        if os.environ.get("CI"):
            require(path, "GitHub's OpenAPI description")  # fails with how to fetch it
        return None  # a developer without the fixtures still gets the behavioural tests
    return OpenAPI.load(path)


# the session's fake GitHub, for the conformance summary at the end of the run
GITHUB_FAKE = pytest.StashKey[FakeGitHub]()


@pytest.fixture(scope="session")
def _github_server(request: pytest.FixtureRequest) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(_openapi()).start()
    request.config.stash[GITHUB_FAKE] = fake
    yield fake
    fake.stop()


@pytest.fixture
def github(_github_server: FakeGitHub) -> Iterator[FakeGitHub]:
    _github_server.reset()
    yield _github_server
    found = list(_github_server.violations)
    if found:
        pytest.fail("the fake GitHub saw requests or gave responses that GitHub's OpenAPI "
                    "description does not allow:\n" + "\n".join(map(str, found)), pytrace=False)


@pytest.fixture(scope="session")
def _chaos_proxy(_github_server: FakeGitHub) -> Iterator[ChaosProxy]:
    proxy = ChaosProxy(_github_server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def chaos(_chaos_proxy: ChaosProxy, github: FakeGitHub) -> ChaosProxy:
    """A fault-injecting proxy in front of ``github`` (give the bot ``chaos.url`` as its API
    URL): no rules, no random faults, counters at zero."""
    _chaos_proxy.reset(rate=0.0)
    return _chaos_proxy


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[FakeLLM]:
    fake = FakeLLM().start()
    yield fake
    fake.stop()


@pytest.fixture
def llm(_llm_server: FakeLLM) -> FakeLLM:
    _llm_server.reset()
    return _llm_server


@pytest.fixture
def make_config(llm: FakeLLM) -> Callable[..., Config]:
    """``make_config(budgets={"monthly_usd": 1}, ...)``: the test profiles on the fake LLM,
    with any other top-level keys of the operator config."""

    def build(profiles: dict[str, list[dict[str, Any]]] | None = None, **overrides: Any) -> Config:
        chosen = profiles or TEST_MODELS
        specs = {
            profile: [ModelSpec(**{"api_base": llm.url, "api_key": "test-key-not-secret", **m}) for m in models]
            for profile, models in chosen.items()
        }
        data: dict[str, Any] = {"retries": 0, "timeout": 20.0, **overrides, "profiles": specs}
        return Config.model_validate(data)

    return build


@pytest.fixture
def settings(github: FakeGitHub, tmp_path: Path) -> Settings:
    """Token auth (as the Action and replay run) against the fake GitHub; the bot posts as the
    Action token's account, github-actions[bot] (``bot.cli.action`` pins it so)."""
    return Settings(api_url=github.url, github_token=ACTION_TOKEN, data_dir=tmp_path / "data",
                    webhook_secret="test-webhook-secret", bot_login=ACTIONS_BOT)


@pytest.fixture
def app_settings(github: FakeGitHub, tmp_path: Path) -> Settings:
    """App auth (as the server runs) against the fake GitHub."""
    return Settings(api_url=github.url, app_id=str(github.app.app_id),
                    private_key=github.app.private_key_pem, data_dir=tmp_path / "data",
                    webhook_secret="test-webhook-secret", bot_login=github.app.bot_login)


@pytest.fixture
def make_dispatcher(make_config: Callable[..., Config]) -> Iterator[Callable[..., Dispatcher]]:
    from bot.work.compose import build_dispatcher

    built: list[Dispatcher] = []

    def build(settings: Settings, config: Config | None = None) -> Dispatcher:
        dispatcher = build_dispatcher(settings, config or make_config(), retry=FAST_RETRY)
        built.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in built:
        dispatcher.ledger.close()


@pytest.fixture(scope="session")
def ci(tmp_path_factory: pytest.TempPathFactory) -> CIFailure:
    """A red CI run's data made by the real tool: pytest run on a small project with a real bug,
    in a GitHub Actions job log (tests/fakes/ci_logs.py)."""
    return failing_ci_run(tmp_path_factory.mktemp("ci"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """What the fake GitHub checked this session; only when a test started it."""
    fake = config.stash.get(GITHUB_FAKE, None)
    if fake is None:
        return
    from tests.fakes.github_report import summary_lines

    terminalreporter.write_sep("=", "GitHub conformance")
    for line in summary_lines(fake.backend):
        terminalreporter.write_line(line)
