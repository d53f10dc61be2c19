"""Dispatch by event and action, in the manner of gidgethub's Router: every matching handler runs.

Events sent by bots (this one included) reach only handlers registered with ``bots=True``: those
that only observe (the outcomes ledger records a CI result the bot's own push started), and the
fix rounds, which take a CI result of the bot's own push and check whose branch and commit it is
about. A label or a command from a bot reaches nothing, so no bot can start a loop or spend on a
repository's behalf."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.dispatch.context import Context

Handler = Callable[["Context"], Awaitable[Any]]


class Router:
    def __init__(self, *others: Router) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = defaultdict(list)
        self._bots: set[Handler] = set()  # handlers that also hear events sent by bots
        for other in others:
            self.include(other)

    def register(self, event: str, action: str | None = None, *, bots: bool = False) -> Callable[[Handler], Handler]:
        def decorator(func: Handler) -> Handler:
            self.add(func, event, action, bots=bots)
            return func

        return decorator

    def add(self, func: Handler, event: str, action: str | None = None, *, bots: bool = False) -> None:
        if func not in self._handlers[(event, action)]:
            self._handlers[(event, action)].append(func)
        if bots:
            self._bots.add(func)

    def include(self, other: Router) -> None:
        for (event, action), funcs in other._handlers.items():
            for func in funcs:
                self.add(func, event, action, bots=func in other._bots)

    def handlers(self, event: str, action: str | None) -> list[Handler]:
        """Handlers for the event with no action filter, then those for its action."""
        found = list(self._handlers.get((event, None), []))
        if action is not None:
            found += self._handlers.get((event, action), [])
        return found

    def handles(self, event: str, action: str | None) -> bool:
        return bool(self.handlers(event, action))

    def events(self) -> set[str]:
        """Every event some handler is registered for (the App's manifest must subscribe)."""
        return {event for (event, _), funcs in self._handlers.items() if funcs}

    def for_sender(self, event: str, action: str | None, from_bot: bool) -> list[Handler]:
        """The handlers that run for an event sent by a bot (``from_bot``) or by a person."""
        found = self.handlers(event, action)
        return [h for h in found if h in self._bots] if from_bot else found
