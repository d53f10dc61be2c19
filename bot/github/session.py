"""One delivery's view of GitHub: the client, the repository, where writes go, who the bot is,
and what is cached for the job (collaborators' permissions).

This is what every read and write in ``bot.github`` takes (probot's ``context.octokit`` and
``context.repo()``), rather than the whole per-delivery ``Context``: a function that reads a
pull request cannot reach the model router or the config, and a test can build one directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.github.rest import http_status

if TYPE_CHECKING:
    from githubkit import GitHub

    from bot.github.writes import Writes

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
ROLES = frozenset({"admin", "maintain", "write", "triage", "read", "none"})


@dataclass
class Session:
    gh: GitHub[Any]
    repo: str  # owner/name
    writes: Writes
    log: logging.LoggerAdapter[logging.Logger]
    fetch_limit: int = 16  # reads in flight at once (``limits.fetch_concurrency``)
    bot_login: str | None = None  # the bot's own account (bot.github.identity); None: unknown, no one's
    _permissions: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    # reads two handlers of one delivery both need, kept for the delivery (``pull_reads.changed_files``)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def is_bot(self, item: dict[str, Any]) -> bool:
        """Whether a comment, review or commit author is the bot itself: anyone can paste a
        marker into their own text, so only the bot's own account counts; never another
        account, bot or not, and no one at all while the bot's login is unknown."""
        login = str((item.get("user") or {}).get("login") or "")
        return bool(self.bot_login) and login == self.bot_login

    async def permission(self, login: str) -> str:
        """The user's permission on this repository (cached for the job): admin, maintain,
        write, triage, read or none.

        The cache holds the lookup itself, so callers asking at the same time (the labeler's
        check and the reads started alongside it) share one request. A caller that is
        cancelled (reads dropped because the labeler cannot write) does not cancel it for the
        others; a failed lookup is not cached, so the next caller asks again."""
        lookup = self._permissions.get(login)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup_permission(login))
            lookup.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
            self._permissions[login] = lookup
        try:
            return await asyncio.shield(lookup)
        except Exception:
            if self._permissions.get(login) is lookup and lookup.done():
                del self._permissions[login]
            raise

    async def _lookup_permission(self, login: str) -> str:
        try:
            resp = await self.gh.arequest("GET", f"/repos/{self.repo}/collaborators/{login}/permission")
            data = resp.json()
            role = data.get("role_name") or ""
            if role not in ROLES:
                # a custom repository role: GitHub reports the base role it extends as
                # the legacy ``permission`` (admin, write, read or none)
                role = data.get("permission") or "none"
        except Exception as exc:
            if http_status(exc) != 404:
                raise
            role = "none"
        return str(role)

    async def can_write(self, login: str | None) -> bool:
        return bool(login) and await self.permission(str(login)) in WRITE_PERMISSIONS

    async def writer_comments(self, comments: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The comments written by people with write, maintain or admin permission, in order.

        Permissions are looked up once per login, all at once. The bot's own comments are
        never a person's: they are left out without a lookup (GitHub would answer "none" or 404
        for the bot, at the cost of a round trip on every phase)."""
        comments = list(comments)
        people = [c for c in comments if not self.is_bot(c)]
        logins = sorted({str((c.get("user") or {}).get("login") or "") for c in people} - {""})
        allowed = await asyncio.gather(*(self.can_write(login) for login in logins))
        writers = {login for login, ok in zip(logins, allowed, strict=True) if ok}
        return [c for c in people if (c.get("user") or {}).get("login") in writers]
