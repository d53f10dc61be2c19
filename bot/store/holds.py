"""Holds: which delivery is doing a piece of one-off work right now, so two never do it twice.

Two deliveries can ask for the same work at once (a large pull request's ``opened`` and a
maintainer's ``/review`` a moment later); both would read "not reviewed yet" and both would pay
for the model and post. A hold is a compare-and-set on a key such as ``review:o/r#7@<sha>``:
the first delivery takes it, the other is told another one is at it. The owner is the delivery
id, so the same delivery run again after a crash takes its own hold back.

The server's holds live in its delivery store (SQLite on one machine, Redis across machines);
the Action and ``replay`` run one delivery per process and use ``LocalHolds``. A hold expires
after ``ttl_s``, so a worker that died holding one does not block the work for ever.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol


class Holds(Protocol):
    def hold(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the hold on ``key``; False while another owner's hold is live."""

    def unhold(self, key: str, owner: str) -> None:
        """Let go of ``key`` if ``owner`` holds it (the work failed: someone may try again)."""


class LocalHolds:
    """Holds in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, float]] = {}  # key -> (owner, until)

    def hold(self, key: str, owner: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            current = self._held.get(key)
            if current is not None and current[0] != owner and current[1] > now:
                return False
            self._held[key] = (owner, now + ttl_s)
            return True

    def unhold(self, key: str, owner: str) -> None:
        with self._lock:
            if self._held.get(key, ("", 0.0))[0] == owner:
                del self._held[key]


class Hold:
    """One delivery's hold on one key, for ``held``: let go on leaving unless ``keep`` was called."""

    def __init__(self, taken: bool) -> None:
        self.taken = taken
        self.kept = False

    def keep(self) -> None:
        """The work is done: keep the hold until it expires, so a delivery that looked before
        the work was visible (and would do it again) is refused."""
        self.kept = True


@asynccontextmanager
async def held(holds: Holds, key: str, owner: str, ttl_s: float) -> AsyncIterator[Hold]:
    """Try to take the hold (from a thread: the store is blocking); on leaving, let it go unless
    the work was done, so a failure leaves the work to a later delivery."""
    hold = Hold(await asyncio.to_thread(holds.hold, key, owner, ttl_s))
    try:
        yield hold
    finally:
        if hold.taken and not hold.kept:
            await asyncio.shield(asyncio.to_thread(holds.unhold, key, owner))
