"""The webhook edge: what it accepts, what it refuses and why, /healthz and /metrics.

Acceptance of GitHub's own example payloads and the loopback rules go through the real server
(uvicorn on a loopback port); refusals that need odd bodies use starlette's in-memory client,
which also runs the lifespan, so the test can reach the app's services."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bot.config import Config
from bot.edge.app import MAX_BODY, create_app
from bot.settings import Settings
from bot.store.ledger import Call
from tests.conftest import FAST_RETRY
from tests.fakes.fixtures import examples, payload
from tests.serving import REPO, Served, sign, webhook_headers

EVENTS = ("issues", "issue_comment", "pull_request", "pull_request_review",
          "pull_request_review_comment", "installation", "installation_repositories", "ping")


@pytest.fixture
def client(settings: Settings, make_config: Callable[..., Config]) -> Iterator[TestClient]:
    """The app with no workers (nothing runs, the edge is under test)."""
    with TestClient(create_app(settings, make_config(), workers=0, retry=FAST_RETRY)) as c:
        yield c


def post(client: Any, event: str, body: bytes, delivery: str = "d-1", **extra: str) -> httpx.Response:
    headers = {**webhook_headers(event, delivery, body), **extra}
    return client.post("/webhook", content=body, headers=headers)


def watch_body() -> bytes:
    return json.dumps(payload("watch", "started", repo=REPO)).encode()


def test_every_example_payload_of_the_handled_events_is_accepted(
        settings: Settings, make_config: Callable[..., Config]) -> None:
    answers: dict[str, list[int]] = {}
    with Served(create_app(settings, make_config(), workers=0, retry=FAST_RETRY)) as served, \
            httpx.Client(base_url=served.url) as http:
        for event in EVENTS:
            bodies = [json.dumps(example).encode() for example in examples(event)]
            assert bodies, f"no {event} examples in @octokit/webhooks-examples"
            for i, body in enumerate(bodies):
                reply = post(http, event, body, delivery=f"{event}-{i}")
                answers.setdefault(event, []).append(reply.status_code)
                if event == "ping":
                    assert reply.json()["msg"] == "pong" and reply.json()["zen"]
                else:
                    assert reply.json()["status"] in ("queued", "skipped"), reply.text
    bad = {event: codes for event, codes in answers.items() if any(c not in (200, 202) for c in codes)}
    assert not bad, f"refused or failed: {bad}"
    assert set(answers["ping"]) == {200} and set(answers["issues"]) == {202}
    assert sum(map(len, answers.values())) > 50


def test_signature_is_required_and_checked_over_the_raw_body(client: TestClient) -> None:
    body = watch_body()
    good = webhook_headers("watch", "d-1", body)
    cases = {
        "missing": {k: v for k, v in good.items() if k != "X-Hub-Signature-256"},
        "wrong secret": {**good, "X-Hub-Signature-256": sign(body, "not-the-secret")},
        "other body": {**good, "X-Hub-Signature-256": sign(body + b" ")},
        "sha1 only": {**good, "X-Hub-Signature-256": "sha1=" + "0" * 40},
        "garbage": {**good, "X-Hub-Signature-256": "sha256=zz"},
    }
    for name, headers in cases.items():
        reply = client.post("/webhook", content=body, headers=headers)
        assert reply.status_code == 401, name
        assert "X-Hub-Signature-256" in reply.json()["error"], name
    assert client.post("/webhook", content=body, headers=good).status_code == 202


def test_bad_input_gets_a_4xx_that_says_what_is_wrong(client: TestClient) -> None:
    def send(body: bytes, **headers: str) -> httpx.Response:
        return client.post("/webhook", content=body, headers={**webhook_headers("watch", "d-9", body), **headers})

    reply = send(b'{"action": "started",')
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]
    reply = send(b"[1, 2]")
    assert reply.status_code == 400 and "JSON object" in reply.json()["error"]
    reply = send(watch_body(), **{"Content-Type": "text/plain"})
    assert reply.status_code == 415 and "application/json" in reply.json()["error"]
    reply = send(b"a=1", **{"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and "payload" in reply.json()["error"]
    body = watch_body()
    for missing in ("X-GitHub-Event", "X-GitHub-Delivery"):
        headers = {k: v for k, v in webhook_headers("watch", "d-9", body).items() if k != missing}
        reply = client.post("/webhook", content=body, headers=headers)
        assert reply.status_code == 400 and missing in reply.json()["error"]
    # the form encoding GitHub offers is accepted: the signature covers the encoded body
    form = httpx.QueryParams({"payload": body.decode()}).__str__().encode()
    reply = send(form, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 202 and reply.json() == {"delivery": "d-9", "status": "skipped"}


def test_bodies_over_25_mb_are_refused_counted_while_streaming(client: TestClient) -> None:
    big = b"{" + b" " * MAX_BODY + b"}"
    reply = post(client, "watch", big)
    assert reply.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the edge has to count
        for _ in range(26):
            yield b" " * (1024 * 1024)

    headers = webhook_headers("watch", "d-2", b"")
    reply = client.post("/webhook", content=chunks(), headers=headers)
    assert reply.status_code == 413 and "limit" in reply.json()["error"]
    assert post(client, "watch", watch_body(), delivery="d-3").status_code == 202


def test_declared_oversize_is_refused_before_the_body_is_read(
        settings: Settings, make_config: Callable[..., Config]) -> None:
    with Served(create_app(settings, make_config(), workers=0)) as served:
        host, port = served.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"X-GitHub-Event: watch\r\nX-GitHub-Delivery: d-1\r\n"
                         b"Content-Length: 30000000\r\n\r\n{")
            head = conn.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413")


def test_without_a_secret_only_loopback_clients_may_post_unsigned(
        settings: Settings, make_config: Callable[..., Config]) -> None:
    open_settings = dataclasses.replace(settings, webhook_secret=None)
    body = watch_body()
    with Served(create_app(open_settings, make_config(), workers=0)) as served:
        reply = httpx.post(served.url + "/webhook", content=body,
                           headers=webhook_headers("watch", "d-1", body, secret=None))
        assert reply.status_code == 202
    # starlette's test client connects from "testclient", which is no loopback address
    with TestClient(create_app(open_settings, make_config(), workers=0)) as remote:
        reply = remote.post("/webhook", content=body, headers=webhook_headers("watch", "d-2", body, secret=None))
        assert reply.status_code == 401 and "GITHUB_WEBHOOK_SECRET" in reply.json()["error"]


def test_ping_is_answered_and_unhandled_events_are_stored_as_skipped(client: TestClient) -> None:
    reply = post(client, "ping", json.dumps({"zen": "Keep it logically awesome.", "hook_id": 7}).encode())
    assert reply.status_code == 200 and reply.json() == {"msg": "pong", "zen": "Keep it logically awesome.",
                                                         "hook_id": 7}
    reply = post(client, "watch", watch_body(), delivery="w-1")
    assert reply.status_code == 202 and reply.json() == {"delivery": "w-1", "status": "skipped"}
    services = client.app_state["services"]
    stored = services.store.get("w-1")
    assert stored.status == "skipped" and stored.payload == b""
    assert services.queue.pending() == 0  # never enqueued
    assert services.dispatcher.holds is services.store  # every worker sees the same holds


def test_healthz_reports_storage_and_queue_and_503_when_storage_is_down(client: TestClient) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "storage": {"backend": "sqlite", "ok": True},
                            "queue": {"backend": "sqlite", "ok": True, "pending": 0},
                            "workers": 0, "dry_run": False}
    client.app_state["services"].store._db.close()  # the storage goes away under the server
    reply = client.get("/healthz")
    assert reply.status_code == 503 and reply.json()["storage"]["ok"] is False


def test_metrics_expose_deliveries_jobs_calls_tokens_and_cost(client: TestClient) -> None:
    for i in range(3):
        post(client, "watch", watch_body(), delivery=f"w-{i}")
    post(client, "watch", watch_body(), delivery="w-0")
    post(client, "watch", b"{", delivery="w-bad")
    ledger = client.app_state["services"].dispatcher.ledger
    ledger.start_job("d:spec:#1", REPO, "spec", "#1")
    ledger.finish_job("d:spec:#1", "ok", latency_s=2.5)
    ledger.record_call(Call(REPO, "d:spec:#1", "spec", "high-reasoning", "openai/reason-a", "phase spec",
                            1200, 300, 0.048, 2.0, "ok"))

    reply = client.get("/metrics")

    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    lines = set(reply.text.splitlines())
    for line in [
        'model_routing_deliveries{event="watch",status="skipped"} 3',
        'model_routing_webhooks_total{event="watch",result="skipped"} 4',
        'model_routing_webhooks_total{event="watch",result="bad_request"} 1',
        'model_routing_jobs_total{phase="spec",outcome="ok"} 1',
        'model_routing_job_latency_seconds_sum{phase="spec"} 2.5',
        'model_routing_job_latency_seconds_count{phase="spec"} 1',
        'model_routing_model_calls_total{profile="high-reasoning",model="openai/reason-a",outcome="ok"} 1',
        'model_routing_tokens_total{profile="high-reasoning",model="openai/reason-a",direction="in"} 1200',
        'model_routing_tokens_total{profile="high-reasoning",model="openai/reason-a",direction="out"} 300',
        'model_routing_cost_usd_total{profile="high-reasoning",model="openai/reason-a"} 0.048',
        'model_routing_queue_pending{backend="sqlite"} 0',
        "# TYPE model_routing_jobs_total counter",
    ]:
        assert line in lines, f"{line!r} missing from:\n{reply.text}"


def test_serve_and_worker_exit_2_naming_an_unreadable_operator_config(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    from bot.cli.main import main

    missing = tmp_path / "ops.yml"
    monkeypatch.setenv("MODEL_ROUTING_CONFIG", str(missing))
    monkeypatch.setenv("MODEL_ROUTING_DATA_DIR", str(tmp_path / "data"))
    assert main(["serve", "--port", "0"]) == 2
    assert main(["worker"]) == 2
    assert caplog.text.count(f"{missing}: cannot read operator config") == 2
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_json_is_judged_as_json_loads_judges_it(client: TestClient) -> None:
    """The edge reads the payload with a fast decoder; what it accepts and refuses is still
    what ``json.loads`` would: invalid UTF-8 in a field it skips is refused, NaN and a lone
    surrogate escape (which json.loads takes) are not, and odd shapes are stored, not refused."""
    def send(body: bytes, delivery: str) -> httpx.Response:
        return post(client, "watch", body, delivery=delivery)

    reply = send(b'{"action": "started", "sender": {"login": "\xff"}}', "j-1")
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]
    assert send(b'{"action": "started", "x": NaN, "y": "\\ud800"}', "j-2").status_code == 202
    assert send(b'{"action": 7, "repository": "not an object"}', "j-3").status_code == 202
    assert send('{"action": "started", "repository": {"full_name": "o/é"}}'.encode(), "j-4").status_code == 202
    store = client.app_state["services"].store
    assert (store.get("j-2").action, store.get("j-3").action, store.get("j-3").repo) == ("started", None, None)
    assert (store.get("j-4").action, store.get("j-4").repo) == ("started", "o/é")


def test_a_large_batch_is_stored_once_each_and_redeliveries_keep_their_rules(tmp_path: Any) -> None:
    from bot.store.deliveries import FAILED, PENDING, SKIPPED, NewDelivery
    from bot.store.deliveries_sqlite import SqliteDeliveryStore

    store = SqliteDeliveryStore(tmp_path / "deliveries.sqlite3")
    big = b"x" * 50_000  # past the checkpoint threshold in one batch
    records = [NewDelivery(f"b-{i}", "issues", "labeled", REPO, big) for i in range(100)]
    records += [NewDelivery("b-3", "issues", "labeled", REPO, b"again")]  # same batch, twice
    owed = store.record_many(records)
    store.after_batch()  # the writer's checkpoint, once the batch is answered
    assert owed == [True] * 100 + [False]
    assert store.get("b-3").payload == big and store.counts() == {("issues", PENDING): 100}
    token = "t"
    assert store.claim("b-5", token, 60) is not None and store.finish("b-5", token, FAILED)
    later = [NewDelivery("b-5", "issues", "labeled", REPO, b"{}"), NewDelivery("b-6", "issues", "labeled", REPO, b"{}"),
             NewDelivery("s-1", "watch", "started", REPO, b"", SKIPPED)]
    assert store.record_many(later) == [True, False, False]  # failed runs again; pending does not
    assert store.get("b-5").payload == b"{}" and store.get("b-6").payload == big
    store.close()
