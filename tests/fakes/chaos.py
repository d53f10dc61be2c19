"""A fault-injecting HTTP/1.1 proxy for loopback: it sits between the bot and the fake GitHub
(the bot is given the proxy's URL as ``GITHUB_API_URL``) and breaks chosen requests the ways a
real network and GitHub's front end break them.

Faults, decided per request before anything reaches the fake:

``drop_before``
    close the client's connection without forwarding: GitHub never saw the request.
``drop_after``
    forward it, let the fake apply it, read the answer, then close the client's connection
    without answering: the write happened but the client cannot know.
``error_after(status)``
    forward it and let it apply, then answer 502/503 instead of the real answer: an applied
    write reported as failed.
``error_before(status, headers, body)``
    answer without forwarding: 502/503, 429 with ``Retry-After`` (``rate_limited``) or GitHub's
    403 secondary rate limit (``secondary_limit``).
``stall(seconds)``
    hold the request that long, then forward it as usual (even when the client gave up waiting:
    a late write is one of the things this is for).

Scripted rules (``Rule``: method, path regex, which matching occurrence and how many) make unit
tests exact; ``rate``/``seed``/``mix`` draw faults at random on that share of requests. A draw
depends only on the seed, the method, the path and how many times that method and path were seen
before, so a run with the same seed and the same per-path order of requests gets the same faults
whatever the interleaving of concurrent connections.

Everything is counted in ``stats`` (requests, forwarded, faults by kind, per method and path).

Usable in-process (``ChaosProxy(target).start()``, ``.url``, ``.stop()``: its own event loop in a
daemon thread) or as a process for a benchmark::

    python -m tests.fakes.chaos --target http://127.0.0.1:8001 --port 8002 --rate 0.15 --seed 1 \\
        --stats-file chaos.json

The process prints ``listening on URL`` once it accepts connections, rewrites the stats file
every second and at exit (SIGINT or SIGTERM).

The proxy speaks HTTP/1.1 on both sides: keep-alive connections, request bodies with
``Content-Length`` or ``Transfer-Encoding: chunked`` (forwarded with a ``Content-Length``),
responses by length, chunks or close (answered with a ``Content-Length``), ``Expect:
100-continue``. The ``Host`` header is passed on unchanged, so URLs the fake writes into its
answers (links, pagination) lead back through the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

KINDS = ("drop_before", "drop_after", "error_after", "error_before", "stall")
# the named faults random mode draws from; each is one of KINDS with its parameters
DEFAULT_MIX: dict[str, float] = {
    "drop_before": 1.0,
    "drop_after": 1.0,
    "error_after": 1.0,
    "error_before": 1.0,  # 502 or 503
    "rate_limited": 1.0,  # 429 with Retry-After
    "secondary_limit": 1.0,  # GitHub's 403 secondary rate limit
    "stall": 1.0,
}
SECONDARY_LIMIT_BODY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
               "try again. If you reach out to GitHub Support for help, please include the "
               "request ID {request_id}.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                         "#about-secondary-rate-limits",
    "status": "403",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authenticate", "proxy-authorization", "expect",
              "content-length"}
MAX_HEAD = 256 * 1024


# -- rules ----------------------------------------------------------------------------------------
@dataclass
class Rule:
    """A scripted fault: on the ``nth`` request (1-based) matching ``method`` ("*" for any) and
    the regex ``path`` (searched in the path, without the query), and on the ``times - 1``
    matching requests after it (``times=None``: every one from the nth on).

    Every matching rule counts each matching request; the first rule, in the order added, whose
    window includes its count applies."""

    kind: str
    method: str = "*"
    path: str = ""
    nth: int = 1
    times: int | None = 1
    status: int = 502
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-able, bytes or None (a GitHub-style message for the status)
    seconds: float = 0.0
    label: str = ""  # the name counted in stats (the kind when empty)
    seen: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        self.method = self.method.upper()
        self._pattern = re.compile(self.path)
        self.label = self.label or self.kind

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self._pattern.search(path) is not None

    def fires(self) -> bool:
        """Count one matching request; whether this one is in the rule's window."""
        self.seen += 1
        return self.seen >= self.nth and (self.times is None or self.seen < self.nth + self.times)


