"""The SQLite delivery store keeps payloads in append-only segment files: they read back whole,
segments rotate and are deleted only when nothing points into them, and a database from before
the log keeps its inline payloads."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.store.deliveries import DONE, PENDING, RETENTION_S, SKIPPED, NewDelivery
from bot.store.deliveries_sqlite import SqliteDeliveryStore, chunk_sizes
from bot.store.payload_log import PayloadLog, PayloadLogError

REPO = "octo/widgets"


def record(delivery_id: str, payload: bytes, status: str = PENDING) -> NewDelivery:
    return NewDelivery(delivery_id, "issues", "labeled", REPO, payload, status)


def test_payloads_live_in_the_log_and_read_back_whole(tmp_path: Path) -> None:
    store = SqliteDeliveryStore(tmp_path / "deliveries.sqlite3")
    bodies = {f"d-{i}": os.urandom(100 + i * 997) for i in range(70)}  # two statements: 64 + 6
    owed = store.record_many([record(i, body) for i, body in bodies.items()] + [record("s", b"", SKIPPED)])
    assert owed == [True] * 70 + [False]
    assert all(store.get(i).payload == body for i, body in bodies.items())  # type: ignore[union-attr]
    assert store.get("s").payload == b"" and store.get("s").status == SKIPPED  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "deliveries.sqlite3") as db:  # nothing of them in SQLite
        assert db.execute("SELECT MAX(LENGTH(payload)) FROM deliveries").fetchone() == (0,)
    [segment] = (tmp_path / "deliveries.payloads").iterdir()
    assert segment.stat().st_size == sum(map(len, bodies.values()))
    store.close()


def test_segments_rotate_and_only_unreferenced_ones_are_pruned(tmp_path: Path) -> None:
    store = SqliteDeliveryStore(tmp_path / "deliveries.sqlite3")
    store.payloads.segment_bytes = 1000
    for n in range(4):  # each batch fills a segment: the next batch starts a new one
        store.record_many([record(f"d-{n}-{k}", bytes([n]) * 600) for k in range(2)])
    assert store.payloads.segments() == [0, 1, 2, 3]
    token = "t"
    for n in (0, 2):  # finished long ago, past the retention
        for k in range(2):
            assert store.claim(f"d-{n}-{k}", token, 60) and store.finish(f"d-{n}-{k}", token, DONE)
    with sqlite3.connect(tmp_path / "deliveries.sqlite3") as db:
        db.execute("UPDATE deliveries SET finished_at = ? WHERE status = 'done'", (time.time() - RETENTION_S - 1,))

    assert store.prune() == 4
    assert store.payloads.segments() == [1, 3]  # 0 and 2 pointed at by nothing; 3 is the newest
    assert store.get("d-1-1").payload == bytes([1]) * 600  # type: ignore[union-attr]
    assert store.get("d-3-0").payload == bytes([3]) * 600  # type: ignore[union-attr]
    store.record_many([record("d-4", b"after")])  # appends go on in the newest segment's successor
    assert store.get("d-4").payload == b"after"  # type: ignore[union-attr]
    store.close()


def test_two_stores_on_one_data_directory_never_overwrite_each_others_payloads(tmp_path: Path) -> None:
    first, second = (SqliteDeliveryStore(tmp_path / "deliveries.sqlite3") for _ in range(2))
    for n in range(20):
        (first if n % 2 else second).record_many([record(f"d-{n}", f"payload {n} ".encode() * (n + 1))])
    assert all(first.get(f"d-{n}").payload == f"payload {n} ".encode() * (n + 1) for n in range(20))  # type: ignore[union-attr]
    first.close()
    second.close()


def test_a_database_from_before_the_log_keeps_its_inline_payloads(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE deliveries (id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT,"
                   " repo TEXT, payload BLOB NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL"
                   " DEFAULT 0, received_at REAL NOT NULL, recheck_at REAL, claim TEXT, lease_until REAL,"
                   " finished_at REAL, error TEXT)")
        db.execute("INSERT INTO deliveries (id, event, action, repo, payload, status, received_at)"
                   " VALUES ('old', 'issues', 'labeled', ?, ?, 'pending', 1.0)", (REPO, b'{"old": 1}'))
    store = SqliteDeliveryStore(path)
    assert store.get("old").payload == b'{"old": 1}'  # type: ignore[union-attr]
    assert store.record_many([record("new", b'{"new": 1}'), record("old", b"again")]) == [True, False]
    assert store.get("new").payload == b'{"new": 1}'  # type: ignore[union-attr]
    assert store.get("old").payload == b'{"old": 1}'  # type: ignore[union-attr]
    store.close()


def test_a_missing_segment_is_a_clear_error(tmp_path: Path) -> None:
    log = PayloadLog(tmp_path / "payloads")
    segment, [offset] = log.append([b"hello"])
    assert log.read(segment, offset, 5) == b"hello"
    with pytest.raises(PayloadLogError, match="shorter than the 9 bytes at 0"):
        log.read(segment, 0, 9)
    log.close()
    (tmp_path / "payloads" / "00000000.log").unlink()
    with pytest.raises(PayloadLogError, match=r"00000000\.log is missing"):
        log.read(segment, offset, 5)


@pytest.mark.parametrize(("n", "sizes"), [(0, []), (1, [1]), (53, [53]), (64, [64]), (130, [64, 64, 2])])
def test_a_batch_takes_as_few_statements_as_it_can(n: int, sizes: list[int]) -> None:
    assert chunk_sizes(n) == sizes
