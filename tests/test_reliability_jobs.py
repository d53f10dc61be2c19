"""A job that gives up says so, and a killed server loses nothing and writes nothing twice: the
real server (in-process, or ``model-routing serve`` as a process killed with SIGKILL) against
the fake GitHub through the fault-injecting proxy (``tests/fakes/chaos.py``)."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.config import Config
from bot.edge.app import create_app
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore, NewDelivery
from bot.work.jobs import JobOptions
from bot.work.queue import QueueOptions
from tests.conftest import FAST_RETRY
from tests.fakes.chaos import ChaosProxy, drop_after, error_before, stall
from tests.fakes.github import FakeGitHub
from tests.serving import (
    REPO,
    ROOT,
    SECRET,
    Served,
    bot_comments,
    comment_posts,
    help_comment,
    sqlite_store,
    wait_status,
    wait_until,
    webhook_headers,
    worker_env,
)
from tests.test_redis import _redis, redis_url, store  # noqa: F401 - the store on both backends

ATTEMPTS = 3
GIVES_UP = QueueOptions(JobOptions(lease_s=5.0, backoff_s=0.05, max_attempts=ATTEMPTS), reap_s=0.2, grace_s=60.0)
CONFIG_FILE = r"/contents/\.github/model-routing\.yml$"


def deliver(url: str, body: bytes, delivery: str) -> httpx.Response:
    return httpx.post(f"{url}/webhook", content=body, headers=webhook_headers("issue_comment", delivery, body),
                      timeout=30)


def test_a_delivery_that_exhausts_its_attempts_leaves_one_failure_comment_and_counts_it(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub,
        chaos: ChaosProxy) -> None:
    number, body = help_comment(github)
    # half-made work from an earlier run: the bot's branch without its pull request
    github.commit(REPO, f"model-routing/issue-{number}", {"a.txt": "x\n"}, message=f"Model-Routing-Issue: {number}")
    chaos.add(error_before(503, "GET", CONFIG_FILE, times=None))  # GitHub keeps failing one read
    settings = dataclasses.replace(app_settings, api_url=chaos.url)
    app = create_app(settings, make_config(), workers=1, options=GIVES_UP, retry=FAST_RETRY)
    with Served(app) as served:
        records = sqlite_store(settings)
        assert deliver(served.url, body, "gives-up-1").json()["status"] == "queued"
        failed = wait_status(records, "gives-up-1", ("failed",), timeout=30)
        metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
        # GitHub redelivers it and it fails again: the same comment is edited, not another added
        assert deliver(served.url, body, "gives-up-1").json()["status"] == "queued"
        again = wait_status(records, "gives-up-1", ("failed",), timeout=30)
        metrics_again = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert failed.attempts == again.attempts == ATTEMPTS and "503" in str(failed.error)
    [said] = bot_comments(github, number)
    assert comment_posts(github, number) == 1
    assert said.body.startswith("<!-- model-routing:delivery-failed delivery=gives-up-1 -->\n"
                                f"**The bot gave up on the `/help` command on #{number}.** "
                                f"GitHub, the network or the model provider kept failing: {ATTEMPTS} attempts")
    assert f"The branch `model-routing/issue-{number}` was written, but its pull request was not opened" in said.body
    assert ("To try again, comment `/help` again, or redeliver delivery `gives-up-1` in the App's settings "
            "(Advanced, Recent Deliveries).") in said.body
    assert 'model_routing_failure_comments_total{result="posted"} 1\n' in metrics
    assert 'model_routing_failure_comments_total{result="posted"} 2\n' in metrics_again


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``model-routing serve`` with one worker thread, answering /healthz."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--workers", "1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 30, "model-routing serve to answer")
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def test_a_server_killed_mid_job_finishes_it_after_restart_with_no_duplicate(
        app_settings: Settings, github: FakeGitHub, chaos: ChaosProxy, tmp_path: Path) -> None:
    number, body = help_comment(github)
    comments = rf"/issues/{number}/comments$"
    # the comment is made but its answer is lost; the server is killed while it looks for it
    chaos.add(drop_after("POST", comments), stall(20.0, "GET", comments, nth=2))
    settings = dataclasses.replace(app_settings, api_url=chaos.url)
    env = worker_env(settings, GITHUB_WEBHOOK_SECRET=SECRET, MODEL_ROUTING_LEASE_S="1.5",
                     MODEL_ROUTING_REAP_S="0.2")
    port, log = free_port(), tmp_path / "serve.log"
    first = start_serve(env, port, log)
    try:
        reply = deliver(f"http://127.0.0.1:{port}", body, "killed-1")
        assert reply.json()["status"] == "queued"
        wait_until(lambda: chaos.stats.faults.get("stall"), 30, "the look for the comment to hang")
        first.kill()  # SIGKILL: the record stays "running" with its lease
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    records = sqlite_store(settings)
    assert records.get("killed-1").status == "running"  # type: ignore[union-attr]
    second = start_serve(env, port, log)
    try:
        done = wait_status(records, "killed-1", timeout=30)
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert (done.status, done.attempts, done.kills) == ("done", 1, 1), log.read_text()[-3000:]
    [reply_comment] = bot_comments(github, number)  # found by its marker after the restart
    assert reply_comment.body.startswith("<!-- model-routing:help comment=9001 -->")
    assert comment_posts(github, number) == 1


def test_runs_cut_short_are_counted_apart_from_attempts_on_both_backends(store: DeliveryStore) -> None:  # noqa: F811
    store.record_many([NewDelivery("cut-1", "issues", "opened", REPO, b"{}")])
    assert store.claim("cut-1", "dead", 0.0) is not None  # the first run; its worker dies
    time.sleep(0.01)
    taken = store.claim("cut-1", "second", 60)  # the lease ran out: taken over
    assert taken is not None and (taken.attempts, taken.kills) == (1, 1)
    assert store.release("cut-1", "second", "worker stopped", 0.0, interrupted=True)  # shutdown
    stopped = store.get("cut-1")
    assert stopped is not None and (stopped.status, stopped.attempts, stopped.kills) == ("pending", 0, 2)
    third = store.claim("cut-1", "third", 60)
    assert third is not None and (third.attempts, third.kills) == (1, 2)
    assert store.release("cut-1", "third", "HTTP 502", 0.0)  # an error: the next run is an attempt
    fourth = store.claim("cut-1", "fourth", 60)
    assert fourth is not None and (fourth.attempts, fourth.kills) == (2, 2)
    assert store.finish("cut-1", "fourth", "failed", "boom")
    store.record_many([NewDelivery("cut-1", "issues", "opened", REPO, b"{}")])  # redelivered: afresh
    fresh = store.get("cut-1")
    assert fresh is not None and (fresh.status, fresh.attempts, fresh.kills) == ("pending", 0, 0)
