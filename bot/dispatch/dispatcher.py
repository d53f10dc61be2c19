"""The one dispatcher that the App server's worker, the Action and ``replay`` all call.

Only the edge differs between them: the server verifies, dedupes and enqueues; the Action and
replay read a payload file. From an ``Event`` on, everything runs through ``Dispatcher.dispatch``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import Config, ConfigError
from bot.config_files import merge, parse_repo_config
from bot.dispatch.context import Context, JobResult
from bot.dispatch.events import Event
from bot.dispatch.router import Router
from bot.github.clients import GitHubClients
from bot.github.identity import BotIdentity
from bot.github.rest import decoded_content, http_status
from bot.github.session import Session
from bot.github.writes import Writes
from bot.safety import secret_values
from bot.settings import Settings
from bot.store.holds import Holds, LocalHolds
from bot.store.ledger import Ledger

log = logging.getLogger("model_routing")
REPO_CONFIG_PATH = ".github/model-routing.yml"


@dataclass
class Outcome:
    handled: bool
    reason: str = ""
    results: list[JobResult] = field(default_factory=list)
    planned_writes: list[dict[str, Any]] = field(default_factory=list)


class Dispatcher:
    """Process-wide services, built once at start-up and shared by every delivery."""

    def __init__(
        self,
        settings: Settings,
        config: Config,
        router: Router,
        ledger: Ledger,
        clients: GitHubClients | None = None,
        holds: Holds | None = None,
    ) -> None:
        self.config = config
        self.router = router
        self.ledger = ledger
        self.clients = clients or GitHubClients(settings)
        self.identity = BotIdentity(self.clients)  # the bot's login, asked of GitHub once per process
        self.holds: Holds = holds if holds is not None else LocalHolds()

    @property
    def settings(self) -> Settings:
        """The settings as they stand now: a server started without credentials gets the App's
        (login, webhook secret) once the setup page has stored them (``clients.credentials``)."""
        return self.clients.settings

    async def aclose(self) -> None:
        """Before the event loop that ran the deliveries closes: stop what the model library
        left running on it."""
        from bot.llm.catalog import release_litellm

        await release_litellm()

    def run_once(self, event: Event, *, dry_run: bool = False,
                 emit: Callable[[str], None] | None = None) -> Outcome:
        """One delivery on an event loop of its own (the Action, ``replay``), and what it left
        on that loop released before the loop closes."""

        async def once() -> Outcome:
            try:
                return await self.dispatch(event, dry_run=dry_run, emit=emit)
            finally:
                await self.aclose()

        return asyncio.run(once())

    def handles(self, event: Event) -> bool:
        return self.router.handles(event.name, event.action)

    async def dispatch(
        self,
        event: Event,
        *,
        dry_run: bool = False,
        emit: Callable[[str], None] | None = None,
    ) -> Outcome:
        handlers = self.router.handlers(event.name, event.action)
        if not handlers:
            return Outcome(False, f"no handler for {event.key}")
        if event.sender_is_bot:
            # Bots, this one included, never request work: no loops, no bot-driven spend. Only
            # the handlers registered with bots=True hear them (observers, and CI results of the
            # bot's own pushes).
            handlers = self.router.for_sender(event.name, event.action, from_bot=True)
            if not handlers:
                return Outcome(False, f"ignored {event.key} from bot {event.sender}")
        if not event.repo:
            return Outcome(False, f"{event.key} names no repository")
        logger = logging.LoggerAdapter(log, {"delivery": event.delivery_id, "repo": event.repo})
        settings = self.settings  # one view of them for the whole delivery
        gh = self.clients.for_event(event.installation_id)
        async with gh:
            (config, error), bot_login = await asyncio.gather(self._repo_config(gh, event.repo),
                                                              self.identity.login(gh))
            if error:
                logger.warning("invalid repository config: %s", error)
            session = self.session(gh, event.repo, config, logger, bot_login, dry_run=dry_run, emit=emit)
            ctx = Context(
                event=event,
                session=session,
                config=config,
                settings=settings,
                ledger=self.ledger,
                holds=self.holds,
                log=logger,
                dry_run=dry_run,
                config_error=error,
            )
            for handler in handlers:
                logger.info("%s -> %s", event.key, handler.__qualname__)
                await handler(ctx)
        return Outcome(True, "", ctx.results, ctx.session.writes.planned)

    def session(
        self,
        gh: Any,
        repo: str,
        config: Config,
        logger: logging.LoggerAdapter[logging.Logger],
        bot_login: str | None,
        *,
        dry_run: bool = False,
        emit: Callable[[str], None] | None = None,
    ) -> Session:
        """One delivery's GitHub session: every job's, and the job runner's failure comment.
        ``bot_login``: the bot's own login (``self.identity``), the only author its own
        comments may have."""
        writes = Writes(gh, dry_run=dry_run, emit=emit, secrets=secret_values(config), retry=self.clients.retry)
        return Session(gh, repo, writes, logger, fetch_limit=config.limits.fetch_concurrency, bot_login=bot_login)

    async def _repo_config(self, gh: Any, repo: str) -> tuple[Config, str | None]:
        """The operator's config with the repository's (default branch) laid over it."""
        try:
            resp = await gh.arequest("GET", f"/repos/{repo}/contents/{REPO_CONFIG_PATH}")
        except Exception as exc:
            if http_status(exc) == 404:
                return self.config, None
            raise
        data = resp.json()
        if not isinstance(data, dict) or data.get("type") != "file":
            return self.config, f"{REPO_CONFIG_PATH} is not a file"
        try:
            text = (decoded_content(data) or b"").decode("utf-8")
            return merge(self.config, parse_repo_config(text, REPO_CONFIG_PATH)), None
        except UnicodeDecodeError:
            return self.config, f"{REPO_CONFIG_PATH} is not UTF-8 text"
        except ConfigError as exc:
            return self.config, str(exc)
