"""A fake OpenAI-compatible LLM server for tests: POST /v1/chat/completions on 127.0.0.1.

The bot talks to it through the real litellm over HTTP, with models configured as
``ModelSpec(model="openai/<name>", api_base=llm.url, api_key="test", ...)``. Replies are scripted
per model (text, failures, hangs); anything unscripted gets the model's default reply. Every
request body is recorded so a test can check what was sent, and that nothing was sent.

Prompt caching is reported the way providers do it. A request is cache-eligible when one of its
messages (or one of their content blocks) carries an Anthropic-style ``cache_control`` marker,
which litellm passes through unchanged to an ``openai/`` endpoint, or when its model was switched
to automatic caching with ``auto_cache`` (OpenAI style). The prompt is split into tokens
deterministically (a few header tokens per message, then 4-character pieces of each text block,
the same rough count ``prompt_tokens`` uses). The cached tokens of an eligible request are the
longest prefix it shares with a recent eligible request to the same model, counted only up to
the last ``cache_control`` breakpoint of either (the whole prompt when auto-cached) and rounded
down to whole blocks of ``cache_block`` tokens (1,024 by default). They are answered as
``usage.prompt_tokens_details.cached_tokens`` (OpenAI) and ``usage.cache_read_input_tokens``
(Anthropic); ``prompt_tokens`` stays the whole prompt. ``clear_cache`` or ``cache_ttl`` makes
the next request miss.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ANY_MODEL = "*"
DEFAULT_TEXT = "ok"


@dataclass(frozen=True)
class Reply:
    """A successful reply; token counts default to rough counts of the prompt and the text."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None  # overrides the prompt cache's count for this reply


@dataclass(frozen=True)
class Fail:
    """An error response, e.g. ``Fail(500)`` or ``Fail(429, retry_after=0)``."""

    status: int = 500
    retry_after: float | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Hang:
    """Answer only after ``seconds`` (longer than the client's timeout, to test it)."""

    seconds: float
    then: str = "(late reply)"


Scripted = str | Reply | Fail | Hang
DefaultReply = str | Callable[[dict[str, Any]], str]


def bare_name(model: str) -> str:
    """litellm sends "fast-a" for "openai/fast-a"; accept either spelling in scripts."""
    return model.split("/", 1)[1] if model.startswith("openai/") else model


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


CHARS_PER_TOKEN = 4  # as rough_tokens; each message also has 3 header tokens, as prompt_tokens


def _has_marker(item: Any) -> bool:
    return isinstance(item, dict) and item.get("cache_control") is not None


