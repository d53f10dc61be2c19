"""One database connection for the ledger and the outcomes: SQLite in the data directory, or
PostgreSQL when ``DATABASE_URL`` is set, so every worker and server on every machine writes and
reads one ledger.

Plain DB-API with one dialect switch, not SQLAlchemy: the ledger's dozen queries are written in
the SQL both databases speak (``ON CONFLICT``, ``COALESCE``, ``GROUP BY``), so the differences
are three and all live here: the placeholder (``?`` is written everywhere and becomes ``%s`` for
psycopg), the type of an auto-numbered key in migrations (``{serial}``), and how a migration
takes its lock. A query layer would add a dependency and its import time to every process for
no query it could write better; sqlite3 is in the standard library and psycopg 3 is the one
PostgreSQL driver the product and the tests use.

Each statement commits on its own (autocommit); ``transaction()`` groups statements (the
migrations). One connection per process, guarded by a lock: writes are a row or two next to a
model call that takes seconds. A PostgreSQL connection that broke (server restart, network) is
opened again on the next statement; the statement that saw it break is not repeated, since an
INSERT after an ambiguous failure could count a call twice.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]
URL_SCHEMES = ("postgresql://", "postgres://")


class DatabaseError(RuntimeError):
    """The database cannot be used (bad URL, driver missing, unreachable, schema too new)."""


class Runner(Protocol):
    def run(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...


@lru_cache(maxsize=256)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _plain(value: Any) -> Any:
    """PostgreSQL sums integers as NUMERIC (a Decimal); SQLite gives int or float: so do we."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def redacted(url: str) -> str:
    """A database URL without its password, for logs and errors."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def connect_wal(path: str, timeout: float) -> sqlite3.Connection:
    """A connection (autocommit, any thread) to a SQLite file in WAL mode. Switching a new file
    to WAL needs its exclusive lock, and SQLite refuses that at once (SQLITE_BUSY, without its
    busy handler, to avoid a deadlock) while another process holds a lock: processes that open a
    new file together, as workers started together do, try the switch again until ``timeout``."""
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return conn
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.01)


class Database:
    """A connection of one dialect; ``run`` takes ``?`` placeholders in both."""

    def __init__(self, dialect: Dialect, target: str) -> None:
        self.dialect: Dialect = dialect
        self.target = target  # a file path or a URL
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connect()

    @classmethod
    def open(cls, where: str | Path) -> Database:
        """A PostgreSQL URL, or the path of a SQLite file (``:memory:`` for a private one)."""
        text = str(where)
        if text.startswith(URL_SCHEMES):
            return cls("postgresql", text)
        if "://" in text:
            raise DatabaseError(f"DATABASE_URL must be a postgresql:// URL, not {redacted(text)}")
        if text != ":memory:":
            Path(text).parent.mkdir(parents=True, exist_ok=True)
        return cls("sqlite", text)

    def describe(self) -> str:
        return f"postgresql at {redacted(self.target)}" if self.dialect == "postgresql" else f"sqlite {self.target}"

    def _connect(self) -> None:
        if self.dialect == "sqlite":
            self._conn = connect_wal(self.target, timeout=5.0)
            return
        try:
            import psycopg  # only when DATABASE_URL is set
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise DatabaseError("DATABASE_URL needs the psycopg package (pip install 'psycopg[binary]')") from exc
        try:
            self._conn = psycopg.connect(self.target, autocommit=True, connect_timeout=10,
                                         application_name="model-routing")
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot connect to {redacted(self.target)}: {exc}".strip()) from exc

    def _live(self) -> Any:
        if self.dialect == "postgresql" and (self._conn is None or self._conn.closed or self._conn.broken):
            self._connect()
        return self._conn

    def _execute(self, conn: Any, sql: str, args: Sequence[Any]) -> list[Row]:
        if self.dialect == "sqlite":
            return list(conn.execute(sql, tuple(args)).fetchall())
        cur = conn.execute(to_pyformat(sql), tuple(args))
        return [tuple(map(_plain, r)) for r in cur.fetchall()] if cur.description is not None else []

    def run(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._execute(self._live(), sql, args)

    @contextmanager
    def transaction(self, lock_key: int | None = None) -> Iterator[Runner]:
        """Statements that commit together; ``lock_key`` also serialises the processes that
        take the same key (an advisory lock in PostgreSQL; SQLite's write lock is whole-file)."""
        with self._lock:
            conn = self._live()
            outer = self

            class _Tx:
                def run(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
                    return outer._execute(conn, sql, args)

            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _Tx()
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return
            with conn.transaction():
                if lock_key is not None:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
                yield _Tx()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
