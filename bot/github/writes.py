"""Every write to GitHub goes through here, so that ``--dry-run`` can print it instead, and so
that every text the bot posts is neutralised on the one path all posts take.

Posted text (a comment's or review's ``body``, an inline comment's ``body``, a pull request's
``title`` and ``body``, a commit's ``message``) goes through ``bot.safety.neutralise`` here:
no live @mention, no slash command, no remote image, no secret, whichever handler wrote it.
Contents of files (blobs and trees) are code and are written exactly as given.

In dry-run mode a write is printed as one JSON line ``{"method", "path", "body"}`` and answered
with a stand-in object carrying made-up identifiers, so a handler can go on (a tree needs the
blob's sha, a commit the tree's) and show every write it would make.

A write that is not safe to send twice (a comment, a review, a ref, a pull request: githubkit's
retries leave those alone, see ``bot.github.retry``) goes through ``create`` with a probe: when
its answer is lost (a 5xx, a connection dropped after sending), the probe looks for what it
would have made before anything is sent again, so nothing is written twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.github.rest import http_status
from bot.github.retry import RetryPolicy, ambiguous
from bot.safety import neutralise

if TYPE_CHECKING:
    from githubkit import GitHub

log = logging.getLogger("model_routing.writes")
Find = Callable[[], Awaitable[dict[str, Any] | None]]  # what the write would have made, or None
Update = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # make the found object what was asked


def _stand_in(method: str, path: str, body: Any, serial: int) -> dict[str, Any]:
    digest = hashlib.sha1(f"{serial}:{method}:{path}:{json.dumps(body, sort_keys=True)}".encode())
    sha = digest.hexdigest()
    return {
        "dry_run": True,
        "id": serial,
        "number": serial,
        "sha": sha,
        "node_id": f"DRY_{serial}",
        "html_url": f"dry-run://{path}",
        "object": {"sha": sha, "type": "commit"},
        "ref": (body or {}).get("ref") if isinstance(body, dict) else None,
    }


# the writes whose text people read: issue and pull request comments, pull requests and their
# reviews, commits (messages)
_POSTED = re.compile(r"^/repos/[^/]+/[^/]+/(?:issues|pulls|git/commits)(?:/|$)")
_TEXT_FIELDS = ("body", "title", "message")


def neutralised(path: str, body: Any, secrets: Sequence[str]) -> Any:
    """``body`` with the text fields of a posting write neutralised (see the module's doc)."""
    if not isinstance(body, dict) or not _POSTED.match(path):
        return body
    out = dict(body)
    for key in _TEXT_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = neutralise(out[key], secrets)
    if isinstance(out.get("comments"), list):
        out["comments"] = [neutralised(path, c, secrets) if isinstance(c, dict) else c for c in out["comments"]]
    return out


class Writes:
    def __init__(
        self,
        gh: GitHub[Any] | None,
        dry_run: bool = False,
        emit: Callable[[str], None] | None = None,
        secrets: Sequence[str] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.gh = gh
        self.dry_run = dry_run
        self.secrets = list(secrets)
        configured = getattr(getattr(gh, "config", None), "auto_retry", None)
        self.retry = retry or (configured if isinstance(configured, RetryPolicy) else RetryPolicy())
        self.planned: list[dict[str, Any]] = []
        self._emit = emit or (lambda line: print(line, file=sys.stdout, flush=True))

    def as_posted(self, text: str) -> str:
        """``text`` as a post carries it once written (to compare with what GitHub holds)."""
        return neutralise(text, self.secrets)

    async def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Send one write (POST/PATCH/PUT/DELETE) and return GitHub's JSON answer."""
        method = method.upper()
        body = neutralised(path, body, self.secrets)
        record = {"method": method, "path": path, "body": body}
        self.planned.append(record)
        if self.dry_run or self.gh is None:
            self._emit(json.dumps(record, sort_keys=False))
            return _stand_in(method, path, body, len(self.planned))
        resp = await self.gh.arequest(method, path, json=body)
        if resp.status_code == 204 or not resp.content:
            return {}
        data = resp.json()
        return data if isinstance(data, dict) else {"items": data}

    async def create(
        self, path: str, body: Any, *, find: Find, update: Update | None = None, exists: bool = False
    ) -> dict[str, Any]:
        """POST an object that must not be made twice, and return it.

        When the answer is lost (a 5xx, or the connection dropped after the request went out)
        ``find`` looks for the object first: found, it is the answer (through ``update``, which
        makes it what this write asks, when given); not found, the POST is sent again, up to the
        retry policy's count. ``exists``: GitHub answers 422 when the object is already there (a
        ref of that name, an open pull request from that head), resolved the same way (and one
        deleted again before it was found is written again)."""
        rewrites = 0
        while True:
            try:
                return await self.request("POST", path, body)
            except Exception as exc:
                conflict = exists and http_status(exc) == 422
                if not (conflict or ambiguous(exc)):
                    raise
                found = await find()
                if found is not None:
                    log.warning("POST %s: %s; it is there already, not written again",
                                path, "already exists" if conflict else f"answer lost ({_why(exc)})")
                    return await update(found) if update is not None else found
                if rewrites >= self.retry.max_server_retries:
                    raise
                wait = self.retry.backoff(rewrites)  # "already exists" yet gone: deleted meanwhile
                log.warning("POST %s: %s and nothing is there; writing again in %.1fs", path,
                            "already exists" if conflict else f"answer lost ({_why(exc)})", wait)
                rewrites += 1
                await asyncio.sleep(wait)


def _why(exc: BaseException) -> str:
    status = http_status(exc)
    return f"HTTP {status}" if status is not None else type(getattr(exc, "exc", exc)).__name__
