"""The job queue: huey, with ``SqliteHuey`` in the data directory by default and ``RedisHuey``
when ``REDIS_URL`` is set. The same task code serves both.

A queue entry carries only the delivery id; the delivery store holds the payload and the state,
so losing an entry never loses a job: huey does not redeliver a task whose worker died, and the
reaper here re-enqueues every record whose recheck time has passed (pending too long, or
running with an expired lease). The queue itself therefore needs no fsync of its own.

Start-up knobs for operators and tests (environment, read once): ``MODEL_ROUTING_LEASE_S``,
``MODEL_ROUTING_REAP_S`` (reaper interval), ``MODEL_ROUTING_GRACE_S`` (how long a pending record
waits before the reaper assumes its entry was lost), ``MODEL_ROUTING_RETRY_S`` (first backoff),
``MODEL_ROUTING_RETRY_MAX_S`` (longest backoff), ``MODEL_ROUTING_RETRY_HORIZON_S`` (how long
transient failures are retried before the delivery is given up, an hour by default) and
``MODEL_ROUTING_MAX_KILLS`` (runs cut short by a dead or stopped worker before it is given up).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from huey.api import Huey
from huey.consumer import Consumer, Worker
from huey.storage import RedisStorage, SqliteStorage

from bot.store.deliveries import DeliveryStore
from bot.store.deliveries_sqlite import chunk_sizes, multirow
from bot.work.jobs import JobOptions

log = logging.getLogger("model_routing.queue")
TASK_NAME = "run_delivery"
PRUNE_EVERY = 120  # reaper rounds between prunes of old finished records
_TASK_INSERT = "insert into task (queue, data, priority) values {rows}"  # one step per chunk, not per id


@dataclass(frozen=True)
class QueueOptions:
    jobs: JobOptions = field(default_factory=JobOptions)
    reap_s: float = 30.0
    grace_s: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QueueOptions:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None

        jobs = JobOptions(lease_s=number("MODEL_ROUTING_LEASE_S", JobOptions.lease_s),
                          backoff_s=number("MODEL_ROUTING_RETRY_S", JobOptions.backoff_s),
                          backoff_max_s=number("MODEL_ROUTING_RETRY_MAX_S", JobOptions.backoff_max_s),
                          horizon_s=number("MODEL_ROUTING_RETRY_HORIZON_S", JobOptions.horizon_s),
                          max_kills=int(number("MODEL_ROUTING_MAX_KILLS", JobOptions.max_kills)))
        return cls(jobs, number("MODEL_ROUTING_REAP_S", cls.reap_s), number("MODEL_ROUTING_GRACE_S", cls.grace_s))


class Wake:
    """Tells this process's idle workers that a job was enqueued. The generation counter
    closes the gap between a worker finding the queue empty and starting to wait: a job
    enqueued in between is not slept through."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self.generation == seen:
                self._cond.wait(timeout)


class JobQueue:
    """The huey instance with the one task registered, and the ways to put ids on it."""

    def __init__(self, huey: Huey, store: DeliveryStore) -> None:
        self.huey = huey
        self.store = store
        self.wake = Wake()  # embedded workers wait on it instead of polling
        self._handler: Callable[[str], object] | None = None

        def run_delivery(delivery_id: str) -> None:
            if self._handler is None:
                raise RuntimeError("this process enqueues only; it has no job runner")
            self._handler(delivery_id)

        self.task = huey.task(name=TASK_NAME)(run_delivery)

    def attach(self, handler: Callable[[str], object]) -> None:
        self._handler = handler

    def enqueue(self, ids: Sequence[str]) -> None:
        """All of a batch in one write: one SQLite transaction or one LPUSH. Other storages
        (none configured today) get huey's one-by-one enqueue."""
        storage = self.huey.storage
        # one random base per batch: huey's own id is a uuid4 per task, and each os.urandom
        # lets go of the GIL, which this thread then waits to win back from the event loop
        base = uuid.uuid4().hex
        messages = [self.huey.serialize_task(self.task.s(delivery_id, id=f"{base}-{n}"))
                    for n, delivery_id in enumerate(ids)]
        if isinstance(storage, SqliteStorage):
            with storage.db(commit=True) as cursor:
                start = 0
                for size in chunk_sizes(len(messages)):
                    params = [v for m in messages[start:start + size] for v in (storage.name, storage.to_blob(m))]
                    cursor.execute(multirow(_TASK_INSERT, "(?, ?, 0)", size), params)
                    start += size
        elif isinstance(storage, RedisStorage) and messages:
            storage.conn.lpush(storage.queue_key, *messages)
        else:
            for delivery_id in ids:
                self.task(delivery_id)
        self.wake.notify()

    def retry_later(self, delivery_id: str, delay: float) -> None:
        self.task.schedule(args=(delivery_id,), delay=delay)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def reap(self) -> int:
        """Re-enqueue the records the store says are owed a look; a duplicate is harmless."""
        ids = self.store.stale()
        if ids:
            log.info("re-enqueueing %d stale deliveries", len(ids))
            self.enqueue(ids)
        return len(ids)


class Reaper:
    """A thread that runs ``JobQueue.reap`` at start and then every ``interval`` seconds."""

    def __init__(self, queue: JobQueue, interval: float) -> None:
        self.queue = queue
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        rounds = 0
        while True:
            try:
                self.queue.reap()
                rounds += 1
                if rounds % PRUNE_EVERY == 0:
                    self.queue.store.prune()
            except Exception:
                log.exception("reaper round failed")
            if self._stop.wait(self.interval):
                return


class _WakeWorker(Worker):  # type: ignore[misc]  # huey ships no type information
    """Waits on the queue's ``Wake`` rather than sleeping, so a job enqueued in this process
    starts at once; other processes' jobs are still seen within ``max_delay``."""

    wake: Wake
    _seen = 0
    delay: float  # huey's Worker sets these
    max_delay: float
    backoff: float

    def loop(self, now: Any = None) -> None:
        self._seen = self.wake.generation  # before looking at the queue
        super().loop(now)

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        self.wake.wait(self._seen, self.delay)
        self.delay *= self.backoff


class QueueConsumer(Consumer):  # type: ignore[misc]  # huey ships no type information
    """huey's thread consumer. ``embedded`` (inside ``serve``): no signal handlers of its own,
    uvicorn owns the signals and the lifespan stops it."""

    def __init__(self, queue: JobQueue, workers: int, embedded: bool, **kwargs: Any) -> None:
        self.wake = queue.wake
        self.embedded = embedded
        kwargs.setdefault("initial_delay", 0.05)
        kwargs.setdefault("max_delay", 1.0)
        kwargs.setdefault("backoff", 1.5)
        kwargs.setdefault("periodic", False)  # the Reaper thread does the periodic work
        kwargs.setdefault("check_worker_health", True)
        super().__init__(queue.huey, workers=workers, worker_type="thread", **kwargs)

    def _create_worker(self) -> Worker:
        worker = _WakeWorker(huey=self.huey, stop_flag=self.stop_flag, default_delay=self.default_delay,
                             max_delay=self.max_delay, backoff=self.backoff, max_tasks=self.max_tasks)
        worker.wake = self.wake
        return worker

    def _set_signal_handlers(self) -> None:
        if not self.embedded:
            super()._set_signal_handlers()

    def stop(self, graceful: bool = False) -> None:
        self.stop_flag.set()
        self.wake.notify()  # idle workers see the flag now, not after their wait
        super().stop(graceful)
