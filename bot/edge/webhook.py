"""``POST /webhook``: the hot path of the edge, as a plain ASGI callable.

It checks, in order: size (413), signature over the raw body (401), the GitHub headers (400),
content type (415) and JSON (400). It answers ``ping`` itself; any other delivery is stored
durably through the group-commit writer (``bot.edge.ingest``) and answered 202 with
``{"delivery", "status": queued | duplicate | skipped}`` only once that commit is on disk.

Why not a starlette endpoint: at thousands of deliveries a second, starlette's request and
response objects, its middleware and JSON rendering cost more than everything the edge
really does, so this path reads the ASGI headers once and sends prebuilt answers. The rest of
the app (/healthz, /metrics, 404s, 405s) stays on starlette (``bot.edge.app``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import msgspec

from bot.edge.ingest import Ingest
from bot.edge.local import is_loopback
from bot.edge.metrics import EdgeMetrics
from bot.store.deliveries import PENDING, SKIPPED, NewDelivery

log = logging.getLogger("model_routing.server")
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
_DELIVERY_ID = re.compile(rb"[A-Za-z0-9._:-]{1,200}")  # (fullmatch) also what makes it safe to echo raw

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Reject(Exception):
    def __init__(self, status: int, result: str, message: str) -> None:
        super().__init__(message)
        self.status, self.result, self.message = status, result, message


# hashlib lets go of the GIL for updates of 2048 bytes or more; the event loop then has to win
# it back from the writer thread, a context switch or two per request for a few microseconds
# of hashing. Smaller updates keep it.
_HOLD_GIL = 2047


class Signature:
    """X-Hub-Signature-256 checks under one secret. The HMAC is keyed once; each body then
    costs one copy of that state and one pass over the bytes."""

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def matches(self, body: bytes, header: bytes) -> bool:
        if not header.startswith(b"sha256="):
            return False
        mac = self._keyed.copy()
        view = memoryview(body)
        for start in range(0, len(body), _HOLD_GIL):
            mac.update(view[start:start + _HOLD_GIL])
        return hmac.compare_digest(mac.hexdigest().encode(), header[7:])


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, declared: bytes | None) -> bytes | None:
    """The whole body, or None when the client went away first."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise Reject(413, "too_large", f"body of {declared.decode()} bytes is over the {MAX_BODY}-byte limit")
    message = await receive()
    body: bytes = message.get("body", b"")
    if message["type"] == "http.request" and not message.get("more_body", False):
        if len(body) > MAX_BODY:  # a false Content-Length is counted too
            raise Reject(413, "too_large", f"body is over the {MAX_BODY}-byte limit")
        return body  # the usual case: one message
    chunks, size = [body], len(body)
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:  # counted while streaming: no Content-Length needed
            raise Reject(413, "too_large", f"body is over the {MAX_BODY}-byte limit")
        chunks.append(chunk)
    if message["type"] != "http.request":
        return None
    return b"".join(chunks)


def _json_body(content_type: bytes, body: bytes) -> bytes:
    """The payload as JSON bytes, from either content type GitHub can send."""
    ctype = content_type.split(b";")[0].strip().lower()
    if ctype == b"application/json":
        return body
    if ctype == b"application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in fields:
            raise Reject(400, "bad_request", "form-encoded body has no `payload` field")
        return fields["payload"][0].encode()
    shown = ctype.decode("latin-1") or "(none)"
    raise Reject(415, "unsupported_media_type",
                 f"content type {shown!r} is not supported; send application/json "
                 "(or application/x-www-form-urlencoded with a `payload` field)")


class _Repository(msgspec.Struct):
    full_name: object = None


class _Envelope(msgspec.Struct):
    """The only fields the edge reads. msgspec still checks the whole body's JSON syntax, but
    builds no objects for the rest of it: a tenth of the cost of ``json.loads``."""

    action: object = None
    repository: _Repository | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def _envelope(raw: bytes) -> tuple[str | None, str | None]:
    """The action and repository the edge records; refuses what is not a JSON object.
    ``json.loads`` stays the judge: whatever the fast decoder does not accept outright (bad
    JSON, a surprising shape, NaN, a BOM, UTF-16) goes through it, and the fast decoder's
    one leniency, invalid UTF-8 inside strings it skips, is checked here."""
    try:
        found = _ENVELOPE.decode(raw)
        raw.decode("utf-8")  # ASCII bodies take a fast path in C
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return _envelope_stdlib(raw)
    action = found.action if isinstance(found.action, str) else None
    repo = found.repository.full_name if found.repository is not None else None
    return action, (repo if isinstance(repo, str) else None)


