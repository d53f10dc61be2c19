"""The session's real PostgreSQL (tests/postgres.py): a private server, one database per test."""

from __future__ import annotations

import os
from typing import Any


def connect(url: str, **options: Any) -> Any:
    import psycopg  # after the fixtures: they skip (or fail under CI) when it is missing

    return psycopg.connect(url, **options)


def test_two_connections_see_each_others_committed_rows(pg_url: str) -> None:
    with connect(pg_url) as writer, connect(pg_url) as reader:
        writer.execute("CREATE TABLE deliveries (id text PRIMARY KEY, status text NOT NULL)")
        writer.commit()
        writer.execute("INSERT INTO deliveries VALUES ('d1', 'queued')")
        # not committed yet: the other connection (READ COMMITTED) does not see it
        assert reader.execute("SELECT count(*) FROM deliveries").fetchone() == (0,)
        reader.rollback()
        writer.commit()
        assert reader.execute("SELECT id, status FROM deliveries").fetchall() == [("d1", "queued")]
        reader.execute("UPDATE deliveries SET status = 'done' WHERE id = 'd1'")
        reader.commit()
        writer.rollback()  # end the writer's snapshot-free transaction, then read again
        assert writer.execute("SELECT status FROM deliveries").fetchone() == ("done",)


def test_each_test_gets_an_empty_database_of_its_own(pg_url: str, database_url: str) -> None:
    assert pg_url.rsplit("/", 1)[1].startswith("test_")
    assert pg_url != database_url
    with connect(pg_url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
        assert conn.execute("SELECT current_database()").fetchone() == (pg_url.rsplit("/", 1)[1],)


def test_the_server_is_private_and_not_run_as_root(postgres: Any, database_url: str) -> None:
    assert database_url.startswith("postgresql://") and f":{postgres.port}/" in database_url
    with connect(database_url, autocommit=True) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
        assert sockets == (str(postgres.socket_dir),)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        version = conn.execute("SHOW server_version_num").fetchone()[0]
    major = postgres.bindir.parent.name  # /usr/lib/postgresql/<major>/bin
    if major.isdigit():
        assert version.startswith(major)
    owner = (postgres.data / "PG_VERSION").stat().st_uid
    assert os.geteuid() != 0 or owner != 0
    # the unix socket works too (host= a directory), with the same password
    socket_url = (f"postgresql://postgres:{postgres.password}@/postgres"
                  f"?host={postgres.socket_dir}&port={postgres.port}")
    with connect(socket_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
