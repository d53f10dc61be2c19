from __future__ import annotations

import asyncio
from typing import Any

from bot.dispatch.router import Router


def test_every_matching_handler_runs_and_routers_compose() -> None:
    calls: list[str] = []
    a, b = Router(), Router()

    @a.register("issues", action="labeled")
    async def on_labeled(ctx: Any) -> None:
        calls.append("a-labeled")

    @a.register("issues")
    async def on_any_issue(ctx: Any) -> None:
        calls.append("a-any")

    @b.register("issues", action="labeled")
    async def b_labeled(ctx: Any) -> None:
        calls.append("b-labeled")

    @b.register("pull_request", action="opened")
    async def b_opened(ctx: Any) -> None:
        calls.append("b-opened")

    router = Router(a, b)
    for handler in router.handlers("issues", "labeled"):
        asyncio.run(handler(None))
    assert calls == ["a-any", "a-labeled", "b-labeled"]
    assert router.handles("pull_request", "opened")
    assert not router.handles("pull_request", "closed")
    assert router.handlers("issues", "opened") == [on_any_issue]


def test_registering_twice_runs_once() -> None:
    router = Router()

    async def h(ctx: Any) -> None:
        return None

    router.add(h, "ping")
    router.include(Router(router))
    assert router.handlers("ping", None) == [h]
