"""Helpers for the edge and queue tests: the real server on a loopback port, signed webhooks,
worker processes, a real redis-server, and waiting for the store to say a delivery is done."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from bot.settings import Settings
from bot.store.deliveries import Delivery
from bot.store.deliveries_sqlite import SqliteDeliveryStore
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
REPO = "octo/widgets"
SECRET = "test-webhook-secret"  # the conftest settings' webhook secret


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(event: str, delivery: str, body: bytes, secret: str | None = SECRET) -> dict[str, str]:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
               "User-Agent": "GitHub-Hookshot/test"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return headers


def help_comment(github: FakeGitHub, body: str = "/help", comment_id: int = 9001) -> tuple[int, bytes]:
    """A repository where alice may write, an issue, and alice's comment ``body`` on it: the
    issue number and the signed-ready JSON body (App installation named, as GitHub sends it)."""
    if github.state.repo(REPO) is None:
        github.create_repo(REPO, roles={"alice": "write"})
    issue = github.add_issue(REPO, "Widgets are slow", "Please look.")
    data = payload("issue_comment", "created", repo=REPO, sender="alice",
                   installation_id=github.app.installation_id,
                   issue={"number": issue.number, "pull_request": None, "labels": []},
                   comment={"id": comment_id, "body": body, "user": {"login": "alice"}})
    return issue.number, json.dumps(data).encode()


def bot_comments(github: FakeGitHub, number: int) -> list[Any]:
    return [c for c in github.comments(REPO, number) if c.user.login == github.app.bot_login]


def comment_posts(github: FakeGitHub, number: int) -> int:
    return sum(1 for r in github.requests
               if r.method == "POST" and r.path.endswith(f"/issues/{number}/comments"))


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_status(store: Any, delivery_id: str, statuses: tuple[str, ...] = ("done", "failed"),
                timeout: float = 15.0) -> Delivery:
    def check() -> Delivery | None:
        found = store.get(delivery_id)
        return found if found is not None and found.status in statuses else None

    return wait_until(check, timeout, f"delivery {delivery_id} to be {'/'.join(statuses)}")


def sqlite_store(settings: Settings) -> SqliteDeliveryStore:
    """A second handle on the server's delivery store (the same file), for checking."""
    return SqliteDeliveryStore(settings.data_dir / "deliveries.sqlite3")


class Served:
    """The app on uvicorn, on a loopback port picked by the OS, in a thread."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), 20, "uvicorn to start")
        if not self.server.started:
            raise RuntimeError("uvicorn did not start (see the log above)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``model-routing worker`` process working the same queue."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "MODEL_ROUTING_", "REDIS_URL"))}
    env.update({
        "GITHUB_API_URL": settings.api_url,
        "GITHUB_APP_ID": str(settings.app_id),
        "GITHUB_APP_PRIVATE_KEY": str(settings.private_key),
        "MODEL_ROUTING_BOT_LOGIN": str(settings.bot_login),
        "MODEL_ROUTING_DATA_DIR": str(settings.data_dir),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONPATH": str(ROOT),
        **extra,
    })
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def start_worker(env: dict[str, str], log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "worker", "--workers", str(workers)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_worker(*procs: subprocess.Popen[bytes]) -> None:
    """SIGINT (huey's graceful stop) to all, then wait for each."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_server(tmp: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port, nothing persisted; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return proc.poll() is not None  # exited: stop waiting, fail below

    wait_until(up, 10, "redis-server to answer")
    if proc.poll() is not None:
        pytest.fail(f"redis-server exited with {proc.returncode}", pytrace=False)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


class ServeProcess:
    """``model-routing serve`` as a user starts it: its console script, in ``cwd``, with
    ``env`` over an environment cleared of the bot's variables, on a free loopback port.
    ``log()`` is what it printed; the process is stopped on leaving the ``with``."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"serve-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GITHUB_", "MODEL_ROUTING_", "REDIS_URL"))}
        self.env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", **env})
        self.argv = [str(Path(sys.executable).parent / "model-routing"), "serve",
                     "--port", str(self.port), *args]
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServeProcess:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                return True  # exited: stop waiting, fail below
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, "model-routing serve to answer /healthz")
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}:\n{self.log()}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
