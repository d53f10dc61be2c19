"""The fake GitHub's HTTP edge: one starlette app on uvicorn in a background thread.

Every request goes through the same pipeline: record it; check it against GitHub's OpenAPI
description (422 and a recorded violation when it does not fit); injected faults; auth
(JWT for App routes, tokens elsewhere); the route handler under the state lock; the response
checked against the description; then the configured latency, slept with asyncio so slow
responses do not serialise concurrent clients.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from tests.fakes import (
    github_routes_actions,
    github_routes_apps,
    github_routes_checks,
    github_routes_commits,
    github_routes_issues,
    github_routes_pulls,
    github_routes_repo,
    github_routes_reviews,
    github_routes_scanning,
    github_routes_user,
)
from tests.fakes.github_appserver import ALL_METHODS, AppServer
from tests.fakes.github_auth import AppIdentity, token_owner
from tests.fakes.github_http import Call, HttpError, Reply, Routes
from tests.fakes.github_manifest import ManifestRegistry
from tests.fakes.github_shapes import WEB, error, validation_failed
from tests.fakes.github_state import State, Token
from tests.fakes.openapi import OpenAPI

BOT_USER_AGENT = "model-routing-bot"  # bot.github.clients.USER_AGENT; tests that call directly use another


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0
    operation: str | None = None


@dataclass
class Violation:
    kind: str  # "request" | "response"
    method: str
    path: str
    operation: str | None
    problems: list[str]

    def __str__(self) -> str:
        head = f"{self.kind} {self.method} {self.path} ({self.operation or 'no operation'})"
        return head + "".join(f"\n    - {p}" for p in self.problems)


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


@dataclass
class ConformanceStats:
    """Session-wide tallies for the terminal summary; never reset between tests."""

    requests: Counter[str] = field(default_factory=Counter)  # operationId -> checked
    by_bot: Counter[str] = field(default_factory=Counter)  # the same, bot's user agent only
    responses: Counter[str] = field(default_factory=Counter)  # "operationId status" -> checked
    request_violations: int = 0
    response_violations: int = 0
    unimplemented: Counter[str] = field(default_factory=Counter)
    # filled by tests/test_conformance.py and tests/test_webhook_examples.py for the summary
    deliberate: list[str] = field(default_factory=list)  # wrong requests refused on purpose
    # event -> (example payloads, typed by githubkit, reached a handler)
    examples: dict[str, tuple[int, int, int]] = field(default_factory=dict)


class Backend:
    def __init__(self, openapi: OpenAPI | None, validate_responses: bool = True) -> None:
        self.state = State()
        self.app = AppIdentity()  # the built-in App; manifest.apps holds the ones registered
        self.manifest = ManifestRegistry()  # the App manifest flow (github_manifest.py)
        self.web_url = WEB  # GitHub's web side; FakeGitHub.start() sets the fake's own
        self.openapi = openapi
        self.validate_responses = validate_responses
        self.stats = ConformanceStats()
        self.routes = Routes()
        for module in (github_routes_repo, github_routes_issues, github_routes_pulls,
                       github_routes_reviews, github_routes_commits, github_routes_checks,
                       github_routes_actions, github_routes_scanning, github_routes_apps,
                       github_routes_user):
            module.register(self.routes)
        self.log_host: Any = None  # where job-log downloads redirect (FakeGitHub sets it)
        self.static_tokens: dict[str, str] = {"ghs_fake_action_token": "github-actions[bot]"}
        self.latency = 0.0
        self.tree_limit = 100_000  # entries before a recursive tree says truncated
        self.reset()

    def reset(self) -> None:
        with self.state.lock:
            self.state.reset()
            self.requests: list[RecordedRequest] = []
            self.violations: list[Violation] = []
            self.faults: list[Fault] = []
            self.rate_remaining = 5000
            self.latency = 0.0
            self.manifest.reset()
            for value, login in self.static_tokens.items():
                self.state.tokens[value] = Token(value, login)

    def record_violation(self, kind: str, call: Call, operation: str | None,
                         problems: list[str]) -> None:
        """A handler's own finding, such as an uploaded SARIF log that breaks its schema: it
        fails the test at teardown like a request the description forbids."""
        with self.state.lock:
            self.violations.append(Violation(kind, call.method, call.path, operation, problems))

    # -- the pipeline ----------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        path = request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query_params)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._send(Reply(400, error("Problems parsing JSON", 400)))
        record = RecordedRequest(request.method, path, query, body, headers)
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        call = Call(request.method, path, query, body, headers, base_url)
        with self.state.lock:
            self.requests.append(record)
            reply, checked = self._process(call, record, raw != b"")
        record.status = reply.status
        if checked and record.operation and self.openapi and self.validate_responses:
            self._check_response(call, record.operation, reply)
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._send(reply)

    def _process(self, call: Call, record: RecordedRequest, has_body: bool) -> tuple[Reply, bool]:
        """The reply, and whether it came from a handler (so its shape is worth checking)."""
        if self.openapi is not None:
            op, problems = self.openapi.check_request(call.method, call.path, call.query,
                                                      call.body, has_body)
            record.operation = op.operation_id if op else None
            if op:
                self.stats.requests[op.operation_id] += 1
                if call.headers.get("user-agent", "").startswith(BOT_USER_AGENT):
                    self.stats.by_bot[op.operation_id] += 1
            if problems:
                self.stats.request_violations += 1
                self.violations.append(Violation("request", call.method, call.path,
                                                 record.operation, problems))
                errors = [{"resource": "Request", "code": "invalid", "message": p}
                          for p in problems]
                return Reply(422, validation_failed(errors, "Request does not conform to "
                                                    "GitHub's OpenAPI description")), False
        fault = self._take_fault(call)
        if fault is not None:
            return fault, False
        found = self.routes.match(call.method, call.path)
        if found is None:
            if record.operation:
                self.stats.unimplemented[record.operation] += 1
            return Reply(404, error("Not Found", 404)), False
        route, call.params = found
        denied = self._authenticate(call, route.auth)
        if denied is not None:
            return denied, False
        self.rate_remaining = max(0, self.rate_remaining - 1)
        try:
            return route.handler(self, call), True
        except HttpError as exc:
            return exc.reply, True

    def _take_fault(self, call: Call) -> Reply | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.method in (call.method, "*") and \
                    fault.path.search(call.path):
                fault.remaining -= 1
                body = fault.body if fault.body is not None else error(
                    "Server Error" if fault.status >= 500 else "Injected failure", fault.status)
                return Reply(fault.status, body, dict(fault.headers))
        return None

    def _authenticate(self, call: Call, kind: str) -> Reply | None:
        if kind == "none":
            return None
        header = call.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not value:
            return Reply(401, error("Requires authentication", 401))
        if kind == "jwt":
            if scheme.lower() != "bearer":
                return Reply(401, error("A JSON web token could not be decoded", 401))
            identity = self._jwt_identity(value)
            problem = identity.verify_jwt(value)
            if problem:
                return Reply(401, error(problem, 401))
            call.login, call.app = identity.bot_login, identity
            return None
        token = token_owner(self.state, value) if scheme.lower() in ("token", "bearer") else None
        if token is None:
            return Reply(401, error("Bad credentials", 401))
        call.login, call.installation_id = token.login, token.installation_id
        return None

    def _jwt_identity(self, token: str) -> AppIdentity:
        """The App a JWT claims to be (its ``iss``): a manifest App when one matches, else the
        built-in App, whose check then gives GitHub's message for a JWT it cannot verify."""
        try:
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return self.app
        return self.manifest.identity(str(iss)) or self.app

    def _check_response(self, call: Call, operation: str, reply: Reply) -> None:
        assert self.openapi is not None
        found = self.openapi.match(call.method, call.path)
        if found is None:
            return
        problems = self.openapi.check_response(found[0], reply.status, reply.body,
                                               reply.is_json)
        if problems is None:
            return
        self.stats.responses[f"{operation} {reply.status}"] += 1
        if problems:
            self.stats.response_violations += 1
            with self.state.lock:
                self.violations.append(Violation("response", call.method, call.path,
                                                 operation, problems))

    def _send(self, reply: Reply) -> Response:
        headers = {
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.rate_remaining),
            "x-ratelimit-used": str(5000 - self.rate_remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
            **reply.headers,
        }
        if reply.status == 204 or reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        if reply.is_json:
            content: bytes = json.dumps(reply.body).encode()
        else:
            content = reply.body if isinstance(reply.body, bytes) else str(reply.body).encode()
        return Response(content, status_code=reply.status, headers=headers,
                        media_type=reply.content_type)


class ServerThread(AppServer):
    """The fake GitHub's API on 127.0.0.1: every path goes to the backend's pipeline."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(Starlette(routes=[StarletteRoute("/{path:path}", backend.handle,
                                                          methods=ALL_METHODS)]))
