"""Who the bot is on GitHub: the one login whose comments are the bot's own.

The bot finds its spec, its status comments and its reviews by a hidden marker AND the author,
and anyone can paste a marker, so the author must be exactly the bot's account; any other
account, a person or another App's bot, never counts. The login is learned once per process:

- App mode (App credentials set): ``GET /app`` with the App's JWT gives its slug, and the bot's
  login is ``<slug>[bot]``. GitHub is the authority here; a different
  ``MODEL_ROUTING_BOT_LOGIN`` is reported and ignored.
- Token mode (the Action, ``replay``): ``MODEL_ROUTING_BOT_LOGIN`` when set (the Action sets
  ``github-actions[bot]`` unless told otherwise, see ``bot.cli.action``). Otherwise the token's own
  login from ``GET /user``, which answers for a person's token; an installation token (the
  Action's ``GITHUB_TOKEN`` or another App's) is refused there with 403, and then no login is
  known: no comment is taken for the bot's (no spec can be approved, each status is posted
  anew) and a warning says to set ``MODEL_ROUTING_BOT_LOGIN``. Guessing "any Bot account" instead
  would let another App's copy of a spec be implemented.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.github.rest import http_status

if TYPE_CHECKING:
    from githubkit import GitHub

    from bot.github.clients import GitHubClients
    from bot.settings import Settings

log = logging.getLogger("model_routing")
ACTIONS_BOT = "github-actions[bot]"  # who a workflow's GITHUB_TOKEN posts as


class BotIdentity:
    """The bot's login, asked of GitHub at most once per process (see the module's doc)."""

    def __init__(self, clients: GitHubClients) -> None:
        self.clients = clients
        # the answer, for the settings it was found with (credentials loaded later ask again)
        self._known: tuple[Settings, str | None] | None = None
        # one lookup in flight per event loop: concurrent first deliveries share it (the server
        # runs every job on one loop; tests run a loop per delivery)
        self._pending: tuple[asyncio.AbstractEventLoop, asyncio.Future[str | None]] | None = None

    async def login(self, gh: GitHub[Any]) -> str | None:
        """The bot's login; ``gh`` is the delivery's client (token mode asks ``GET /user`` with it)."""
        settings = self.clients.settings
        if self._known is not None and self._known[0] is settings:
            return self._known[1]
        loop = asyncio.get_running_loop()
        if self._pending is None or self._pending[0] is not loop or self._pending[1].done():
            self._pending = (loop, asyncio.ensure_future(self._lookup(settings, gh)))
        login = await asyncio.shield(self._pending[1])
        self._known = (settings, login)
        return login

    async def _lookup(self, settings: Settings, gh: GitHub[Any]) -> str | None:
        if settings.app_auth:
            app = (await self.clients.app().arequest("GET", "/app")).json()
            slug = str((app if isinstance(app, dict) else {}).get("slug") or "")
            if not slug:
                raise RuntimeError("GET /app named no slug: the App's bot login is unknown")
            login = f"{slug}[bot]"
            if settings.bot_login and settings.bot_login != login:
                log.warning("MODEL_ROUTING_BOT_LOGIN is %s but GitHub says this App posts as %s; using %s",
                            settings.bot_login, login, login)
            return login
        if settings.bot_login:
            return settings.bot_login
        try:
            user = (await gh.arequest("GET", "/user")).json()
        except Exception as exc:
            if http_status(exc) not in (401, 403, 404):
                raise  # GitHub did not answer: the delivery is retried, nothing is decided
            user = None
        login = str(user.get("login") or "") if isinstance(user, dict) else ""
        if not login:
            log.warning("the bot cannot tell which account it posts as (GET /user is refused to this token): "
                        "no comment counts as its own, so no spec can be approved; set MODEL_ROUTING_BOT_LOGIN")
            return None
        return login