def prompt_tokens_of(messages: list[Any]) -> tuple[list[str], int | None]:
    """The prompt as a deterministic token list, and the position just past its last
    ``cache_control`` breakpoint (None when no message or content block carries one).

    Each message is three header tokens (start, role, end) then each text block cut into
    4-character pieces; a marker on a content block ends the breakpoint after that block, one on
    the message itself after the whole message."""
    tokens: list[str] = []
    breakpoint_at: int | None = None
    for message in messages:
        if not isinstance(message, dict):
            continue
        tokens += ["\x00<|start|>", f"\x00{message.get('role', '')}", "\x00<|end|>"]
        content = message.get("content")
        blocks = [{"text": content}] if isinstance(content, str) else content or []
        for block in blocks if isinstance(blocks, list) else []:
            text = str(block.get("text", "")) if isinstance(block, dict) else ""
            tokens += [text[i:i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]
            if _has_marker(block):
                breakpoint_at = len(tokens)
        if _has_marker(message):
            breakpoint_at = len(tokens)
    return tokens, breakpoint_at


def shared_prefix(a: list[str], b: list[str]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class _CacheEntry:
    tokens: list[str]
    cacheable: int  # tokens of the prefix this request wrote (up to its breakpoint)
    at: float  # time.monotonic() when written


class PromptCache:
    """Per model, the recent cache-eligible prompts (thread-safe through FakeLLM's lock)."""

    def __init__(self, block: int = 1024, ttl: float | None = None, history: int = 32) -> None:
        self.block = block
        self.ttl = ttl
        self.history = history
        self.auto: set[str] = set()
        self._entries: dict[str, deque[_CacheEntry]] = defaultdict(deque)

    def clear(self, model: str | None = None) -> None:
        if model is None:
            self._entries.clear()
        else:
            self._entries.pop(bare_name(model), None)

    def lookup_and_store(self, model: str, messages: list[Any]) -> int | None:
        """The cached tokens for this request, in whole blocks (None when it is not eligible:
        no breakpoint and no automatic caching), remembering it for the next ones."""
        tokens, breakpoint_at = prompt_tokens_of(messages)
        if breakpoint_at is None and model not in self.auto:
            return None
        cacheable = len(tokens) if breakpoint_at is None else breakpoint_at
        now = time.monotonic()
        entries = self._entries[model]
        if self.ttl is not None:
            while entries and now - entries[0].at > self.ttl:
                entries.popleft()
        best = 0
        for entry in entries:
            best = max(best, min(shared_prefix(tokens, entry.tokens), entry.cacheable, cacheable))
        entries.append(_CacheEntry(tokens, cacheable, now))
        while len(entries) > self.history:
            entries.popleft()
        return self.round(best)

    def round(self, tokens: int) -> int:
        return tokens // self.block * self.block if self.block > 0 else tokens


class FakeLLM:
    def __init__(self, cache_block: int = 1024, cache_ttl: float | None = None) -> None:
        self._lock = threading.Lock()
        self.cache = PromptCache(cache_block, cache_ttl)
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._defaults: dict[str, DefaultReply] = {}
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # -- test-facing API -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("FakeLLM is not started")
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def script(self, model_name: str, *replies: Scripted) -> None:
        """Queue replies for a model; each request takes the next one."""
        with self._lock:
            self._scripts[bare_name(model_name)].extend(replies)

    def default(self, model_name: str, reply: DefaultReply) -> None:
        """The reply when nothing is scripted: text, or a function of the request body.
        ``model_name="*"`` sets it for every model."""
        with self._lock:
            self._defaults[bare_name(model_name)] = reply

    def prompts(self, model: str | None = None) -> list[str]:
        """Per request (optionally only one model's), its messages' texts joined by newlines."""
        with self._lock:
            bodies = list(self.requests)
        wanted = bare_name(model) if model else None
        return [
            "\n".join(message_text(m) for m in body.get("messages", []))
            for body in bodies
            if wanted is None or body.get("model") == wanted
        ]

    def auto_cache(self, model_name: str, on: bool = True) -> None:
        """Cache every request to this model, marked or not (OpenAI's automatic caching)."""
        with self._lock:
            (self.cache.auto.add if on else self.cache.auto.discard)(bare_name(model_name))

    def clear_cache(self, model_name: str | None = None) -> None:
        """Forget the cached prompts (of one model, or all): the next request misses."""
        with self._lock:
            self.cache.clear(model_name)

    def set_cache(self, block: int | None = None, ttl: float | None = None) -> None:
        """Block size in tokens that cached counts round down to; seconds a prompt stays
        cached (None: until cleared)."""
        with self._lock:
            if block is not None:
                self.cache.block = block
            self.cache.ttl = ttl

    def models_called(self) -> list[str]:
        with self._lock:
            return [str(body.get("model")) for body in self.requests]

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._defaults.clear()
            self.requests.clear()
            self.cache = PromptCache()

    # -- server lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        sock = self._sock
        server = self._server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name="fake-llm", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("FakeLLM did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    # -- HTTP handlers ---------------------------------------------------------------------------

    def _next(self, model: str, body: dict[str, Any]) -> tuple[Reply | Fail | Hang, int | None]:
        """The scripted (or default) action, and the prompt cache's count for the request."""
        with self._lock:
            self.requests.append(body)
            queue = self._scripts.get(model)
            item: Scripted | None = queue.popleft() if queue else None
            default = self._defaults.get(model, self._defaults.get(ANY_MODEL, DEFAULT_TEXT))
            # a failed request neither reads nor writes the cache
            cached = None if isinstance(item, Fail) else \
                self.cache.lookup_and_store(model, body["messages"])
        if item is not None:
            return (Reply(item) if isinstance(item, str) else item), cached
        return Reply(default(body) if callable(default) else default), cached

    async def _models(self, request: Request) -> Response:
        with self._lock:
            names = sorted(set(self._scripts) | set(self._defaults) - {ANY_MODEL})
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    async def _chat(self, request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "expected a JSON object with messages")
        model = str(body.get("model", ""))
        action, cached = self._next(model, body)
        if isinstance(action, Fail):
            headers = {} if action.retry_after is None else {"retry-after": f"{action.retry_after:g}"}
            return _error(action.status, action.message, headers)
        if isinstance(action, Hang):
            await asyncio.sleep(action.seconds)
            action = Reply(action.then)
        prompt = "\n".join(message_text(m) for m in body["messages"])
        usage = {
            "prompt_tokens": action.prompt_tokens if action.prompt_tokens is not None
            else rough_tokens(prompt) + 3 * len(body["messages"]),
            "completion_tokens": action.completion_tokens if action.completion_tokens is not None
            else rough_tokens(action.text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if action.cached_tokens is not None:
            cached = action.cached_tokens
        elif cached is not None:  # the token list may run a little past the rough count
            cached = self.cache.round(min(cached, usage["prompt_tokens"]))
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
            usage["cache_read_input_tokens"] = cached
        ident = f"chatcmpl-fake-{next(self._ids)}"
        if body.get("stream"):
            return StreamingResponse(
                _stream(ident, model, action.text, usage), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": action.text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": str(status)}}, status, headers=headers
    )


async def _stream(ident: str, model: str, text: str, usage: dict[str, Any]) -> AsyncIterator[bytes]:
    base = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage},
    ]
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"
