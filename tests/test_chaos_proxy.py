"""The fault-injecting proxy (tests/fakes/chaos.py), driven with httpx against the fake GitHub:
each fault does what it says to the client and to what GitHub saw, random mode faults the asked
share reproducibly, and plain traffic (keep-alive, chunked and long bodies, concurrency) passes
through unchanged."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.chaos import (
    ChaosProxy,
    Rule,
    drop_after,
    drop_before,
    error_after,
    error_before,
    parse_mix,
    rate_limited,
    secondary_limit,
    stall,
)
from tests.fakes.github import ACTION_TOKEN, FakeGitHub

REPO = "acme/widgets"
COMMENTS = rf"^/repos/{REPO}/issues/1/comments$"
AUTH = {"Authorization": f"token {ACTION_TOKEN}", "User-Agent": "chaos-proxy-tests"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(github: FakeGitHub) -> str:
    github.create_repo(REPO, {"README.md": "# widgets\n"})
    github.add_issue(REPO, "Export widgets", "as CSV")
    return REPO


@pytest.fixture
def client(chaos: ChaosProxy, repo: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chaos.url, headers=AUTH, timeout=10) as c:
        yield c


def post_comment(client: httpx.Client, body: str = "hello") -> httpx.Response:
    return client.post(f"/repos/{REPO}/issues/1/comments", json={"body": body})


def comment_bodies(github: FakeGitHub) -> list[str]:
    return [c.body for c in github.comments(REPO, 1)]


def posts_seen(github: FakeGitHub) -> int:
    return sum(1 for r in github.requests if r.method == "POST" and r.path.endswith("/comments"))


# -- passing through ------------------------------------------------------------------------------
def test_requests_pass_through_on_one_kept_alive_connection(chaos: ChaosProxy,
                                                            client: httpx.Client,
                                                            github: FakeGitHub) -> None:
    for n in range(20):
        assert post_comment(client, f"c{n}").status_code == 201
    listed = client.get(f"/repos/{REPO}/issues/1/comments", params={"per_page": 100})
    assert listed.status_code == 200 and len(listed.json()) == 20
    # the fake builds its URLs from the Host header, which leads back through the proxy
    assert listed.json()[0]["url"].startswith(chaos.url + "/")
    assert listed.headers["x-ratelimit-limit"] == "5000"  # the fake's headers, passed on
    stats = chaos.stats
    assert stats.connections == 1 and stats.requests == stats.forwarded == 21
    assert stats.faulted == 0 and stats.statuses == {201: 20, 200: 1}
    assert stats.by_route[f"POST /repos/{REPO}/issues/1/comments"] == 20


def test_chunked_long_and_empty_bodies_and_204(chaos: ChaosProxy, client: httpx.Client,
                                               github: FakeGitHub) -> None:
    def chunks() -> Iterator[bytes]:  # no length known: httpx sends Transfer-Encoding: chunked
        text = json.dumps({"body": "sent in chunks " + "x" * 30_000})
        for i in range(0, len(text), 4096):
            yield text[i:i + 4096].encode()

    made = client.post(f"/repos/{REPO}/issues/1/comments", content=chunks(),
                       headers={"content-type": "application/json"})
    assert made.status_code == 201 and made.json()["body"].startswith("sent in chunks")
    blob = bytes(range(256)) * 4096  # 1 MiB, 1.4 MB of base64 each way
    created = client.post(f"/repos/{REPO}/git/blobs",
                          json={"content": base64.b64encode(blob).decode(), "encoding": "base64"})
    assert created.status_code == 201
    fetched = client.get(f"/repos/{REPO}/git/blobs/{created.json()['sha']}")
    assert base64.b64decode(fetched.json()["content"]) == blob
    gone = client.delete(f"/repos/{REPO}/issues/comments/{made.json()['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(f"/repos/{REPO}").status_code == 200  # the connection is still in step
    assert chaos.stats.connections == 1


def test_many_concurrent_connections(chaos: ChaosProxy, repo: str, github: FakeGitHub) -> None:
    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=chaos.url, headers=AUTH, limits=limits,
                                     timeout=30) as c:
            sent = [c.post(f"/repos/{REPO}/issues/1/comments", json={"body": f"n{n}"})
                    for n in range(200)]
            return [r.status_code for r in await asyncio.gather(*sent)]

    assert asyncio.run(main()) == [201] * 200
    assert sorted(comment_bodies(github)) == sorted(f"n{n}" for n in range(200))
    assert chaos.stats.connections > 10


# -- each fault -----------------------------------------------------------------------------------
def test_drop_before_never_reaches_github(chaos: ChaosProxy, client: httpx.Client,
                                          github: FakeGitHub) -> None:
    chaos.add(drop_before("POST", COMMENTS))
    with pytest.raises(httpx.RemoteProtocolError):
        post_comment(client)
    assert comment_bodies(github) == [] and posts_seen(github) == 0
    assert post_comment(client, "again").status_code == 201  # once only; a new connection
    assert comment_bodies(github) == ["again"]
    stats = chaos.stats
    assert stats.faults == {"drop_before": 1} and stats.forwarded == 1
    assert stats.connections == 2


def test_drop_after_applies_the_write_but_loses_the_answer(chaos: ChaosProxy,
                                                           client: httpx.Client,
                                                           github: FakeGitHub) -> None:
    chaos.add(drop_after("POST", COMMENTS))
    with pytest.raises(httpx.RemoteProtocolError):
        post_comment(client, "applied")
    assert comment_bodies(github) == ["applied"]
    [event] = chaos.stats.events
    assert (event.fault, event.status, event.upstream_status) == ("drop_after", None, 201)


@pytest.mark.parametrize("status", [502, 503])
def test_error_after_reports_an_applied_write_as_failed(chaos: ChaosProxy, client: httpx.Client,
                                                        github: FakeGitHub, status: int) -> None:
    chaos.add(error_after(status, "POST", COMMENTS))
    answer = post_comment(client, "applied anyway")
    assert answer.status_code == status
    assert "message" in answer.json()
    assert comment_bodies(github) == ["applied anyway"]
    assert post_comment(client, "second").status_code == 201  # same connection, in step
    assert chaos.stats.connections == 1


def test_error_before_answers_without_forwarding(chaos: ChaosProxy, client: httpx.Client,
                                                 github: FakeGitHub) -> None:
    chaos.add(error_before(503, "POST", COMMENTS, headers={"x-extra": "1"},
                           body={"message": "down for maintenance"}))
    answer = post_comment(client)
    assert answer.status_code == 503 and answer.headers["x-extra"] == "1"
    assert answer.json() == {"message": "down for maintenance"}
    assert posts_seen(github) == 0 and comment_bodies(github) == []


def test_429_carries_retry_after(chaos: ChaosProxy, client: httpx.Client,
                                 github: FakeGitHub) -> None:
    chaos.add(rate_limited(retry_after=7, method="POST", path=COMMENTS))
    answer = post_comment(client)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert posts_seen(github) == 0
    assert chaos.stats.faults == {"rate_limited": 1}
    assert chaos.stats.kinds == {"error_before": 1}


def test_403_secondary_rate_limit_as_github_sends_it(chaos: ChaosProxy, client: httpx.Client,
                                                     github: FakeGitHub) -> None:
    chaos.add(secondary_limit(retry_after=60, method="POST", path=COMMENTS),
              secondary_limit(retry_after=None, method="POST", path=COMMENTS, nth=2))
    first, second = post_comment(client), post_comment(client)
    for answer in (first, second):
        assert answer.status_code == 403
        body = answer.json()
        assert body["message"].startswith("You have exceeded a secondary rate limit")
        assert answer.headers["x-github-request-id"] in body["message"]
        assert body["documentation_url"].endswith("#about-secondary-rate-limits")
        assert int(answer.headers["x-ratelimit-remaining"]) > 0  # not the primary limit
    assert first.headers["retry-after"] == "60" and "retry-after" not in second.headers
    assert posts_seen(github) == 0


def test_stall_holds_then_forwards_even_when_the_client_gave_up(
        chaos: ChaosProxy, client: httpx.Client, github: FakeGitHub) -> None:
    chaos.add(stall(0.3, "GET", rf"^/repos/{REPO}$"), stall(0.6, "POST", COMMENTS))
    started = time.monotonic()
    assert client.get(f"/repos/{REPO}").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/repos/{REPO}/issues/1/comments", json={"body": "late"}, timeout=0.1)
    assert comment_bodies(github) == []
    deadline = time.monotonic() + 5
    while not comment_bodies(github) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert comment_bodies(github) == ["late"]  # the late write landed after all
    assert chaos.stats.faults == {"stall": 2}


def test_rules_count_occurrences_per_method_and_path(chaos: ChaosProxy, client: httpx.Client,
                                                     github: FakeGitHub) -> None:
    chaos.add(error_before(502, "POST", COMMENTS, nth=2, times=2))
    statuses = [client.get(f"/repos/{REPO}/issues/1/comments").status_code]  # not counted
    statuses += [post_comment(client, f"c{n}").status_code for n in range(5)]
    assert statuses == [200, 201, 502, 502, 201, 201]
    assert comment_bodies(github) == ["c0", "c3", "c4"]
    chaos.add(Rule("error_before", "*", "", status=503, times=None))  # everything from now on
    assert [client.get(f"/repos/{REPO}").status_code for _ in range(3)] == [503] * 3
    assert chaos.stats.faults_by_route == {
        f"POST /repos/{REPO}/issues/1/comments error_before": 2,
        f"GET /repos/{REPO} error_before": 3}


def test_unknown_kinds_and_mixes_are_refused() -> None:
    with pytest.raises(ValueError):
        Rule("explode")
    with pytest.raises(ValueError):
        ChaosProxy("http://127.0.0.1:1", rate=0.1, mix={"explode": 1})
    assert parse_mix("drop_before=2, stall") == {"drop_before": 2.0, "stall": 1.0}


# -- random mode ----------------------------------------------------------------------------------
def random_run(target: str, seed: int, rate: float = 0.3, n: int = 300,
               **kwargs: Any) -> tuple[list[str | None], Any]:
    """``n`` reads through a fresh random-mode proxy; the fault of each, in order."""
    kwargs.setdefault("stall_seconds", 0.005)
    with ChaosProxy(target, rate=rate, seed=seed, **kwargs) as proxy:
        with httpx.Client(base_url=proxy.url, headers=AUTH, timeout=10) as c:
            for _ in range(n):
                try:
                    c.get(f"/repos/{REPO}")
                except httpx.TransportError:
                    pass
        stats = proxy.stats
    return [e.fault for e in stats.events], stats


def test_random_mode_faults_the_asked_share_reproducibly(github: FakeGitHub, repo: str) -> None:
    faults, stats = random_run(github.url, seed=1)
    assert stats.requests == 300
    assert 0.24 <= stats.faulted / stats.requests <= 0.36
    assert set(stats.faults) == {"drop_before", "drop_after", "error_after", "error_before",
                                 "rate_limited", "secondary_limit", "stall"}
    assert stats.forwarded == 300 - sum(stats.faults[k] for k in
                                        ("drop_before", "error_before", "rate_limited",
                                         "secondary_limit"))
    again, _ = random_run(github.url, seed=1)
    assert again == faults
    other, _ = random_run(github.url, seed=2)
    assert other != faults


def test_random_mode_mix_and_exclusions(github: FakeGitHub, repo: str) -> None:
    _, only = random_run(github.url, seed=3, rate=0.5, n=100, mix={"error_after": 1})
    assert set(only.faults) == {"error_after"} and only.forwarded == 100
    assert only.statuses[200] + only.statuses[502] + only.statuses[503] == 100
    _, spared = random_run(github.url, seed=3, rate=1.0, n=50, exclude=[rf"^/repos/{REPO}$"])
    assert spared.faulted == 0 and spared.statuses == {200: 50}


# -- the standalone process -----------------------------------------------------------------------
def test_standalone_process_writes_its_stats(github: FakeGitHub, repo: str,
                                             tmp_path: Path) -> None:
    stats_file = tmp_path / "chaos.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.chaos", "--target", github.url, "--port", "0",
         "--rate", "0.3", "--seed", "1", "--mix", "error_before=1,error_after=1",
         "--stats-file", str(stats_file)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        with httpx.Client(base_url=url, headers=AUTH, timeout=10) as c:
            statuses = [c.get(f"/repos/{REPO}").status_code for _ in range(100)]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert code == 0
    data = json.loads(stats_file.read_text())
    assert data["requests"] == 100 and data["seed"] == "1" and data["rate"] == 0.3
    assert data["faulted"] == statuses.count(502) + statuses.count(503) > 10
    assert set(data["faults"]) == {"error_before", "error_after"}
    assert data["by_route"] == {f"GET /repos/{REPO}": 100}


# -- the bot's GitHub client library through it ---------------------------------------------------
def test_githubkit_sees_each_fault_as_it_would_see_githubs(chaos: ChaosProxy, repo: str,
                                                           github: FakeGitHub) -> None:
    from githubkit import GitHub, TokenAuthStrategy
    from githubkit.exception import RequestError, RequestFailed, SecondaryRateLimitExceeded

    kit = GitHub(TokenAuthStrategy(ACTION_TOKEN), base_url=chaos.url, auto_retry=False,
                 user_agent="chaos-proxy-tests")
    chaos.add(rate_limited(3, "POST", COMMENTS, nth=1),
              secondary_limit(None, "POST", COMMENTS, nth=2),
              drop_after("POST", COMMENTS, nth=3),
              error_after(503, "POST", COMMENTS, nth=4),
              drop_before("POST", COMMENTS, nth=5))
    seen: list[Any] = []
    for n in range(6):
        try:
            made = kit.rest.issues.create_comment("acme", "widgets", 1, body=f"c{n}")
            seen.append(made.status_code)
        except RequestError as exc:
            seen.append(exc)
    limited, secondary, dropped, failed, refused, ok = seen
    # githubkit takes a retry-after for a secondary limit; a bare 403 is left to the caller
    assert isinstance(limited, SecondaryRateLimitExceeded) and limited.retry_after.seconds == 3
    assert type(secondary) is RequestFailed and secondary.response.status_code == 403
    assert type(dropped) is RequestError and type(refused) is RequestError  # no response at all
    assert type(failed) is RequestFailed and failed.response.status_code == 503
    assert ok == 201
    assert comment_bodies(github) == ["c2", "c3", "c5"]  # dropped after, failed after, and ok
