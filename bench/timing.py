"""Timing the fake GitHub's requests, and the sequential round trips a path made.

``Clock`` timestamps every request the fake answers. A critical path is the longest chain of
requests each of which started after the previous one was answered; ``critical_chain`` names
its steps, counting a bounded fan-out (requests of one kind handed on by a semaphore) once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

GAP_S = 0.015  # a request of the same kind starting within this of the last one's end joins it


@dataclass
class Timed:
    """One request to the fake GitHub with when it arrived and when it was answered."""

    method: str
    path: str
    start: float
    end: float
    status: int = 0


@dataclass
class Clock:
    """Wraps the fake's request pipeline to timestamp every request (monotonic seconds)."""

    calls: list[Timed] = field(default_factory=list)

    def install(self, backend: Backend) -> None:
        original = backend.handle

        async def handle(request: Any) -> Any:
            start = time.monotonic()
            response = await original(request)
            self.calls.append(Timed(request.method, request.url.path, start, time.monotonic(),
                                    response.status_code))
            return response

        backend.handle = handle  # type: ignore[method-assign]


def longest_chain(calls: list[Timed]) -> list[Timed]:
    """The longest chain of requests each of which started after the previous one was
    answered, in order."""
    ordered = sorted(calls, key=lambda c: c.end)
    best: list[tuple[int, int]] = []  # (depth, predecessor index)
    for i, call in enumerate(ordered):
        prior = [(best[j][0], j) for j in range(i) if ordered[j].end <= call.start + 1e-4]
        depth, pred = max(prior, default=(0, -1))
        best.append((depth + 1, pred))
    if not best:
        return []
    i = max(range(len(best)), key=lambda k: best[k][0])
    chain: list[Timed] = []
    while i >= 0:
        chain.append(ordered[i])
        i = best[i][1]
    return chain[::-1]


def sequential_depth(calls: list[Timed]) -> int:
    """Sequential round trips on the critical path, each wave a concurrency limit forces counted."""
    return len(longest_chain(calls))


def dependency_depth(calls: list[Timed], gap: float = GAP_S) -> int:
    """Sequential round trips counting a bounded fan-out once: requests of the same kind that each
    start within ``gap`` of the previous ones' end (a semaphore handing on its slot) form one
    step, so what remains is the chain the requests' dependencies impose."""
    return len(longest_chain(_groups(calls, gap)))


def critical_chain(calls: list[Timed], gap: float = GAP_S) -> list[str]:
    """The steps of the chain ``dependency_depth`` counts, in order, each named by its request
    kind; concurrent kinds are not shown, only the chain."""
    return [step.path for step in longest_chain(_groups(calls, gap))]


def template(path: str) -> str:
    """A request path with SHAs and numbers generalised: /git/blobs/{x}, /issues/{x}/comments."""
    return re.sub(r"/(?:[0-9a-f]{40}|\d+)(?=/|$)", "/{x}", path)


def _groups(calls: list[Timed], gap: float) -> list[Timed]:
    groups: list[Timed] = []
    open_groups: dict[str, Timed] = {}
    for call in sorted(calls, key=lambda c: c.start):
        key = f"{call.method} {template(call.path)}"
        group = open_groups.get(key)
        if group is not None and call.start <= group.end + gap:
            group.end = max(group.end, call.end)
            continue
        group = Timed(call.method, key, call.start, call.end, call.status)
        open_groups[key] = group
        groups.append(group)
    return groups
