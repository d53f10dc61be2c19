"""Where the embedded-or-shared choice is made, once: SQLite in the data directory on one
machine, Redis when ``REDIS_URL`` lets workers run on several, PostgreSQL when ``DATABASE_URL``
gives them one ledger. Every store the process opens comes from here; nothing else reads
``redis_url`` or ``database_url``.

| store | embedded (default) | with ``REDIS_URL`` | with ``DATABASE_URL`` |
|---|---|---|---|
| deliveries and holds | ``deliveries.sqlite3`` + segments | Redis | (unchanged) |
| the queue (huey) | ``queue.sqlite3`` | Redis, blocking reads | (unchanged) |
| ledger: calls, jobs, outcomes | ``ledger.sqlite3`` | the same, and this month's spend in Redis | PostgreSQL, one for all |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from huey.api import Huey

    from bot.store.deliveries import DeliveryStore
    from bot.store.ledger import Ledger


def describe(settings: Settings) -> str:
    """In words, for logs: where the queue and the delivery store live (and the ledger, when
    that is elsewhere)."""
    where = "redis" if settings.redis_url else f"sqlite in {settings.data_dir}"
    return where + ("; ledger in postgresql" if settings.database_url else "")


def kind(settings: Settings) -> str:
    return "redis" if settings.redis_url else "sqlite"


def open_store(settings: Settings, grace_s: float = 600.0) -> DeliveryStore:
    """The delivery store (and holds)."""
    if settings.redis_url:
        from bot.store.deliveries_redis import RedisDeliveryStore

        return RedisDeliveryStore(settings.redis_url, grace_s=grace_s)
    from bot.store.deliveries_sqlite import SqliteDeliveryStore

    return SqliteDeliveryStore(Path(settings.data_dir) / "deliveries.sqlite3", grace_s=grace_s)


def ledger_kind(settings: Settings) -> str:
    return "postgresql" if settings.database_url else "sqlite"


def open_ledger(settings: Settings, data_dir: Path | None = None) -> Ledger:
    """The ledger: in PostgreSQL with ``DATABASE_URL`` (every machine writes and reads the same
    rows, so nothing else is shared); otherwise SQLite in the data directory, its monthly spend
    shared in Redis when workers run on several machines."""
    from bot.store.ledger import Ledger

    if settings.database_url:
        return Ledger(settings.database_url)
    shared = None
    if settings.redis_url:
        from bot.store.spend_redis import RedisSpend

        shared = RedisSpend(settings.redis_url)
    return Ledger(Path(data_dir or settings.data_dir) / "ledger.sqlite3", shared)


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        from huey import RedisHuey

        # blocking reads: an idle worker wakes the moment a job is pushed
        return RedisHuey("model-routing", url=settings.redis_url, results=False, blocking=True)
    from huey import SqliteHuey

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # fsync off: the delivery store is the durable record; a lost entry is re-enqueued
    return SqliteHuey("model-routing", filename=str(settings.data_dir / "queue.sqlite3"),
                      results=False, fsync=False)
