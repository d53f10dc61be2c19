"""A real PostgreSQL server for tests, private to the test session (a pytest plugin module,
loaded by tests/conftest.py through ``pytest_plugins``).

Fixtures:

``postgres`` (session)
    ``initdb`` into a new temporary directory and a server on a free 127.0.0.1 port, its unix
    socket in that directory too, password (SCRAM) authentication, durability off (fsync,
    synchronous_commit, full_page_writes) since the data is thrown away. Run as ``postgres``
    (or ``nobody``) through ``runuser`` when the tests run as root: PostgreSQL refuses root.
    Stopped and deleted at the end of the session. ``.url(dbname)``, ``.admin_url``,
    ``.create_database()``, ``.drop_database()``, ``.bindir``, ``.port``, ``.socket_dir``.
``database_url`` (session)
    ``postgresql://postgres:PASSWORD@127.0.0.1:PORT/model_routing``: one database for the
    session, what ``DATABASE_URL`` would hold.
``pg_url`` (function)
    A fresh empty database ``test_<n>`` for one test (dropped afterwards): its URL.

The server binaries are Debian's (package ``postgresql``, in /usr/lib/postgresql/<version>/bin;
.ci/run installs it), the newest version there, or ``$MODEL_ROUTING_PG_BINDIR``. Only those
are trusted: /usr/local/bin/pg_ctl and friends may be dangling links on some machines.

Driver: psycopg 3 (``psycopg[binary]``, pinned in the package dependencies). It is also the one the
product should use when it gets a database: maintained, sync and asyncio in one package,
server-side binding, pipeline mode, and binary wheels for CPython 3.11 (``psycopg[c]`` or the
pure-Python ``psycopg`` plus libpq where wheels do not fit).

Without the server or psycopg these fixtures skip with the reason, except under ``CI=true``,
where they fail.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
SESSION_DB = "model_routing"
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "60", "shared_buffers": "32MB"}
TOOLS = ("initdb", "pg_ctl", "postgres")


def unavailable(reason: str) -> None:
    """Skip, or fail under CI where everything .ci/run installs must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def _has_tools(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in TOOLS)


def server_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres really are (links resolved), or None."""
    wanted = os.environ.get("MODEL_ROUTING_PG_BINDIR")
    if wanted:
        return Path(wanted) if _has_tools(Path(wanted)) else None

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)

    for bindir in sorted(DEBIAN_ROOT.glob("*/bin"), key=version, reverse=True):
        if _has_tools(bindir):
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        bindir = Path(os.path.realpath(initdb)).parent
        if _has_tools(bindir):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Postgres:
    bindir: Path
    root: Path  # the temporary directory: data/, socket, log, password file
    password: str
    port: int = 0
    run_as: list[str] = field(default_factory=list)  # ["runuser", "-u", USER, "--"] as root
    _numbers: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        done = subprocess.run([*self.run_as, str(self.bindir / tool), *args], cwd=self.root,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} exited {done.returncode}:\n"
                               f"{done.stdout}{done.stderr}{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.is_file() else ""

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._own(pwfile)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        pwfile.unlink()

    def start(self) -> None:
        problem = ""
        for _ in range(3):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                       f"-c unix_socket_directories={self.socket_dir}",
                       *(f"-c {k}={v}" for k, v in SETTINGS.items())]
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                             "-t", "60", "-o", " ".join(options), "start", check=False)
            if done.returncode == 0:
                return
            problem = done.stdout + done.stderr + self._log_tail()
            if "already in use" not in problem:
                break
        raise RuntimeError(f"PostgreSQL did not start:\n{problem}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def _own(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as[2])
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (``test_<n>`` unless named): its URL."""
        name = name or f"test_{next(self._numbers)}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", user, "--"]
    pytest.fail("running as root and neither a postgres nor a nobody user exists to run "
                "PostgreSQL as", pytrace=False)
    return []


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = server_bindir()
    if bindir is None:
        unavailable("the PostgreSQL server is not installed (initdb, pg_ctl and postgres in "
                    f"{DEBIAN_ROOT}/<version>/bin; Debian: apt-get install postgresql; "
                    ".ci/run does it)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("the psycopg package is missing: pip install -e .")
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="model-routing-pg-"))
    server = Postgres(bindir, root, secrets.token_hex(16), run_as=_run_as())
    try:
        root.chmod(0o700)
        server._own(root)
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> str:
    """The session's DATABASE_URL (one database, shared by the tests that use it)."""
    return postgres.create_database(SESSION_DB)


@pytest.fixture
def pg_url(postgres: Postgres) -> Iterator[str]:
    """A fresh empty database for this test only."""
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url.rsplit("/", 1)[1])
