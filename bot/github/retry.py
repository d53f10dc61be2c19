"""Which failed GitHub requests are retried, and after how long: by what is safe to send twice.

githubkit hands every failure of ``arequest`` to its ``auto_retry`` function (``RetryPolicy``
here) and sends the whole request again, installation-token exchange included, when it says so:
error answers (``RequestFailed``), timeouts (``RequestTimeout``) and connection errors
(``RequestError`` around httpx's ``TransportError``). The token request itself
(``POST /app/installations/{id}/access_tokens``) is sent from inside httpx's auth flow, so its
failures arrive wrapped: a ``RequestError`` around the ``RequestFailed`` or transport error, whose
request is the token request. Unwrapped here, it is retried like any safe request.

What is retried:

- a refusal that GitHub did not apply: a rate limit (429, or 403 saying "secondary rate limit";
  waits for ``Retry-After`` or ``x-ratelimit-reset``), or a connection that was never made: every
  method;
- a 5xx answer, a timeout or a dropped connection: only requests that can be sent twice with the
  same effect: GET/HEAD, PUT/PATCH/DELETE, content-addressed Git objects (blobs, trees, commits:
  a duplicate is an unreferenced object), adding labels, and the token exchange.

Any other POST (a comment, a review, a pull request, a ref) may have been applied before the
answer was lost: it is never sent blind again. ``bot.github.writes`` checks whether it landed.
Every wait is capped by ``max_wait``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from githubkit.exception import GitHubException
    from githubkit.typing import RetryOption

log = logging.getLogger("model_routing.github")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# POSTs whose repetition changes nothing (searched in the URL path, so a GHES /api/v3 prefix fits)
SAFE_POSTS = re.compile(
    r"/repos/[^/]+/[^/]+/git/(?:blobs|trees|commits)$"  # content-addressed: same content, same object
    r"|/repos/[^/]+/[^/]+/issues/\d+/labels$"  # adds to a set
    r"|/app/installations/\d+/access_tokens$"  # mints another token; nothing is written
)
TOKEN_PATH = re.compile(r"/app/installations/\d+/access_tokens$")


def idempotent(method: str, path: str) -> bool:
    """Whether sending this request twice has the effect of sending it once."""
    method = method.upper()
    return method in SAFE_METHODS or (method == "POST" and SAFE_POSTS.search(path) is not None)


@dataclass(frozen=True)
class Failure:
    """What a failed request was and how it failed, from any of githubkit's exceptions."""

    method: str
    path: str
    status: int | None  # None: no answer (timeout, connection error)
    never_sent: bool  # the connection was never made: GitHub cannot have seen it
    response: Any = None  # githubkit's Response when there is one
    rate_limit_wait: float | None = None  # githubkit recognised a rate limit and read its wait


def failure_of(exc: BaseException) -> Failure | None:
    """Unwrap githubkit's exception; None when it is no request failure (a bad credential)."""
    import httpx
    from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

    if isinstance(exc, RequestFailed):
        wait = exc.retry_after.total_seconds() if isinstance(exc, RateLimitExceeded) else None
        return Failure(exc.request.method, exc.request.url.path, exc.response.status_code, False,
                       exc.response, wait)
    if isinstance(exc, RequestError):
        return failure_of(exc.exc)  # a timeout, a transport error or the token request's failure
    if isinstance(exc, httpx.TransportError):
        request = _request_of(exc)
        never = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        return Failure(request.method if request else "", request.url.path if request else "", None, never)
    return None


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request  # httpx sets it on errors raised while sending
    except RuntimeError:
        return None


def ambiguous(exc: BaseException, method: str = "POST") -> bool:
    """Whether a write that failed so may have been applied: a 5xx answer, or a connection lost
    after the request went out. False for a failure of another request on its way (the token
    exchange) and for refusals GitHub did not apply (4xx, rate limits, no connection)."""
    failed = failure_of(exc)
    if failed is None or failed.never_sent or failed.method.upper() != method.upper():
        return False
    if TOKEN_PATH.search(failed.path):
        return False
    return failed.status is None or failed.status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """githubkit's ``auto_retry``: when to retry a GitHub request, and how long to wait.

    githubkit only recognises a secondary rate limit by its headers; GitHub also answers a bare
    403 or 429 whose body alone says "secondary rate limit", and asks clients to wait at least a
    minute.
    """

    max_rate_limit_retries: int = 3
    max_server_retries: int = 3  # 5xx, timeouts and connection errors
    secondary_wait: float = 60.0
    max_wait: float = 900.0  # never sleep longer than this on one retry
    server_backoff: float = 1.0

    def backoff(self, retry_count: int) -> float:
        """The wait before retry ``retry_count + 1`` after a server or network failure."""
        return min(self.server_backoff * (retry_count + 1) ** 2, self.max_wait)

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        from githubkit.typing import RetryOption

        wait = self.decide(exc, retry_count)
        if wait is None:
            return RetryOption(False)
        failed = failure_of(exc)
        if failed is not None:  # one line per retry: what failed and how, for operators and bench/chaos
            how = f"HTTP {failed.status}" if failed.status is not None else type(getattr(exc, "exc", exc)).__name__
            log.info("github retry %d: %s %s failed (%s); again in %.1fs", retry_count + 1, failed.method,
                     failed.path, how, wait)
        return RetryOption(True, timedelta(seconds=wait))

    def decide(self, exc: BaseException, retry_count: int) -> float | None:
        """Seconds to wait before sending the request again, or None: do not."""
        failed = failure_of(exc)
        if failed is None:
            return None
        limited = self._rate_limit_wait(failed)
        if limited is not None:
            return min(limited, self.max_wait) if retry_count < self.max_rate_limit_retries else None
        if retry_count >= self.max_server_retries:
            return None
        if failed.never_sent:
            return self.backoff(retry_count)
        if (failed.status is None or failed.status >= 500) and idempotent(failed.method, failed.path):
            asked = _header_wait(failed.response) if failed.response is not None else None
            return min(max(self.backoff(retry_count), asked or 0.0), self.max_wait)
        return None

    def _rate_limit_wait(self, failed: Failure) -> float | None:
        """The wait GitHub asks for when it refused for a rate limit; None when it did not."""
        if failed.rate_limit_wait is not None:
            return failed.rate_limit_wait or self.secondary_wait
        # GitHub documents 403 or 429 for a secondary limit; githubkit misses both when bare
        if failed.status in (403, 429) and _says_secondary(failed.response):
            return self.secondary_wait
        if failed.status == 429:  # too many requests, whatever the body says
            return _header_wait(failed.response) or self.secondary_wait
        return None


def _header_wait(response: Any) -> float | None:
    """``Retry-After`` in seconds, or the time until ``x-ratelimit-reset`` when exhausted."""
    import time

    headers = response.headers
    try:
        if "retry-after" in headers:
            return max(float(headers["retry-after"]), 0.0)
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(float(headers["x-ratelimit-reset"]) - time.time(), 0.0)
    except ValueError:  # an HTTP date or garbage: fall back to the policy's own wait
        return None
    return None


def _says_secondary(response: Any) -> bool:
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - a non-JSON 403 is not a rate limit
        return False
    return isinstance(body, dict) and "secondary rate limit" in str(body.get("message", "")).lower()
