"""The delivery store in SQLite, in the data directory: the default backend (one machine).

A 202 promises the delivery survives a power cut, so every commit is ``synchronous=FULL``;
group commit (``record_many`` from the single writer thread of ``bot.edge.ingest``) makes that one
fsync per batch rather than per request. Payloads go to append-only segment files
(``bot.store.payload_log``), synced before the rows that point at them are committed. The interface and the redelivery rule
(``bot.store.deliveries.applies``) are shared with the Redis backend.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.store.deliveries import PENDING, RETENTION_S, Delivery, DeliveryStore, NewDelivery, applies
from bot.store.payload_log import PayloadLog
from bot.store.sqldb import connect_wal

CHECKPOINT_ROWS = 4096  # rows of about 200 bytes: a WAL of a few MB, copied in a few ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,          -- X-GitHub-Delivery: the unique constraint makes dedupe atomic
    event TEXT NOT NULL,
    action TEXT,
    repo TEXT,
    payload BLOB NOT NULL DEFAULT x'',  -- only in databases from before the payload log
    seg INTEGER,                  -- where the payload is in the payload log
    off INTEGER,
    len INTEGER,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    kills INTEGER NOT NULL DEFAULT 0,  -- runs cut short (lease expired, shutdown)
    received_at REAL NOT NULL,
    recheck_at REAL,
    claim TEXT,
    lease_until REAL,
    finished_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_recheck ON deliveries (recheck_at)
    WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at)
    WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS holds (   -- bot.store.holds: one-off work a delivery is doing now
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
"""



# The writer decides in Python, under its write lock, which records apply (``applies``), so
# the upsert itself is unconditional: one statement stores many rows.
_UPSERT_ROWS = (
    "INSERT INTO deliveries (id, event, action, repo, payload, seg, off, len, status, received_at,"
    " recheck_at, finished_at) VALUES {rows} ON CONFLICT (id) DO UPDATE SET"
    " status = excluded.status, payload = x'', seg = excluded.seg, off = excluded.off,"
    " len = excluded.len, received_at = excluded.received_at, recheck_at = excluded.recheck_at,"
    " finished_at = excluded.finished_at, attempts = 0, kills = 0, claim = NULL, lease_until = NULL,"
    " error = NULL"
)
_ROW = "(?, ?, ?, ?, x'', ?, ?, ?, ?, ?, ?, ?)"  # payload x'': it is in the log
_STATUSES = "SELECT id, status FROM deliveries WHERE id IN (SELECT value FROM json_each(?))"
_CHUNK = 64  # rows per statement at most


