"""The delivery store: the durable record of every webhook delivery, and the source of truth for
which jobs are owed.

The queue (huey) only carries delivery ids; the payload lives here, so a job whose queue entry
was lost (a worker killed after dequeueing it, a crash between commit and enqueue) can always be
found again and re-enqueued. Two backends share one interface: SQLite in the data directory
(``deliveries_sqlite.py``, the default, one machine) and Redis (``deliveries_redis.py``, when
workers run on several machines).

Life of a delivery::

    pending --claim--> running --finish--> done | failed
       ^                  |  \\--release (transient error, retry later)--> pending
       |                  \\--lease expired (worker died) --claim again--> running
    failed/skipped --redelivered--> pending         skipped: no handler, never enqueued

A claim of a pending record counts an attempt; a claim that takes over an expired lease (the
worker died) counts a kill instead, as does a release at shutdown: the job runner gives each its
own budget, so workers killed mid-job do not use up the retries meant for errors.

``recheck_at`` is when the reaper looks at a record again: for a pending one, ``grace`` after it
was enqueued (its queue entry may be lost); for a running one, when its lease runs out (its
worker may be dead). A claim is a compare-and-set, so a re-enqueued duplicate is a no-op.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
STATUSES = (PENDING, RUNNING, DONE, FAILED, SKIPPED)
RETENTION_S = 30 * 86400  # GitHub redelivers for 3 days; keep finished records well past that


@dataclass(frozen=True)
class NewDelivery:
    """What the edge records before it answers 202."""

    id: str
    event: str
    action: str | None
    repo: str | None
    payload: bytes  # the JSON body as GitHub sent it (empty for skipped deliveries)
    status: str = PENDING  # PENDING (to run) or SKIPPED (no handler)


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    action: str | None
    repo: str | None
    payload: bytes
    status: str
    attempts: int  # runs started from pending: the first, then one per retry after an error
    received_at: float
    claim: str | None = None
    lease_until: float | None = None
    finished_at: float | None = None
    error: str | None = None
    kills: int = 0  # runs cut short: taken over after the lease expired, or released at shutdown


def new_claim_token() -> str:
    return uuid.uuid4().hex


class DeliveryStore(ABC):
    """One small interface over SQLite and Redis. Every method is blocking: call it from a thread."""

    backend: str
    grace_s: float  # how long a pending record may sit before the reaper re-enqueues it

    @abstractmethod
    def record_many(self, records: Sequence[NewDelivery]) -> list[bool]:
        """Store records in one transaction (or round trip). For each: True when it is owed a
        run (new, or a redelivery of a failed/skipped one), False for a duplicate."""

    @abstractmethod
    def get(self, delivery_id: str) -> Delivery | None: ...

    @abstractmethod
    def claim(self, delivery_id: str, token: str, lease_s: float) -> Delivery | None:
        """pending -> running (or take over a running one whose lease expired). None when
        someone else holds it or it is finished."""

    @abstractmethod
    def heartbeat(self, delivery_id: str, token: str, lease_s: float) -> bool:
        """Extend the lease; False when the claim was lost (taken over after expiry)."""

    @abstractmethod
    def finish(self, delivery_id: str, token: str, status: str, error: str | None = None) -> bool:
        """running -> done/failed, only for the holder of the claim."""

    @abstractmethod
    def release(self, delivery_id: str, token: str, error: str, recheck_in: float,
                *, interrupted: bool = False) -> bool:
        """running -> pending (a retry is scheduled, or the worker is shutting down:
        ``interrupted``, counted as a kill rather than an attempt)."""

    @abstractmethod
    def stale(self, limit: int = 500) -> list[str]:
        """Ids whose recheck time has passed; each is pushed ``grace`` into the future, so
        concurrent reapers do not re-enqueue the same record over and over."""

    @abstractmethod
    def counts(self) -> dict[tuple[str, str], int]:
        """(event, status) -> number of stored records."""

    @abstractmethod
    def ping(self) -> bool: ...

    def prune(self) -> int:
        """Forget finished records older than the retention; returns how many."""
        return 0

    @abstractmethod
    def hold(self, key: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the hold on ``key`` for ``owner`` (``bot.store.holds``); False while another
        owner's hold on it is live."""

    @abstractmethod
    def unhold(self, key: str, owner: str) -> None:
        """Let go of ``key`` if ``owner`` holds it."""

    def after_batch(self) -> None:
        """Upkeep the group-commit writer runs once a batch is answered (its thread only)."""
        return None

    def close(self) -> None:
        return None


def applies(current: str | None, incoming: str) -> bool:
    """Whether a delivery arriving with status ``incoming`` is written over the stored one.
    A redelivery of a failed delivery (or of one skipped before a handler existed) runs again;
    of a pending, running or done one it changes nothing."""
    return current is None or current == FAILED or (current == SKIPPED and incoming == PENDING)
