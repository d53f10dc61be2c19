"""Driving the fake GitHub directly (not through the bot) with githubkit's typed client, for the
tests of the fake itself: a client with no retries, one coroutine run, the status of a refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import RequestFailed

from tests.fakes.fixtures import openapi_path, require
from tests.fakes.github import ACTION_TOKEN, FakeGitHub


def require_description(github: FakeGitHub) -> None:
    """These tests check shapes against GitHub's description: without it, they cannot pass."""
    if github.backend.openapi is None:
        require(openapi_path(), "GitHub's OpenAPI description")


def client(github: FakeGitHub, agent: str) -> GitHub[Any]:
    return GitHub(TokenAuthStrategy(ACTION_TOKEN), base_url=github.url + "/", user_agent=agent,
                  http_cache=False, auto_retry=False)


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def refusal(call: Awaitable[Any]) -> RequestFailed:
    with pytest.raises(RequestFailed) as caught:
        run(call)
    return caught.value


def status_of(call: Awaitable[Any]) -> int:
    return refusal(call).response.status_code
