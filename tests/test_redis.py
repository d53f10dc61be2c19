"""Redis for real: the delivery store contract on both backends (the same redelivery rules,
compare-and-set claims and holds), and one delivery through two worker processes sharing Redis."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import Config
from bot.edge.app import create_app
from bot.settings import Settings
from bot.store.backends import make_huey, open_ledger, open_store
from bot.store.deliveries import DONE, FAILED, PENDING, SKIPPED, DeliveryStore, NewDelivery
from bot.store.holds import Holds, LocalHolds
from bot.work.queue import JobQueue
from tests.conftest import FAST_RETRY
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.litellm_loop import run_released
from tests.serving import (
    Served,
    bot_comments,
    comment_posts,
    help_comment,
    redis_server,
    start_worker,
    stop_worker,
    wait_status,
    wait_until,
    worker_env,
)
from tests.test_queue import FAST, deliver


@pytest.fixture(scope="module")
def _redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from redis_server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_url(_redis: str) -> str:
    import redis

    with redis.Redis.from_url(_redis) as client:
        client.flushall()
    return _redis


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryStore]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    opened = open_store(Settings(data_dir=tmp_path, redis_url=url), grace_s=60)
    assert opened.backend == request.param
    yield opened
    opened.close()


def new(delivery_id: str, status: str = PENDING) -> NewDelivery:
    return NewDelivery(delivery_id, "issues", "opened", "octo/widgets", b'{"action": "opened"}', status)


@pytest.fixture(params=["sqlite", "redis", "local"])
def holds(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Holds]:
    """The server's holds (its delivery store, on both backends) and the Action's (memory)."""
    if request.param == "local":
        yield LocalHolds()
        return
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    opened = open_store(Settings(data_dir=tmp_path, redis_url=url), grace_s=60)
    yield opened
    opened.close()


def test_a_hold_is_a_compare_and_set_its_owner_renews_and_it_expires(holds: Holds) -> None:
    assert holds.hold("review:o/r#7@abc", "d-1", 60)
    assert not holds.hold("review:o/r#7@abc", "d-2", 60)  # another delivery: refused
    assert holds.hold("review:o/r#7@abc", "d-1", 60)  # the same delivery, run again: its own
    assert holds.hold("review:o/r#7@def", "d-2", 60)  # another head SHA is another key
    holds.unhold("review:o/r#7@abc", "d-2")  # not the owner: nothing happens
    assert not holds.hold("review:o/r#7@abc", "d-2", 60)
    holds.unhold("review:o/r#7@abc", "d-1")
    assert holds.hold("review:o/r#7@abc", "d-2", 0.2)  # let go: the next one takes it
    assert not holds.hold("review:o/r#7@abc", "d-3", 60)
    time.sleep(0.3)
    assert holds.hold("review:o/r#7@abc", "d-3", 60)  # expired: a dead worker blocks no longer


def test_redeliveries_follow_the_same_rules_on_both_backends(store: DeliveryStore) -> None:
    # new, duplicate in the same batch, skipped (no handler)
    assert store.record_many([new("a"), new("a"), new("s", SKIPPED)]) == [True, False, False]
    stored = store.get("a")
    assert stored is not None and stored.status == PENDING and stored.payload == b'{"action": "opened"}'
    assert (stored.event, stored.action, stored.repo, stored.attempts) == ("issues", "opened", "octo/widgets", 0)
    assert store.get("missing") is None

    running = store.claim("a", "t1", 60)
    assert running is not None and running.status == "running" and running.attempts == 1
    assert running.claim == "t1" and running.lease_until is not None
    assert store.claim("a", "t2", 60) is None  # compare-and-set: held
    assert store.heartbeat("a", "t1", 60) and not store.heartbeat("a", "t2", 60)
    assert store.record_many([new("a")]) == [False]  # redelivered while running: nothing
    assert not store.finish("a", "t2", DONE)
    assert store.finish("a", "t1", FAILED, "boom")
    failed = store.get("a")
    assert failed is not None and failed.status == FAILED and failed.error == "boom" and failed.finished_at

    assert store.record_many([new("a")]) == [True]  # a failed delivery runs again
    again = store.get("a")
    assert again is not None and (again.status, again.attempts, again.error, again.claim) == (PENDING, 0, None, None)
    assert store.claim("a", "t3", 60) is not None and store.finish("a", "t3", DONE)
    assert store.record_many([new("a")]) == [False]  # a done one does not
    assert store.get("a").status == DONE  # type: ignore[union-attr]
    assert store.claim("a", "t4", 60) is None

    assert store.record_many([new("s", SKIPPED)]) == [False]
    assert store.record_many([new("s")]) == [True]  # skipped before a handler existed: runs now

    # release: back to pending, due for the reaper when its recheck time passes
    assert store.claim("s", "t5", 60) is not None
    assert store.release("s", "t5", "GitHub 502", recheck_in=0)
    released = store.get("s")
    assert released is not None and (released.status, released.error, released.claim) == (PENDING, "GitHub 502", None)
    time.sleep(0.01)
    assert store.stale() == ["s"]
    assert store.stale() == []  # pushed `grace` ahead: a second reaper does not re-enqueue it

    # a worker that stops heart-beating loses its claim to the next one
    assert store.claim("s", "dead", 0.05) is not None
    time.sleep(0.1)
    assert store.stale() == ["s"]
    assert store.claim("s", "t6", 60) is not None
    assert not store.heartbeat("s", "dead", 60) and not store.finish("s", "dead", DONE)
    assert store.finish("s", "t6", DONE)

    assert store.record_many([new("b"), new("c", SKIPPED)]) == [True, False]
    assert store.counts() == {("issues", DONE): 2, ("issues", PENDING): 1, ("issues", SKIPPED): 1}
    assert store.ping() and store.prune() == 0


def test_machines_sharing_redis_share_one_monthly_budget(
        redis_url: str, tmp_path: Path, make_config: Callable[..., Config], llm: FakeLLM) -> None:

    from bot.llm.model_router import BudgetExceeded, ModelRouter
    from bot.store.ledger import Call, month_start

    one, two = (open_ledger(Settings(data_dir=tmp_path / name, redis_url=redis_url)) for name in ("machine-1", "machine-2"))
    one.record_call(Call("octo/widgets", "j-1", "review", "massive-context", "openai/wide-a", "r",
                         1000, 200, 0.75, 1.0, "ok"))
    one.record_call(Call("octo/widgets", "j-2", "review", "massive-context", "openai/wide-a", "r",
                         500, 100, 0.25, 1.0, "ok"))
    one.record_call(Call("octo/other", "j-3", "spec", "high-reasoning", "openai/reason-a", "r",
                         10, 10, 5.0, 1.0, "ok"))
    assert two.calls() == [] and two.spend("octo/widgets") == 1.0  # machine 2 sees machine 1's spend
    assert two.cost_by_phase_model("octo/widgets", month_start()) == [
        {"phase": "review", "model": "openai/wide-a", "calls": 2, "tokens_in": 1500, "tokens_out": 300,
         "cost_usd": 1.0}]

    models = ModelRouter(make_config(budgets={"monthly_usd": 1.0}), two, repo="octo/widgets",
                         job="d-9:spec:#1", phase="spec")
    with pytest.raises(BudgetExceeded, match=r"monthly budget of octo/widgets reached: \$1\.0000 spent"):
        run_released(models.complete("spec", [{"role": "user", "content": "Design a cache."}]))
    assert llm.requests == []  # refused before any request
    one.close()
    two.close()


def test_without_redis_the_paid_call_is_kept_and_the_budget_check_waits_for_it(
        tmp_path: Path) -> None:
    import redis

    from bot.store.ledger import Call, Ledger
    from bot.store.spend_redis import RedisSpend
    from bot.work.jobs import transient

    ledger = Ledger(tmp_path / "ledger.sqlite3", RedisSpend(f"redis://127.0.0.1:{closed_port()}/0"))
    call = Call("octo/widgets", "j-1", "spec", "high-reasoning", "openai/reason-a", "r", 10, 10, 0.5, 1.0, "ok")
    ledger.record_call(call)  # paid for: recorded here, the shared total misses it (logged)
    assert ledger.calls() == [call]
    with pytest.raises(redis.ConnectionError) as caught:
        ledger.spend("octo/widgets")
    assert transient(caught.value)  # the job is retried later, not failed
    ledger.close()


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_one_delivery_through_two_worker_processes_sharing_redis_runs_once(
        app_settings: Settings, make_config: Callable[..., Config], github: FakeGitHub,
        redis_url: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(app_settings, redis_url=redis_url)
    number, body = help_comment(github)
    env = worker_env(settings)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(env, log, workers=2) for log in logs]
    try:
        wait_until(lambda: all("Huey consumer started" in log.read_text() for log in logs)
                   or any(w.poll() is not None for w in workers), 30, "both workers to start")
        assert all(w.poll() is None for w in workers), "a worker died at start:\n" + "\n".join(
            log.read_text()[-3000:] for log in logs)
        github.set_latency(0.1)  # the job takes a while, so the duplicates overlap it
        app = create_app(settings, make_config(), workers=0, options=FAST, retry=FAST_RETRY)
        with Served(app) as served:
            health = httpx.get(served.url + "/healthz").json()
            assert health["storage"] == {"backend": "redis", "ok": True} and health["queue"]["backend"] == "redis"
            replies = deliver(served.url, body, "shared-1", times=20)
            assert sorted(r.json()["status"] for r in replies) == ["duplicate"] * 19 + ["queued"]
            store = served_store(settings)
            JobQueue(make_huey(settings), store).enqueue(["shared-1"] * 12)  # stray duplicates
            done = wait_status(store, "shared-1", timeout=30)
            wait_until(lambda: JobQueue(make_huey(settings), store).pending() == 0, 10, "the queue to drain")
    finally:
        stop_worker(*workers)
    assert done.status == DONE and done.attempts == 1, [log.read_text()[-2000:] for log in logs]
    assert len(bot_comments(github, number)) == 1 and comment_posts(github, number) == 1
    # both processes took entries of this delivery off the shared queue; one ran it
    assert all("Executing bot.work.queue.run_delivery" in log.read_text() for log in logs)


def served_store(settings: Settings) -> DeliveryStore:
    return open_store(settings)