def drop_before(method: str = "*", path: str = "", nth: int = 1, times: int | None = 1) -> Rule:
    return Rule("drop_before", method, path, nth, times)


def drop_after(method: str = "*", path: str = "", nth: int = 1, times: int | None = 1) -> Rule:
    return Rule("drop_after", method, path, nth, times)


def error_after(status: int = 502, method: str = "*", path: str = "", nth: int = 1,
                times: int | None = 1, body: Any = None) -> Rule:
    return Rule("error_after", method, path, nth, times, status=status, body=body)


def error_before(status: int = 503, method: str = "*", path: str = "", nth: int = 1,
                 times: int | None = 1, headers: Mapping[str, str] | None = None,
                 body: Any = None) -> Rule:
    return Rule("error_before", method, path, nth, times, status=status,
                headers=dict(headers or {}), body=body)


def rate_limited(retry_after: int = 1, method: str = "*", path: str = "", nth: int = 1,
                 times: int | None = 1) -> Rule:
    """429 with ``Retry-After`` and GitHub's rate-limit headers, not forwarded."""
    headers = {"retry-after": str(retry_after), "x-ratelimit-limit": "5000",
               "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
               "x-ratelimit-reset": str(int(time.time()) + retry_after),
               "x-ratelimit-resource": "core"}
    body = {"message": "API rate limit exceeded.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-"
                                 "rest-api"}
    return Rule("error_before", method, path, nth, times, status=429, headers=headers, body=body,
                label="rate_limited")


def secondary_limit(retry_after: int | None = 60, method: str = "*", path: str = "",
                    nth: int = 1, times: int | None = 1) -> Rule:
    """GitHub's 403 secondary rate limit (its body; ``retry-after`` unless None; the primary
    limit not exhausted), not forwarded."""
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990",
               "x-ratelimit-used": "10", "x-ratelimit-reset": str(int(time.time()) + 3600),
               "x-ratelimit-resource": "core"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return Rule("error_before", method, path, nth, times, status=403, headers=headers,
                body=SECONDARY_LIMIT_BODY, label="secondary_limit")


def stall(seconds: float, method: str = "*", path: str = "", nth: int = 1,
          times: int | None = 1) -> Rule:
    return Rule("stall", method, path, nth, times, seconds=seconds)


# -- stats ----------------------------------------------------------------------------------------
@dataclass
class Event:
    seq: int
    method: str
    path: str
    fault: str | None  # the rule's label, None when passed through
    status: int | None  # what the client got (None: connection closed)
    upstream_status: int | None  # what the fake answered (None: not forwarded)


@dataclass
class ChaosStats:
    connections: int = 0  # client connections accepted
    requests: int = 0
    forwarded: int = 0  # reached the target
    faults: Counter[str] = field(default_factory=Counter)  # label -> count
    kinds: Counter[str] = field(default_factory=Counter)  # kind -> count
    by_route: Counter[str] = field(default_factory=Counter)  # "GET /path" -> requests
    faults_by_route: Counter[str] = field(default_factory=Counter)  # "GET /path label" -> faults
    statuses: Counter[int] = field(default_factory=Counter)  # answered to the client
    upstream_errors: int = 0  # the target refused or broke the connection
    events: list[Event] = field(default_factory=list)

    @property
    def faulted(self) -> int:
        return sum(self.faults.values())

    def as_dict(self, events: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connections": self.connections, "requests": self.requests,
            "forwarded": self.forwarded, "faulted": self.faulted,
            "faults": dict(self.faults), "kinds": dict(self.kinds),
            "by_route": dict(self.by_route), "faults_by_route": dict(self.faults_by_route),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "upstream_errors": self.upstream_errors,
        }
        if events:
            out["events"] = [e.__dict__ for e in self.events]
        return out


# -- HTTP/1.1 framing -----------------------------------------------------------------------------
class ProtocolError(Exception):
    pass


@dataclass
class Message:
    start: str  # request or status line, without CRLF
    headers: list[tuple[str, str]]
    body: bytes = b""
    framed: bool = False  # had Content-Length or chunked (a body, even an empty one)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def tokens(self, name: str) -> set[str]:
        return {token.strip().lower() for key, value in self.headers if key.lower() == name
                for token in value.split(",")}


