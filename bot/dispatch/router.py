"""Dispatch by event and action, in the manner of gidgethub's Router: every matching handler runs."""

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
        for other in others:
            self.include(other)

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        def decorator(func: Handler) -> Handler:
            self.add(func, event, action)
            return func

        return decorator

    def add(self, func: Handler, event: str, action: str | None = None) -> None:
        if func not in self._handlers[(event, action)]:
            self._handlers[(event, action)].append(func)

    def include(self, other: Router) -> None:
        for (event, action), funcs in other._handlers.items():
            for func in funcs:
                self.add(func, event, action)

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
