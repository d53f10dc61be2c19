"""The queue and its workers on the default SQLite backend, through the real server: a job runs
once however often it is delivered, failures retry or wait for a redelivery, and a worker
killed with SIGKILL mid-job is recovered by the next one without writing anything twice."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.config import Config
from bot.dispatch.dispatcher import Dispatcher
from bot.edge.app import create_app
from bot.settings import Settings
from bot.store.deliveries import NewDelivery
from bot.store.deliveries_sqlite import SqliteDeliveryStore
from bot.work.jobs import JobOptions, JobRunner
from bot.work.queue import QueueOptions
from tests.conftest import FAST_RETRY
from tests.fakes.github import FakeGitHub
from tests.serving import (
    REPO,
    Served,
    bot_comments,
    comment_posts,
    help_comment,
    sqlite_store,
    start_worker,
    stop_worker,
    wait_status,
    wait_until,
    webhook_headers,
    worker_env,
)

FAST = QueueOptions(JobOptions(lease_s=5.0, backoff_s=0.2), reap_s=0.2, grace_s=60.0)


def serve(settings: Settings, config: Config, workers: int = 2) -> Served:
    return Served(create_app(settings, config, workers=workers, options=FAST, retry=FAST_RETRY))


def deliver(url: str, body: bytes, delivery: str, times: int = 1) -> list[httpx.Response]:
    """Post the same delivery ``times`` times at once."""
    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            headers = webhook_headers("issue_comment", delivery, body)
            return list(await asyncio.gather(*(http.post("/webhook", content=body, headers=headers)
                                               for _ in range(times))))

    return asyncio.run(all_at_once())


def test_the_same_delivery_posted_50_times_at_once_runs_once(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub) -> None:
    number, body = help_comment(github)
    with serve(app_settings, make_config()) as served:
        replies = deliver(served.url, body, "dup-1", times=50)
        statuses = sorted(r.json()["status"] for r in replies)
        assert {r.status_code for r in replies} == {202}
        assert statuses == ["duplicate"] * 49 + ["queued"]
        store = sqlite_store(app_settings)
        done = wait_status(store, "dup-1")
        # a late redelivery of a done delivery changes nothing
        assert deliver(served.url, body, "dup-1")[0].json()["status"] == "duplicate"
    assert done.status == "done" and done.attempts == 1
    assert len(bot_comments(github, number)) == 1
    assert comment_posts(github, number) == 1
    assert "<!-- model-routing:help comment=9001 -->" in bot_comments(github, number)[0].body


def test_a_failed_delivery_runs_again_when_github_redelivers_it(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub) -> None:
    number, body = help_comment(github)
    github.fail("POST", r"/issues/\d+/comments$", 422, {"message": "Validation Failed"})
    with serve(app_settings, make_config()) as served:
        store = sqlite_store(app_settings)
        assert deliver(served.url, body, "redo-1")[0].json()["status"] == "queued"
        failed = wait_status(store, "redo-1")
        assert failed.status == "failed" and "422" in str(failed.error)
        # the help reply was refused; the bot said so instead, once
        [said] = bot_comments(github, number)
        assert said.body.startswith("<!-- model-routing:delivery-failed delivery=redo-1 -->")

        assert deliver(served.url, body, "redo-1")[0].json()["status"] == "queued"
        done = wait_status(store, "redo-1")
    assert done.status == "done" and done.error is None
    assert [c.body.split(" ", 1)[0] for c in bot_comments(github, number)] == ["<!--"] * 2
    assert "model-routing:help" in bot_comments(github, number)[1].body


def test_a_transient_github_failure_is_retried_with_backoff(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub) -> None:
    number, body = help_comment(github)
    # more 502s (none applied) than the comment is sent again after checking: the job fails
    # transiently and is released
    github.fail("POST", r"/issues/\d+/comments$", 502, {"message": "Server Error"},
                times=FAST_RETRY.max_server_retries + 1)
    with serve(app_settings, make_config()) as served:
        store = sqlite_store(app_settings)
        deliver(served.url, body, "retry-1")
        done = wait_status(store, "retry-1", ("done",))
    assert done.attempts == 2
    assert len(bot_comments(github, number)) == 1


def test_a_worker_killed_mid_job_is_recovered_after_restart_without_a_duplicate_comment(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub,
        tmp_path: Path) -> None:
    number, body = help_comment(github)
    env = worker_env(app_settings, MODEL_ROUTING_LEASE_S="1.5", MODEL_ROUTING_REAP_S="0.2")
    log = tmp_path / "worker.log"
    # the edge alone (no worker threads); the jobs run in `model-routing worker` processes
    with serve(app_settings, make_config(), workers=0) as served:
        first = start_worker(env, log)
        try:
            github.set_latency(0.4)  # slow enough to kill the worker between write and finish
            assert deliver(served.url, body, "kill-1")[0].json()["status"] == "queued"
            wait_until(lambda: comment_posts(github, number) == 1, 30, "the first worker's comment")
            first.kill()  # SIGKILL: no cleanup, the record stays "running" with its lease
            first.wait()
        finally:
            stop_worker(first)
        github.set_latency(0)
        store = sqlite_store(app_settings)
        assert store.get("kill-1").status == "running"
        second = start_worker(env, log)
        try:
            done = wait_status(store, "kill-1", timeout=30)
        finally:
            stop_worker(second)
    # the kill is counted apart from errors: the retry budget is untouched
    assert (done.status, done.attempts, done.kills) == ("done", 1, 1), log.read_text()[-3000:]
    comments = bot_comments(github, number)
    assert len(comments) == 1 and comment_posts(github, number) == 1
    # the rerun found its marker on the comment already written and wrote nothing at all
    assert [(w.method, w.path) for w in github.writes()] == [("POST", f"/repos/{REPO}/issues/{number}/comments")]


def test_serve_with_dry_run_prints_writes_and_makes_none(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub,
        capfd: object) -> None:
    number, body = help_comment(github)
    app = create_app(dataclasses.replace(app_settings), make_config(), workers=1, dry_run=True,
                     options=FAST, retry=FAST_RETRY)
    with Served(app) as served:
        deliver(served.url, body, "dry-1")
        wait_status(sqlite_store(app_settings), "dry-1")
    out = capfd.readouterr().out  # type: ignore[attr-defined]
    assert f'"path": "/repos/octo/widgets/issues/{number}/comments"' in out.replace("\\/", "/")
    assert github.writes() == []


def test_shutdown_releases_a_running_job_and_a_job_whose_workers_keep_dying_is_given_up(
        app_settings: Settings, make_dispatcher: Callable[..., Dispatcher], github: FakeGitHub,
        tmp_path: Path) -> None:
    number, body = help_comment(github)
    store = SqliteDeliveryStore(tmp_path / "deliveries.sqlite3")
    options = JobOptions(lease_s=2.0, drain_s=0.0, max_kills=2)
    retries: list[tuple[str, float]] = []
    runner = JobRunner(store, make_dispatcher(app_settings), lambda i, d: retries.append((i, d)), options)
    runner.start()
    try:
        store.record_many([NewDelivery("stop-1", "issue_comment", "created", REPO, body)])
        github.set_latency(1.0)
        results: list[str] = []
        worker = threading.Thread(target=lambda: results.append(runner.run("stop-1")))
        worker.start()
        wait_until(lambda: store.get("stop-1").status == "running", 10, "the job to start")  # type: ignore[union-attr]
        runner.stop()
        worker.join(timeout=10)
        released = store.get("stop-1")
        assert results == ["released"] and released is not None
        # a shutdown is no error: counted as a run cut short, the attempt given back
        assert (released.status, released.error, released.attempts, released.kills) == (
            "pending", "worker stopped", 0, 1)

    finally:
        runner.close()
    # a runner that is not stopping (the one above would release every new job at once)
    runner = JobRunner(store, make_dispatcher(app_settings), lambda i, d: retries.append((i, d)), options)
    runner.start()
    try:
        github.set_latency(0)
        store.record_many([NewDelivery("dies-1", "issue_comment", "created", REPO, body)])
        for attempt in range(options.max_kills + 1):  # each worker died holding a short lease
            assert store.claim("dies-1", f"dead-{attempt}", 0.0) is not None
            time.sleep(0.01)
        assert runner.run("dies-1") == "failed"
        given_up = store.get("dies-1")
        assert given_up is not None and given_up.status == "failed"
        assert (given_up.attempts, given_up.kills) == (1, options.max_kills + 1)
    finally:
        runner.close()
        store.close()
    assert retries == [] and runner.failure_comments == {"posted": 1}
    [said] = bot_comments(github, number)  # the bot says it gave up, once
    assert said.body.startswith("<!-- model-routing:delivery-failed delivery=dies-1 -->")
    assert "cut short 3 times" in said.body and "comment `/help` again" in said.body
