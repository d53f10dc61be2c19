"""Running one delivery: claim it in the store, dispatch it, keep the lease alive, finish it.

The queue only carries the delivery id. A worker thread (huey's) claims the record with a
compare-and-set, so a duplicate queue entry, a re-enqueue by the reaper or a second worker
process finds nothing to do. The dispatch itself runs on one event loop per process (its own
thread): litellm and httpx keep clients bound to a loop, and one loop serves every job of the
process concurrently. While the job runs the worker thread renews the lease, so a long model
call never looks like a dead worker; there is no queue timeout.

A transient failure (GitHub 5xx, rate limit or network; every model of a profile down)
releases the record and schedules a retry with exponential backoff, until the waits outlast a
short GitHub incident (``horizon_s``, an hour by default). A run cut short (its worker killed, so
its lease ran out, or stopped at shutdown) is counted apart and has its own, larger budget: a
deploy or a crash does not use up the retries meant for errors, but a delivery that kills every
worker that runs it still ends. A delivery given up (an error no retry fixes, the horizon or
the kill budget spent) is finished as failed and the bot says so on its issue or pull request
(``bot.work.failure``); a redelivery from GitHub runs it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event, EventError, parse_event
from bot.store.deliveries import DONE, FAILED, Delivery, DeliveryStore, new_claim_token
from bot.work.failure import GaveUp, report

log = logging.getLogger("model_routing.jobs")
T = TypeVar("T")


@dataclass(frozen=True)
class JobOptions:
    lease_s: float = 120.0  # a worker silent this long is presumed dead
    backoff_s: float = 10.0  # first retry delay; doubles per attempt
    backoff_max_s: float = 600.0
    horizon_s: float = 3600.0  # transient failures are retried until the waits add up to this
    max_kills: int = 10  # runs cut short (worker killed or stopped) before a delivery is given up
    drain_s: float = 20.0  # on shutdown, how long running jobs may finish before release
    max_attempts: int = 0  # runs for transient failures; 0: as many as ``horizon_s`` takes

    @property
    def heartbeat_s(self) -> float:
        return max(self.lease_s / 4, 0.05)

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s))

    @property
    def attempts(self) -> int:
        """Runs a delivery gets for transient failures: the first, then one after each backoff
        until the backoffs together reach the horizon."""
        if self.max_attempts > 0:
            return self.max_attempts
        runs, waited = 1, 0.0
        while waited < self.horizon_s and runs < 1000:
            waited += self.backoff(runs)
            runs += 1
        return runs


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
        self.failure_comments: Counter[str] = Counter()  # posted / not_posted / no_target
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
        try:
            event = parse_event(delivery.event, delivery.payload, delivery.id)
        except EventError as exc:
            self.store.finish(delivery_id, token, FAILED, describe(exc))
            return self._count(FAILED)
        if delivery.kills > self.options.max_kills:
            # its workers keep dying (the reaper brought it back each time): stop trying
            why = (f"Its run was cut short {delivery.kills} times (the worker was killed or stopped "
                   "mid-job), so it is not tried again.")
            return self._give_up(delivery, token, event, GaveUp(why, delivery.error or "worker lost mid-job"))
        log.info("delivery %s (%s) attempt %d (%d cut short)", delivery_id, event.key, delivery.attempts, delivery.kills)
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
            self.store.release(delivery_id, token, "worker stopped", 0.0, interrupted=True)
            return self._count("released")
        except Exception as exc:
            if transient(exc) and delivery.attempts < self.options.attempts:
                delay = self.options.backoff(delivery.attempts)
                log.warning("delivery %s: %s; retry in %.0fs", delivery_id, describe(exc), delay)
                # the reaper is the safety net should the scheduled retry be lost
                self.store.release(delivery_id, token, describe(exc), delay + self.store.grace_s)
                self.retry_later(delivery_id, delay)
                return self._count("retry")
            log.error("delivery %s failed: %s", delivery_id, describe(exc), exc_info=exc)
            minutes = max(time.time() - delivery.received_at, 0.0) / 60
            why = (f"GitHub, the network or the model provider kept failing: {delivery.attempts} attempts "
                   f"over {minutes:.0f} minutes." if transient(exc)
                   else "It stopped on an error that trying again by itself would not fix.")
            return self._give_up(delivery, token, event, GaveUp(why, describe(exc)))
        failures = [f"{r.phase}: {r.detail}" for r in outcome.results if r.outcome == FAILED]
        status = FAILED if failures else DONE
        if not self.store.finish(delivery_id, token, status, "; ".join(failures) or None):
            log.warning("delivery %s: finished after its lease was taken over", delivery_id)
        log.info("delivery %s %s: %s", delivery_id, status, _summary(outcome))
        return self._count(status)

    def _give_up(self, delivery: Delivery, token: str, event: Event, gave_up: GaveUp) -> str:
        """Say so on the issue or pull request (the lease kept alive meanwhile), then finish
        as failed: a worker killed in between finds the comment by its marker and edits it."""
        future = asyncio.run_coroutine_threadsafe(report(self.dispatcher, event, gave_up, dry_run=self.dry_run), self._loop)
        try:
            written = self._wait(future, delivery.id, token)
        except _ClaimLost:
            return self._count("lost")  # the worker that took it over gives it up
        except _Stopped:
            self.store.release(delivery.id, token, "worker stopped", 0.0, interrupted=True)
            return self._count("released")
        except Exception as exc:  # noqa: BLE001 - GitHub may be down: the failure is still recorded
            log.error("delivery %s: the failure comment could not be posted: %s", delivery.id, describe(exc))
            self._count_comment("not_posted")
        else:
            self._count_comment("posted" if written is not None else "no_target")
        self.store.finish(delivery.id, token, FAILED, gave_up.error)
        return self._count(FAILED)

    def _count_comment(self, result: str) -> None:
        with self._lock:
            self.failure_comments[result] += 1

    def _wait(self, future: concurrent.futures.Future[T], delivery_id: str, token: str) -> T:
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
