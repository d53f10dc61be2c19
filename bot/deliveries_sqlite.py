"""The delivery store in SQLite, in the data directory: the default backend (one machine).

A 202 promises the delivery survives a power cut, so every commit is ``synchronous=FULL``;
group commit (``record_many`` from the single writer thread of ``bot.ingest``) makes that one
fsync per batch rather than per request. The interface and the redelivery rule
(``bot.deliveries.applies``) are shared with the Redis backend.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bot.deliveries import PENDING, RETENTION_S, Delivery, DeliveryStore, NewDelivery, applies

CHECKPOINT_BYTES = 4 * 1024 * 1024  # about SQLite's own default (1000 pages of 4 KiB)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,          -- X-GitHub-Delivery: the unique constraint makes dedupe atomic
    event TEXT NOT NULL,
    action TEXT,
    repo TEXT,
    payload BLOB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
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
CREATE TABLE IF NOT EXISTS holds (   -- bot.holds: one-off work a delivery is doing now
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
);
"""



# The writer decides in Python, under its write lock, which records apply (``applies``), so
# the upsert itself is unconditional: one statement stores many rows.
_UPSERT_ROWS = (
    "INSERT INTO deliveries (id, event, action, repo, payload, status, received_at, recheck_at,"
    " finished_at) VALUES {rows} ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
    " payload = excluded.payload, received_at = excluded.received_at,"
    " recheck_at = excluded.recheck_at, finished_at = excluded.finished_at, attempts = 0,"
    " claim = NULL, lease_until = NULL, error = NULL"
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
_STATUSES = "SELECT id, status FROM deliveries WHERE id IN (SELECT value FROM json_each(?))"
_CHUNK = 64  # rows per statement at most: statements of 1, 2, 4 .. 64 rows, all cached
_UPSERTS = {1 << k: _UPSERT_ROWS.format(rows=", ".join([_ROW] * (1 << k))) for k in range(7)}


def chunk_sizes(n: int) -> list[int]:
    """Powers of two adding up to n: a handful of statement shapes serve every batch size,
    so each is prepared once (preparing a 512-row insert costs more than running it)."""
    sizes = []
    while n:
        size = min(_CHUNK, 1 << (n.bit_length() - 1))
        sizes.append(size)
        n -= size
    return sizes


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
        self._unsynced = 0  # payload bytes written since the writer's last checkpoint
        self._lock = threading.Lock()
        self._db = self._connect()
        self._db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
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
            final: dict[str, tuple[object, ...]] = {}  # id -> the row it ends with
            for rec in records:
                if not applies(known.get(rec.id), rec.status):
                    owed.append(False)
                    continue
                owed.append(rec.status == PENDING)
                known[rec.id] = rec.status
                recheck, finished = (now + self.grace_s, None) if rec.status == PENDING else (None, now)
                final[rec.id] = (rec.id, rec.event, rec.action, rec.repo, rec.payload, rec.status,
                                 now, recheck, finished)
            rows = list(final.values())
            start = 0
            for size in chunk_sizes(len(rows)):
                params = [value for row in rows[start:start + size] for value in row]
                db.execute(_UPSERTS[size], params)
                start += size
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._unsynced += sum(len(row[4]) for row in rows)  # type: ignore[arg-type]
        return owed

    def after_batch(self) -> None:
        if self._unsynced >= CHECKPOINT_BYTES:
            self._unsynced = 0
            # PASSIVE: waits for nobody; with every frame copied, the next commit starts the
            # WAL file over instead of growing it
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> tuple[list[tuple[object, ...]], int]:
        """Rows and rowcount, both read under the lock (RETURNING rows arrive as they are fetched)."""
        with self._lock:
            cur = self._db.execute(sql, args)
            rows = cur.fetchall()
            return rows, cur.rowcount

    def get(self, delivery_id: str) -> Delivery | None:
        rows, _ = self._run(
            "SELECT id, event, action, repo, payload, status, attempts, received_at, claim,"
            " lease_until, finished_at, error FROM deliveries WHERE id = ?",
            (delivery_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return Delivery(*row[:4], bytes(row[4]), *row[5:])  # type: ignore[arg-type]

    def claim(self, delivery_id: str, token: str, lease_s: float) -> Delivery | None:
        now = time.time()
        _, changed = self._run(
            "UPDATE deliveries SET status = 'running', claim = ?, lease_until = ?, recheck_at = ?,"
            " attempts = attempts + 1 WHERE id = ? AND (status = 'pending'"
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

    def release(self, delivery_id: str, token: str, error: str, recheck_in: float) -> bool:
        _, changed = self._run(
            "UPDATE deliveries SET status = 'pending', error = ?, claim = NULL, lease_until = NULL,"
            " recheck_at = ? WHERE id = ? AND claim = ? AND status = 'running'",
            (error, time.time() + recheck_in, delivery_id, token),
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
        return {(str(event), str(status)): int(n) for event, status, n in rows}  # type: ignore[call-overload]

    def ping(self) -> bool:
        try:
            return self._run("SELECT 1")[0] == [(1,)]
        except sqlite3.Error:
            return False

    def prune(self) -> int:
        self._run("DELETE FROM holds WHERE until < ?", (time.time(),))
        _, changed = self._run(
            "DELETE FROM deliveries WHERE finished_at IS NOT NULL AND finished_at < ?",
            (time.time() - RETENTION_S,),
        )
        return changed

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._writer.close()


