"""The host GitHub sends job-log downloads to: another origin, signed URLs that expire.

``GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs`` answers 302 with a ``Location`` on a
different host (pipelines.actions.githubusercontent.com or blob storage on github.com); the
link "expires after 1 minute". The log host here is a second small server, on 127.0.0.2 where
the loopback range allows it (another host, not only another port), that serves the job's log
for an HMAC-signed path and refuses (403) an unsigned, tampered or expired one. It records the
headers of every request it gets, so a test can show that the API token never reached it: a
client that follows the redirect as it should drops ``Authorization`` on the way to another
origin (httpx does), one that copies it across leaks the token to a third party.

Log text is what the runner writes: a UTF-8 BOM, then each line prefixed with its timestamp
(``2026-12-06T08:00:01.1234567Z ``, seven fractional digits).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.github_appserver import ALL_METHODS, AppServer

if TYPE_CHECKING:
    from tests.fakes.github_state import State

LOG_URL_LIFETIME = timedelta(minutes=1)  # GitHub: "This link expires after 1 minute."
BOM = "\ufeff".encode()
STAMPED = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")
_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/_apis/pipelines/1/runs/(?P<run>\d+)"
                   r"/signedlogcontent/(?P<job>\d+)$")


def timestamp(moment: datetime) -> str:
    """The runner's timestamp: ISO 8601, UTC, seven fractional digits (.NET ticks)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def stamp_log(text: bytes, start: datetime) -> bytes:
    """A job log as GitHub serves it. Lines that already carry a timestamp are kept as they
    are; the others get one, 0.1 s apart from ``start``."""
    body = text[len(BOM):] if text.startswith(BOM) else text
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for i, line in enumerate(lines):
        if not STAMPED.match(line):
            line = timestamp(start + timedelta(milliseconds=100 * i)).encode() + b" " + line
        out.append(line + b"\n")
    return BOM + b"".join(out)


@dataclass
class LogRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    status: int = 0


def _loopback_host() -> str:
    """127.0.0.2 when it can be bound (a different host to every client), else 127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class LogHost:
    def __init__(self, state: State) -> None:
        self.state = state
        self._secret = secrets.token_bytes(32)
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=ALL_METHODS)])
        self._server = AppServer(app, _loopback_host(), "fake-github-logs")
        self.reset()

    def reset(self) -> None:
        self.requests: list[LogRequest] = []
        self.lifetime = LOG_URL_LIFETIME

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    # -- signing -----------------------------------------------------------------------------
    def _signature(self, path: str, expires: str) -> str:
        digest = hmac.new(self._secret, f"{path}?urlExpires={expires}".encode(),
                          hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def signed_url(self, full_name: str, run_id: int, job_id: int) -> str:
        """Where the 302 points: valid for ``lifetime`` from now."""
        path = f"/{full_name}/_apis/pipelines/1/runs/{run_id}/signedlogcontent/{job_id}"
        expires = timestamp(datetime.now(UTC) + self.lifetime)
        signature = self._signature(path, expires)
        return (f"{self.url}{path}?urlExpires={quote(expires, safe='')}"
                f"&urlSigningMethod=HMACV1&urlSignature={quote(signature, safe='')}")

    def _refusal(self, path: str, query: dict[str, str]) -> str | None:
        expires, signature = query.get("urlExpires"), query.get("urlSignature")
        if not expires or not signature or query.get("urlSigningMethod") != "HMACV1":
            return "The URL is not signed."
        if not hmac.compare_digest(signature, self._signature(path, expires)):
            return "The URL signature is not valid."
        match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\dZ", expires)
        if match is None:
            return "The URL expiry is not valid."
        moment = datetime.fromisoformat(f"{match[1]}.{match[2]}+00:00")
        if moment <= datetime.now(UTC):
            return "The URL has expired."
        return None

    # -- serving -----------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path, query = request.url.path, dict(request.query_params)
        record = LogRequest(request.method, path, query,
                            {k.lower(): v for k, v in request.headers.items()})
        with self.state.lock:
            self.requests.append(record)
            response = self._answer(request.method, path, query)
        record.status = response.status_code
        return response

    def _answer(self, method: str, path: str, query: dict[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            return Response("Method not allowed", 405, media_type="text/plain")
        refusal = self._refusal(path, query)
        if refusal is not None:
            return Response(refusal, 403, media_type="text/plain")
        match = _PATH.match(path)
        job = self.state.ci.jobs.get(int(match["job"])) if match else None
        if match is None or job is None or job.log is None or job.run_id != int(match["run"]):
            return Response("Not found", 404, media_type="text/plain")
        return Response(job.log, 200, media_type="text/plain; charset=utf-8")