async def read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    """Start line and headers, or None on a clean end of stream before any byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ProtocolError("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("message head too large") from exc
    lines = raw.decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # tolerate stray CRLFs between messages
        lines.pop(0)
    if not lines:
        return None
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


async def read_body(reader: asyncio.StreamReader, message: Message, *, until_close: bool) -> None:
    if "chunked" in message.tokens("transfer-encoding"):
        message.framed = True
        parts = []
        while True:
            size_line = (await reader.readuntil(b"\r\n")).decode("latin-1")
            size = int(size_line.split(";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                break
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
        message.body = b"".join(parts)
        return
    length = message.header("content-length")
    if length is not None:
        message.framed = True
        message.body = await reader.readexactly(int(length))
    elif until_close:
        message.body = await reader.read()


def encode(start: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> bytes:
    lines = [start]
    lines += [f"{k}: {v}" for k, v in headers]
    if body is not None:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def error_response(status: int, headers: Mapping[str, str], body: Any,
                   keep_alive: bool) -> tuple[bytes, int]:
    request_id = uuid.uuid4().hex[:20].upper()
    if body is None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        body = {"message": phrase, "documentation_url": "https://docs.github.com/rest"}
    if isinstance(body, bytes):
        content, ctype = body, "text/plain; charset=utf-8"
    else:
        content = json.dumps(body).replace("{request_id}", request_id).encode()
        ctype = "application/json; charset=utf-8"
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    head = [("content-type", ctype), ("x-github-request-id", request_id),
            ("x-github-media-type", "github.v3; format=json"), *headers.items(),
            ("connection", "keep-alive" if keep_alive else "close")]
    return encode(f"HTTP/1.1 {status} {reason}", head, content), status


# -- the proxy ------------------------------------------------------------------------------------
class _Upstream:
    """One keep-alive connection to the target per client connection, opened when needed."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes, head_only: bool) -> Message:
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, limit=MAX_HEAD)
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                await self.writer.drain()
                return await self._response(head_only)
            except (ConnectionError, asyncio.IncompleteReadError, ProtocolError):
                self.close()
                # a kept-alive connection the target had closed meanwhile: once more, fresh
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self, head_only: bool) -> Message:
        assert self.reader is not None
        while True:
            head = await read_head(self.reader)
            if head is None:
                raise ProtocolError("target closed the connection without answering")
            response = Message(*head)
            status = int(response.start.split(" ", 2)[1])
            if 100 <= status < 200:  # interim (100 Continue): the real answer follows
                continue
            break
        closes = "close" in response.tokens("connection") or response.start.startswith("HTTP/1.0")
        if not head_only and status not in (204, 304):
            await read_body(self.reader, response, until_close=True)
            if not response.framed:
                closes = True
        if closes:
            self.close()
        return response

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class ChaosProxy:
    """``ChaosProxy(target)`` passes everything through; add ``Rule``s, or give ``rate`` (the
    share of requests that get a random fault), ``seed`` and ``mix`` (named fault -> weight,
    names from ``DEFAULT_MIX``); ``exclude`` lists path regexes never faulted at random.
    ``stall_seconds`` and ``retry_after`` parameterise random stalls and 429/403 answers."""

    def __init__(self, target: str, rate: float = 0.0, seed: int | str = 0,
                 mix: Mapping[str, float] | None = None, exclude: Iterable[str] = (),
                 rules: Iterable[Rule] = (), *, host: str = "127.0.0.1", port: int = 0,
                 stall_seconds: float = 0.2, retry_after: int = 1,
                 keep_events: bool = True) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"target must be an http:// URL, not {target!r}")
        self.target = target.rstrip("/")
        self._target_host = parts.hostname
        self._target_port = parts.port or 80
        self.rate = rate
        self.seed = seed
        self.mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(self.mix) - set(DEFAULT_MIX)
        if unknown:
            raise ValueError(f"unknown faults in mix: {sorted(unknown)}; "
                             f"from {sorted(DEFAULT_MIX)}")
        self.exclude = [re.compile(p) for p in exclude]
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self.keep_events = keep_events
        self.host, self._port = host, port
        self._lock = threading.Lock()
        self._rules: list[Rule] = list(rules)
        self._occurrences: Counter[str] = Counter()
        self._stats = ChaosStats()
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    # -- test-facing API -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("ChaosProxy is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    def add(self, *rules: Rule) -> ChaosProxy:
        with self._lock:
            self._rules.extend(rules)
        return self

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    @property
    def stats(self) -> ChaosStats:
        """A consistent copy of the counters so far."""
        with self._lock:
            s = self._stats
            return ChaosStats(s.connections, s.requests, s.forwarded, Counter(s.faults),
                              Counter(s.kinds),
                              Counter(s.by_route), Counter(s.faults_by_route),
                              Counter(s.statuses), s.upstream_errors, list(s.events))

    def reset(self, rate: float | None = None, seed: int | str | None = None) -> None:
        """Forget rules, counters and occurrences (and optionally change rate or seed)."""
        with self._lock:
            self._rules.clear()
            self._occurrences.clear()
            self._stats = ChaosStats()
            self._seq = 0
            if rate is not None:
                self.rate = rate
            if seed is not None:
                self.seed = seed

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ChaosProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="chaos-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError("ChaosProxy did not start") from (failure[0] if failure else None)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self._port,
                                                  limit=MAX_HEAD, backlog=1024)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._clients)
        for task, writer in list(self._clients.items()):
            writer.close()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def serve_forever(self) -> None:
        """Run on the current loop (the CLI's way) until cancelled."""
        await self._listen()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self._shutdown()

    # -- deciding --------------------------------------------------------------------------------
    def _decide(self, method: str, path: str) -> Rule | None:
        """Count the request and pick its fault (scripted first, then random)."""
        with self._lock:
            route = f"{method} {path}"
            self._stats.requests += 1
            self._stats.by_route[route] += 1
            occurrence = self._occurrences[route]
            self._occurrences[route] += 1
            chosen: Rule | None = None
            for rule in self._rules:
                if rule.matches(method, path) and rule.fires() and chosen is None:
                    chosen = rule
            if chosen is None and self.rate > 0 and self.mix and \
                    not any(p.search(path) for p in self.exclude):
                chosen = self._draw(route, occurrence)
            if chosen is not None:
                self._stats.faults[chosen.label] += 1
                self._stats.kinds[chosen.kind] += 1
                self._stats.faults_by_route[f"{route} {chosen.label}"] += 1
            return chosen

    def _draw(self, route: str, occurrence: int) -> Rule | None:
        rng = random.Random(f"{self.seed}\x00{route}\x00{occurrence}")
        if rng.random() >= self.rate:
            return None
        names = [n for n, w in self.mix.items() if w > 0]
        name = rng.choices(names, weights=[self.mix[n] for n in names])[0]
        status = rng.choice((502, 503))
        if name in ("drop_before", "drop_after"):
            return Rule(name)
        if name == "error_after":
            return Rule("error_after", status=status)
        if name == "error_before":
            return Rule("error_before", status=status)
        if name == "rate_limited":
            return rate_limited(self.retry_after)
        if name == "secondary_limit":
            return secondary_limit(self.retry_after)
        return Rule("stall", seconds=self.stall_seconds * (0.5 + rng.random()))

    def _record(self, method: str, path: str, fault: Rule | None, status: int | None,
                upstream: int | None) -> None:
        with self._lock:
            if upstream is not None:
                self._stats.forwarded += 1
            if status is not None:
                self._stats.statuses[status] += 1
            self._seq += 1
            if self.keep_events:
                self._stats.events.append(Event(self._seq, method, path,
                                                fault.label if fault else None, status, upstream))

    # -- serving ---------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        with self._lock:
            self._stats.connections += 1
        upstream = _Upstream(self._target_host, self._target_port)
        try:
            try:
                while await self._one(reader, writer, upstream):
                    pass
            except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, ValueError):
                pass
            finally:
                upstream.close()
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio's stream callback reports cancelled handlers)
        finally:
            self._clients.pop(task, None)  # only now: stop() waits for what is left

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   upstream: _Upstream) -> bool:
        """Serve one request; whether the client connection stays open."""
        head = await read_head(reader)
        if head is None:
            return False
        request = Message(*head)
        try:
            method, target, version = request.start.split(" ", 2)
        except ValueError as exc:
            raise ProtocolError(f"bad request line {request.start!r}") from exc
        if "100-continue" in request.tokens("expect"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        await read_body(reader, request, until_close=False)
        connection = request.tokens("connection")
        keep_alive = "close" not in connection and (version != "HTTP/1.0" or
                                                    "keep-alive" in connection)
        path = urlsplit(target).path or "/"
        method = method.upper()
        fault = self._decide(method, path)
        kind = fault.kind if fault else None

        if kind == "drop_before":
            self._record(method, path, fault, None, None)
            writer.transport.abort()
            return False
        if kind == "error_before":
            assert fault is not None
            data, status = error_response(fault.status, fault.headers, fault.body, keep_alive)
            self._record(method, path, fault, status, None)
            writer.write(data)
            await writer.drain()
            return keep_alive
        if kind == "stall":
            assert fault is not None
            await asyncio.sleep(fault.seconds)

        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
        headers.append(("connection", "keep-alive"))
        outgoing = encode(f"{method} {target} HTTP/1.1", headers,
                          request.body if request.framed or request.body else None)
        try:
            response = await upstream.exchange(outgoing, head_only=method == "HEAD")
        except (OSError, asyncio.IncompleteReadError, ProtocolError):
            with self._lock:
                self._stats.upstream_errors += 1
            data, status = error_response(502, {}, {"message": "Bad Gateway (chaos proxy: the "
                                                               "target did not answer)"}, False)
            self._record(method, path, fault, status, None)
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return False
        upstream_status = int(response.start.split(" ", 2)[1])

        if kind == "drop_after":
            self._record(method, path, fault, None, upstream_status)
            writer.transport.abort()
            return False
        if kind == "error_after":
            assert fault is not None
            data, status = error_response(fault.status, fault.headers, fault.body, keep_alive)
        else:
            status = upstream_status
            headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
            headers.append(("connection", "keep-alive" if keep_alive else "close"))
            if method == "HEAD" or status in (204, 304):
                length = response.header("content-length")
                if length is not None and method == "HEAD":
                    headers.append(("content-length", length))
                data = encode(response.start, headers, None)
            else:
                data = encode(response.start, headers, response.body)
        # counted before the client can read the answer, so a test that got it sees the count
        self._record(method, path, fault, status, upstream_status)
        writer.write(data)
        await writer.drain()
        return keep_alive


# -- the standalone process -----------------------------------------------------------------------
def parse_mix(text: str) -> dict[str, float]:
    """``drop_before=1,stall=2`` -> {"drop_before": 1.0, "stall": 2.0}."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight or 1)
    return mix


def write_stats(proxy: ChaosProxy, path: str) -> None:
    data = {"target": proxy.target, "rate": proxy.rate, "seed": proxy.seed, "mix": proxy.mix,
            **proxy.stats.as_dict()}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


async def _main(args: argparse.Namespace) -> None:
    proxy = ChaosProxy(args.target, args.rate, args.seed,
                       parse_mix(args.mix) if args.mix else None, args.exclude,
                       host=args.host, port=args.port, stall_seconds=args.stall_seconds,
                       retry_after=args.retry_after, keep_events=False)
    serving = asyncio.ensure_future(proxy.serve_forever())
    while proxy._server is None and not serving.done():  # noqa: ASYNC110 - polls the listener coming up, once
        await asyncio.sleep(0.01)
    if serving.done():
        serving.result()  # raises why it could not listen
    print(f"listening on {proxy.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if args.stats_file:
                write_stats(proxy, args.stats_file)
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        if args.stats_file:
            write_stats(proxy, args.stats_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.chaos",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--target", required=True, help="the fake GitHub's URL, http://host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--rate", type=float, default=0.15, help="share of requests faulted")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--mix", default="", help="name=weight,... from " + ",".join(DEFAULT_MIX))
    parser.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                        help="paths never faulted (repeatable)")
    parser.add_argument("--stall-seconds", type=float, default=0.2)
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument("--stats-file", default="")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
