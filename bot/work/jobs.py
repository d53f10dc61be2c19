"""Running one delivery: claim it in the store, dispatch it, keep the lease alive, finish it.

The queue only carries the delivery id. A worker thread (huey's) claims the record with a
compare-and-set, so a duplicate queue entry, a re-enqueue by the reaper or a second worker
process finds nothing to do. The dispatch itself runs on one event loop per process (its own
thread): litellm and httpx keep clients bound to a loop, and one loop serves every job of the
process concurrently. While the job runs the worker thread renews the lease, so a long model
call never looks like a dead worker; there is no queue timeout.

A transient failure (GitHub 5xx, rate limit or network; every model of a profile down)
releases the record and schedules a retry with exponential backoff; anything else, or too many
attempts, finishes it as failed, which a redelivery from GitHub runs again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import EventError, parse_event
from bot.store.deliveries import DONE, FAILED, DeliveryStore, new_claim_token

log = logging.getLogger("model_routing.jobs")


@dataclass(frozen=True)
class JobOptions:
    lease_s: float = 120.0  # a worker silent this long is presumed dead
    max_attempts: int = 5
    backoff_s: float = 10.0  # first retry delay; doubles per attempt
    backoff_max_s: float = 900.0
    drain_s: float = 20.0  # on shutdown, how long running jobs may finish before release

    @property
    def heartbeat_s(self) -> float:
        return max(self.lease_s / 4, 0.05)

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s))


def transient(exc: BaseException) -> bool:
    """Worth retrying later: the failure was GitHub's, the network's or the model provider's."""
    if isinstance(exc, RateLimitExceeded):
        return True
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        return status >= 500 or status == 429
    if isinstance(exc, (RequestError, httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    # every model of the profile failed (a provider outage), or Redis could not be reached (the
    # shared budget): recognised by name, since neither bot.llm.model_router nor redis is imported here
    names = {(cls.__module__.split(".")[0], cls.__name__) for cls in type(exc).__mro__}
    return ("bot", "AllModelsFailed") in names or bool(
        names & {("redis", "ConnectionError"), ("redis", "TimeoutError")})


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class _ClaimLost(Exception):
    pass


class _Stopped(Exception):
    pass


def print_write(line: str) -> None:
    """Dry run: each planned write is one JSON line on stdout."""
    sys.stdout.write(line.rstrip("\n") + "\n")
    sys.stdout.flush()


class JobRunner:
    """One per process: the dispatcher (built once), its event loop, and the job life cycle."""

    def __init__(
        self,
        store: DeliveryStore,
        dispatcher: Dispatcher,
        retry_later: Callable[[str, float], None],
        options: JobOptions | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.retry_later = retry_later
        self.options = options or JobOptions()
        self.dry_run = dry_run
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="jobs-loop", daemon=True)
        self._stop_at: float | None = None
        self.ran: dict[str, int] = {}  # outcome -> count, for /metrics
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Running jobs get ``drain_s`` to finish; then they are released for a later run."""
        self._stop_at = time.monotonic() + self.options.drain_s

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self.dispatcher.aclose(), self._loop).result(timeout=10)
            except Exception:
                log.exception("could not stop the model library's background work")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def _count(self, outcome: str) -> str:
        with self._lock:
            self.ran[outcome] = self.ran.get(outcome, 0) + 1
        return outcome

    def run(self, delivery_id: str) -> str:
        """Called on a queue worker thread. Returns what happened (for logs and tests)."""
        token = new_claim_token()
        delivery = self.store.claim(delivery_id, token, self.options.lease_s)
        if delivery is None:
            return "not claimed"  # finished, or another worker holds it: a duplicate entry
        if delivery.attempts > self.options.max_attempts:
            # its workers keep dying (the reaper brought it back each time): stop trying
            self.store.finish(delivery_id, token, FAILED, f"gave up after {delivery.attempts - 1} attempts")
            return self._count(FAILED)
        try:
            event = parse_event(delivery.event, delivery.payload, delivery.id)
        except EventError as exc:
            self.store.finish(delivery_id, token, FAILED, describe(exc))
            return self._count(FAILED)
        log.info("delivery %s (%s) attempt %d", delivery_id, event.key, delivery.attempts)
        emit = print_write if self.dry_run else None
        future = asyncio.run_coroutine_threadsafe(
            self.dispatcher.dispatch(event, dry_run=self.dry_run, emit=emit), self._loop
        )
        try:
            outcome = self._wait(future, delivery_id, token)
        except _ClaimLost:
            log.warning("delivery %s: lease lost to another worker; result dropped", delivery_id)
            return self._count("lost")
        except _Stopped:
            self.store.release(delivery_id, token, "worker stopped", 0.0)
            return self._count("released")
        except Exception as exc:
            if transient(exc) and delivery.attempts < self.options.max_attempts:
                delay = self.options.backoff(delivery.attempts)
                log.warning("delivery %s: %s; retry in %.0fs", delivery_id, describe(exc), delay)
                # the reaper is the safety net should the scheduled retry be lost
                self.store.release(delivery_id, token, describe(exc), delay + self.store.grace_s)
                self.retry_later(delivery_id, delay)
                return self._count("retry")
            log.error("delivery %s failed: %s", delivery_id, describe(exc), exc_info=exc)
            self.store.finish(delivery_id, token, FAILED, describe(exc))
            return self._count(FAILED)
        failures = [f"{r.phase}: {r.detail}" for r in outcome.results if r.outcome == FAILED]
        status = FAILED if failures else DONE
        if not self.store.finish(delivery_id, token, status, "; ".join(failures) or None):
            log.warning("delivery %s: finished after its lease was taken over", delivery_id)
        log.info("delivery %s %s: %s", delivery_id, status, _summary(outcome))
        return self._count(status)

    def _wait(self, future: concurrent.futures.Future[Outcome], delivery_id: str, token: str) -> Outcome:
        next_beat = time.monotonic() + self.options.heartbeat_s
        while True:
            try:  # short ticks: a shutdown is noticed within a second, not a heartbeat
                return future.result(timeout=min(1.0, self.options.heartbeat_s))
            except concurrent.futures.TimeoutError:
                pass
            if self._stop_at is not None and time.monotonic() >= self._stop_at:
                future.cancel()
                raise _Stopped
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + self.options.heartbeat_s
            try:
                alive = self.store.heartbeat(delivery_id, token, self.options.lease_s)
            except Exception:
                log.exception("delivery %s: heartbeat failed", delivery_id)
                continue
            if not alive:
                future.cancel()
                raise _ClaimLost


def _summary(outcome: Outcome) -> str:
    if not outcome.handled:
        return outcome.reason
    jobs: list[dict[str, Any]] = [{"phase": r.phase, "outcome": r.outcome} for r in outcome.results]
    return json.dumps(jobs)
