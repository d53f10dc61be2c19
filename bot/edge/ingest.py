"""Group commit: how the edge makes every 202 durable without one fsync per request.

Request handlers hand their ``NewDelivery`` to a single writer thread and await a future. The
writer takes everything that queued up while it was busy, stores the whole batch in one
transaction (``DeliveryStore.record_many``), resolves the batch's futures with one hop back to
the event loop, and hands the ids that are owed a run to a second thread, which enqueues all
that reached it meanwhile in one write. Under load the batches grow by themselves, so the cost
of the commit is shared by every request that waited for it; the enqueue runs beside the next
commit instead of in front of it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.store.deliveries import PENDING, DeliveryStore, NewDelivery

log = logging.getLogger("model_routing.ingest")
QUEUED, DUPLICATE, SKIPPED = "queued", "duplicate", "skipped"
T = TypeVar("T")


@dataclass
class _Item:
    record: NewDelivery
    future: asyncio.Future[str]
    loop: asyncio.AbstractEventLoop


class Ingest:
    def __init__(
        self,
        store: DeliveryStore,
        enqueue: Callable[[Sequence[str]], None],
        max_batch: int = 512,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.max_batch = max_batch
        self.batches = 0  # commits so far (metrics: requests per batch)
        self.records = 0
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._due: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._enqueuer = threading.Thread(target=self._enqueue_loop, name="ingest-enqueuer",
                                          daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._enqueuer.start()

    def stop(self) -> None:
        """Commit what is queued, enqueue what is owed, then end both threads."""
        self._inbox.put(None)
        self._thread.join(timeout=30)
        self._due.put(None)
        self._enqueuer.join(timeout=30)

    async def submit(self, record: NewDelivery) -> str:
        """Store the delivery durably; "queued", "duplicate" or "skipped". Raises when the
        store cannot be written (the edge answers 503 and GitHub may redeliver)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._inbox.put(_Item(record, future, loop))
        return await future

    def _write_loop(self) -> None:
        for batch in _batches(self._inbox, self.max_batch):
            self._commit(batch)

    def _enqueue_loop(self) -> None:
        for owed in _batches(self._due, None):  # all committed while the last enqueue ran
            ids = [delivery_id for ids in owed for delivery_id in ids]
            try:
                self.enqueue(ids)  # one write
            except Exception:
                log.exception("enqueue failed; the reaper will re-enqueue %d deliveries", len(ids))

    def _commit(self, batch: list[_Item]) -> None:
        outcomes: list[str | BaseException]
        due: list[str] = []
        try:
            owed = self.store.record_many([item.record for item in batch])
        except Exception as exc:
            log.exception("could not store %d deliveries", len(batch))
            outcomes = [exc] * len(batch)
        else:
            self.batches += 1
            self.records += len(batch)
            due = [item.record.id for item, flag in zip(batch, owed, strict=True) if flag]
            outcomes = [_status(item.record, flag) for item, flag in zip(batch, owed, strict=True)]
        # answer first: stored is what the 202 promises; the queue entry is only the wake-up
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[str], str | BaseException]]] = {}
        for item, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, outcome))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)  # one hop per batch
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
        if due:
            self._due.put(due)
        try:
            self.store.after_batch()
        except Exception:
            log.exception("delivery store upkeep failed")


def _batches(inbox: queue.SimpleQueue[T | None], limit: int | None) -> Iterator[list[T]]:
    """Everything that queued up while the last batch was handled (at most ``limit``), until
    ``None`` arrives; the items before it still make a last batch."""
    while True:
        first = inbox.get()
        if first is None:
            return
        batch = [first]
        while limit is None or len(batch) < limit:
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            if item is None:
                yield batch
                return
            batch.append(item)
        yield batch


def _status(record: NewDelivery, owed: bool) -> str:
    if record.status != PENDING:
        return SKIPPED
    return QUEUED if owed else DUPLICATE


def _resolve(results: list[tuple[asyncio.Future[str], str | BaseException]]) -> None:
    for future, outcome in results:
        if future.done():  # the client went away and the request was cancelled
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