def _envelope_stdlib(raw: bytes) -> tuple[str | None, str | None]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Reject(400, "bad_request", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Reject(400, "bad_request", f"payload must be a JSON object, not {type(data).__name__}")
    action, repository = data.get("action"), data.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    return (action if isinstance(action, str) else None), (repo if isinstance(repo, str) else None)


class WebhookEndpoint:
    """The ASGI callable for ``POST /webhook``. ``wanted(event, action)`` says whether any
    handler takes a delivery (the others are stored as skipped, without their payload); the
    ingest and the metrics come from the lifespan state (``scope["state"]``)."""

    def __init__(self, secret: str | None, wanted: Callable[[str, str | None], bool]) -> None:
        self.signature: Signature | None = None
        self.use_secret(secret)
        self.wanted = wanted

    def use_secret(self, secret: str | None) -> None:
        """Verify from now on with ``secret``: the credentials holder calls this when the setup
        page has stored an App (``bot.store.credentials``). One attribute store, so a request
        on the event loop sees the old key or the new one, and the hot path reads no more than
        it did with a key fixed at start-up."""
        self.signature = Signature(secret) if secret is not None else None

    def _check_signature(self, scope: Scope, body: bytes, header: bytes | None) -> None:
        if self.signature is None:
            if not is_loopback(scope):
                raise Reject(401, "unauthorized", "no webhook secret is configured (GITHUB_WEBHOOK_SECRET); "
                             "unsigned deliveries are accepted from loopback clients only")
            return
        if not header:
            raise Reject(401, "unauthorized", "missing X-Hub-Signature-256 header")
        if not self.signature.matches(body, header):
            raise Reject(401, "unauthorized", "X-Hub-Signature-256 does not match the body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        metrics: EdgeMetrics = state["edge"]
        event_raw = delivery = signature = content_type = length = None
        for name, value in scope["headers"]:  # one pass; ASGI names are lower-case bytes
            if name == b"x-github-event":
                event_raw = value
            elif name == b"x-github-delivery":
                delivery = value
            elif name == b"x-hub-signature-256":
                signature = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        event = event_raw.decode("latin-1") if event_raw else None
        try:
            body = await _read_body(receive, length)
            if body is None:
                return  # the client went away: nobody to answer, nothing promised
            self._check_signature(scope, body, signature)
            if not event or not delivery:
                raise Reject(400, "bad_request", "missing X-GitHub-Event or X-GitHub-Delivery header")
            if not _DELIVERY_ID.fullmatch(delivery):
                raise Reject(400, "bad_request", "X-GitHub-Delivery is not a delivery id")
            raw = _json_body(content_type or b"", body)
            action, repo = _envelope(raw)
        except Reject as exc:
            metrics.count(event, exc.result)
            log.info("webhook rejected (%d): %s", exc.status, exc.message)
            await _send_json(send, exc.status, json.dumps({"error": exc.message}).encode())
            return
        assert event is not None and delivery is not None
        if event == "ping":
            metrics.count(event, "pong")
            data = json.loads(raw)  # rare: the whole payload is fine here
            await _send_json(send, 200, json.dumps(
                {"msg": "pong", "zen": data.get("zen"), "hook_id": data.get("hook_id")}).encode())
            return
        ingest: Ingest = state["ingest"]
        wanted = self.wanted(event, action)
        record = NewDelivery(delivery.decode("ascii"), event, action, repo,
                             raw if wanted else b"", PENDING if wanted else SKIPPED)
        try:
            status = await ingest.submit(record)
        except Exception as exc:  # noqa: BLE001 - storage down: GitHub shows the failure and can redeliver
            metrics.count(event, "unavailable")
            await _send_json(send, 503, json.dumps(
                {"error": f"could not store the delivery: {type(exc).__name__}"}).encode())
            return
        metrics.count(event, status)
        # the id matched _DELIVERY_ID, so it needs no JSON escaping
        await _send_json(send, 202, b'{"delivery":"' + delivery + b'","status":"' + status.encode() + b'"}')
