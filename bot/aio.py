"""Two asyncio patterns every phase uses: a bounded fan-out, and reads begun early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


async def bounded(limit: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs with at most ``limit`` in flight; results in the jobs' order."""
    gate = asyncio.Semaphore(max(1, limit))

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


@asynccontextmanager
async def started(reads: Awaitable[T] | None) -> AsyncIterator[asyncio.Future[T] | None]:
    """``reads`` running from now on, so they overlap whatever the block checks first (the
    labeler's permission). A block that leaves without awaiting them cancels them and drops
    their results and errors: nothing read for a user who may not trigger the job is used."""
    task = asyncio.ensure_future(reads) if reads is not None else None
    try:
        yield task
    finally:
        if task is not None:
            task.cancel()  # a no-op once done
            await asyncio.gather(task, return_exceptions=True)  # retrieved: never "never retrieved"