def chunk_sizes(n: int) -> list[int]:
    """Full chunks, then one of the exact remainder: a batch takes as few statements as it can,
    since every statement step lets go of the GIL and must win it back from the event loop.
    There are only ``_CHUNK`` shapes, each prepared once (``multirow`` and sqlite3's cache)."""
    return [_CHUNK] * (n // _CHUNK) + ([n % _CHUNK] if n % _CHUNK else [])


@functools.lru_cache(maxsize=4 * _CHUNK)
def multirow(statement: str, row: str, n: int) -> str:
    """``statement`` with ``{rows}`` replaced by ``n`` copies of ``row``."""
    return statement.format(rows=", ".join([row] * n))


class SqliteDeliveryStore(DeliveryStore):
    backend = "sqlite"

    def __init__(self, path: Path | str, grace_s: float = 600.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.grace_s = grace_s
        # Two connections: the group-commit writer's (only ever used by its single thread) and
        # one for claims, heartbeats and reads, so job bookkeeping never queues behind a batch.
        self._writer = self._connect()
        # The writer checkpoints in ``after_batch``, once a batch is answered, rather than
        # inside whichever COMMIT crosses the threshold: that batch would wait for it.
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._unsynced = 0  # rows written since the writer's last checkpoint
        self._lock = threading.Lock()
        self._db = self._connect()
        self._db.executescript(SCHEMA)
        self._migrate()
        self.payloads = PayloadLog(self.path.parent / f"{self.path.stem}.payloads")

    def _migrate(self) -> None:
        """A database from before the payload log keeps its inline payloads and gains the
        columns that point into the log."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        for column in ("seg", "off", "len"):
            if column not in columns:
                self._db.execute(f"ALTER TABLE deliveries ADD COLUMN {column} INTEGER")
        if "kills" not in columns:
            self._db.execute("ALTER TABLE deliveries ADD COLUMN kills INTEGER NOT NULL DEFAULT 0")

    def _connect(self) -> sqlite3.Connection:
        db = connect_wal(str(self.path), timeout=30)
        # FULL: a 202 promises the delivery survives a power cut, not just a crash. Group commit
        # makes that one fsync per batch rather than per request.
        db.execute("PRAGMA synchronous=FULL")
        return db

    def record_many(self, records: Sequence[NewDelivery]) -> list[bool]:
        """One transaction of a few statements whatever the batch size: every statement step
        lets go of the GIL and must win it back from the busy event loop, so the writer takes
        as few steps as it can (no step per record)."""
        now = time.time()
        db = self._writer
        db.execute("BEGIN IMMEDIATE")  # the write lock: nobody changes a status before COMMIT
        try:
            ids = json.dumps(list({rec.id: None for rec in records}))
            known: dict[str, str] = dict(db.execute(_STATUSES, (ids,)).fetchall())
            owed: list[bool] = []
            final: dict[str, NewDelivery] = {}  # id -> the record it ends with
            for rec in records:
                if not applies(known.get(rec.id), rec.status):
                    owed.append(False)
                    continue
                owed.append(rec.status == PENDING)
                known[rec.id] = rec.status
                final[rec.id] = rec
            # the payloads are on disk before any row that points at them is committed
            seg, offsets = self.payloads.append([rec.payload for rec in final.values()])
            rows = []
            for rec, off in zip(final.values(), offsets, strict=True):
                recheck, finished = (now + self.grace_s, None) if rec.status == PENDING else (None, now)
                rows.append((rec.id, rec.event, rec.action, rec.repo, seg, off, len(rec.payload),
                             rec.status, now, recheck, finished))
            start = 0
            for size in chunk_sizes(len(rows)):
                params = [value for row in rows[start:start + size] for value in row]
                db.execute(multirow(_UPSERT_ROWS, _ROW, size), params)
                start += size
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._unsynced += len(rows)
        return owed

    def after_batch(self) -> None:
        if self._unsynced >= CHECKPOINT_ROWS:
            self._unsynced = 0
            # PASSIVE: waits for nobody; with every frame copied, the next commit starts the
            # WAL file over instead of growing it
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """Rows and rowcount, both read under the lock (RETURNING rows arrive as they are fetched)."""
        with self._lock:
            cur = self._db.execute(sql, args)
            rows = cur.fetchall()
            return rows, cur.rowcount

    def get(self, delivery_id: str) -> Delivery | None:
        rows, _ = self._run(
            "SELECT id, event, action, repo, payload, seg, off, len, status, attempts, received_at,"
            " claim, lease_until, finished_at, error, kills FROM deliveries WHERE id = ?",
            (delivery_id,),
        )
        if not rows:
            return None
        (id_, event, action, repo, inline, seg, off, length, status, attempts, received_at,
         claim, lease_until, finished_at, error, kills) = rows[0]
        payload = bytes(inline) if seg is None else self.payloads.read(seg, off, length)
        return Delivery(id_, event, action, repo, payload, status, attempts, received_at,
                        claim, lease_until, finished_at, error, kills)

    def claim(self, delivery_id: str, token: str, lease_s: float) -> Delivery | None:
        now = time.time()
        _, changed = self._run(
            "UPDATE deliveries SET status = 'running', claim = ?, lease_until = ?, recheck_at = ?,"
            " attempts = attempts + (status = 'pending'), kills = kills + (status = 'running')"
            " WHERE id = ? AND (status = 'pending'"
            " OR (status = 'running' AND lease_until < ?))",
            (token, now + lease_s, now + lease_s, delivery_id, now),
        )
        return self.get(delivery_id) if changed == 1 else None

    def heartbeat(self, delivery_id: str, token: str, lease_s: float) -> bool:
        until = time.time() + lease_s
        _, changed = self._run(
            "UPDATE deliveries SET lease_until = ?, recheck_at = ? WHERE id = ? AND claim = ?"
            " AND status = 'running'",
            (until, until, delivery_id, token),
        )
        return changed == 1

    def finish(self, delivery_id: str, token: str, status: str, error: str | None = None) -> bool:
        _, changed = self._run(
            "UPDATE deliveries SET status = ?, error = ?, finished_at = ?, claim = NULL,"
            " lease_until = NULL, recheck_at = NULL WHERE id = ? AND claim = ? AND status = 'running'",
            (status, error, time.time(), delivery_id, token),
        )
        return changed == 1

    def release(self, delivery_id: str, token: str, error: str, recheck_in: float,
                *, interrupted: bool = False) -> bool:
        cut = int(interrupted)
        _, changed = self._run(
            "UPDATE deliveries SET status = 'pending', error = ?, claim = NULL, lease_until = NULL,"
            " recheck_at = ?, attempts = attempts - ?, kills = kills + ?"
            " WHERE id = ? AND claim = ? AND status = 'running'",
            (error, time.time() + recheck_in, cut, cut, delivery_id, token),
        )
        return changed == 1

    def stale(self, limit: int = 500) -> list[str]:
        now = time.time()
        rows, _ = self._run(
            "UPDATE deliveries SET recheck_at = ? WHERE id IN (SELECT id FROM deliveries"
            " WHERE status IN ('pending', 'running') AND recheck_at < ? ORDER BY recheck_at LIMIT ?)"
            " RETURNING id",
            (now + self.grace_s, now, limit),
        )
        return [str(row[0]) for row in rows]

    def hold(self, key: str, owner: str, ttl_s: float) -> bool:
        now = time.time()
        rows, _ = self._run(  # one statement: the compare-and-set is atomic across processes
            "INSERT INTO holds (key, owner, until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
            " SET owner = excluded.owner, until = excluded.until"
            " WHERE holds.owner = excluded.owner OR holds.until < ? RETURNING owner",
            (key, owner, now + ttl_s, now),
        )
        return bool(rows)

    def unhold(self, key: str, owner: str) -> None:
        self._run("DELETE FROM holds WHERE key = ? AND owner = ?", (key, owner))

    def counts(self) -> dict[tuple[str, str], int]:
        rows, _ = self._run("SELECT event, status, COUNT(*) FROM deliveries GROUP BY event, status")
        return {(str(event), str(status)): int(n) for event, status, n in rows}

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1")[0] == [(1,)]
        except sqlite3.Error:
            return False

    def prune(self) -> int:
        """Forget old finished records, then the payload segments nobody points into. Only
        segments older than the newest are candidates: they are full, so no batch appends to
        them any more, and the rows are read without holding up the group-commit writer."""
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM holds WHERE until < ?", (now,))
            changed = self._db.execute("DELETE FROM deliveries WHERE finished_at IS NOT NULL"
                                       " AND finished_at < ?", (now - RETENTION_S,)).rowcount
            newest = max(self.payloads.segments(), default=0)  # before the rows are read
            referenced = {row[0] for row in self._db.execute(
                "SELECT DISTINCT seg FROM deliveries WHERE seg < ?", (newest,))}
        self.payloads.prune(referenced, below=newest)
        return int(changed)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._writer.close()
            self.payloads.close()


