"""For tests that call litellm (or the model router) directly, each on an event loop of its own:
run the call, then release what litellm left on that loop (its cached HTTP clients, its logging
worker) before the loop closes, as ``Dispatcher.run_once`` does for a delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.llm.catalog import release_litellm

T = TypeVar("T")


def run_released(call: Awaitable[T]) -> T:
    async def once() -> T:
        try:
            return await call
        finally:
            await release_litellm()

    return asyncio.run(once())
