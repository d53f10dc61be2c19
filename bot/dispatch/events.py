"""An incoming GitHub event: the raw payload plus the few fields the bot reads from it.

githubkit's typed models are strict, and GitHub's own example payloads often lack a field the
models require (``label.archived_at``, ...). The bot must never drop a real webhook because of a
field it does not use, so it reads what it needs from the raw payload and offers the typed model
only as a best effort.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# What CI concluded about a commit. These usually come with a bot as the sender (the bot's own
# push started the run, or `github-actions[bot]` ran it) and they are facts, not requests: the
# rule that bots never trigger work is about labels and commands, not about CI results.


class EventError(ValueError):
    """A payload that is not a GitHub event at all (not JSON, not an object)."""


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


@dataclass(frozen=True)
class Event:
    name: str  # X-GitHub-Event, e.g. "issues"
    payload: dict[str, Any]
    delivery_id: str = ""
    _typed: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    @property
    def repo(self) -> str | None:
        """owner/name of the repository the event is about."""
        name = _get(self.payload, "repository", "full_name")
        return name if isinstance(name, str) else None

    @property
    def installation_id(self) -> int | None:
        value = _get(self.payload, "installation", "id")
        return value if isinstance(value, int) else None

    @property
    def sender(self) -> str | None:
        login = _get(self.payload, "sender", "login")
        return login if isinstance(login, str) else None

    @property
    def sender_is_bot(self) -> bool:
        login = self.sender or ""
        return _get(self.payload, "sender", "type") == "Bot" or login.endswith("[bot]")


    @property
    def issue_number(self) -> int | None:
        number = _get(self.payload, "issue", "number") or _get(self.payload, "pull_request", "number")
        return number if isinstance(number, int) else None

    @property
    def is_pull_request(self) -> bool:
        """True for PR events and for issue/comment events on a pull request."""
        return "pull_request" in self.payload or _get(self.payload, "issue", "pull_request") is not None

    @property
    def key(self) -> str:
        return f"{self.name}.{self.action}" if self.action else self.name

    def typed(self) -> Any | None:
        """githubkit's model of the payload, or None when the strict models reject it."""
        if not self._typed:
            try:
                from githubkit.webhooks import parse_obj

                self._typed.append(parse_obj(self.name, self.payload))
            except Exception:  # noqa: BLE001 - any model error means "use the raw payload"
                self._typed.append(None)
        return self._typed[0]


def parse_event(name: str, payload: bytes | str | dict[str, Any], delivery_id: str = "") -> Event:
    if not name:
        raise EventError("missing event name (X-GitHub-Event)")
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventError(f"payload is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise EventError(f"payload must be a JSON object, got {type(payload).__name__}")
    return Event(name=name, payload=payload, delivery_id=delivery_id)
