"""When a delivery finally fails, the bot says so where the user will look: one comment on the
issue or pull request (a hidden marker per delivery, so a redelivery that fails again edits it)
saying what failed, how to try again, and any half-made work left behind (the bot's branch
without its pull request). Events about no issue or pull request have nowhere to say it: logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.dispatch.events import Event
from bot.github.comments import marker, upsert_comment
from bot.github.gitdata import branch_for, branch_head, open_pull
from bot.llm.footer import NO_MODEL_NOTE, footer
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.dispatcher import Dispatcher
    from bot.github.session import Session

log = logging.getLogger("model_routing.jobs")
KIND = "delivery-failed"
ERROR_CHARS = 600


@dataclass(frozen=True)
class GaveUp:
    """Why a delivery is given up: ``why`` in words, ``error`` the last error as logged."""

    why: str
    error: str


def failure_marker(delivery_id: str) -> str:
    return marker(KIND, delivery=re.sub(r"[^A-Za-z0-9._-]", "", delivery_id) or "unknown")


def what_of(event: Event) -> str:
    """``the `/approve` command on #12``, ``the `issues.labeled` event on #3``."""
    where = f" on #{event.issue_number}" if event.issue_number is not None else ""
    command = _command(event)
    return f"the `{command}` command{where}" if command else f"the `{event.key}` event{where}"


def _command(event: Event) -> str | None:
    if event.name != "issue_comment":
        return None
    comment = event.payload.get("comment")
    words = str(comment.get("body") or "").split() if isinstance(comment, dict) else []
    return words[0] if words and re.fullmatch(r"/[a-z][a-z-]*", words[0]) else None


def _label(event: Event) -> str | None:
    label = event.payload.get("label")
    name = label.get("name") if isinstance(label, dict) and event.action == "labeled" else None
    return name if isinstance(name, str) and name else None


def retry_words(event: Event, app: bool) -> str:
    place = ("in the App's settings (Advanced, Recent Deliveries)" if app
             else "in the webhook's settings (Recent Deliveries)")
    redeliver = f"redeliver delivery `{event.delivery_id}` {place}"
    command, label = _command(event), _label(event)
    if command:
        return f"comment `{command}` again, or {redeliver}"
    if label:
        return f"remove the label `{label}` and add it again, or {redeliver}"
    return redeliver


async def _branch_without_pull(session: Session, number: int) -> str | None:
    """The bot's branch for this issue when it has no open pull request; None when there is
    none, or when GitHub cannot say (the comment is still worth posting)."""
    branch = branch_for(number)
    try:
        if await branch_head(session, branch) is None or await open_pull(session, branch) is not None:
            return None
    except Exception as exc:  # noqa: BLE001 - GitHub may be the reason the job failed
        session.log.warning("could not check the branch %s: %s", branch, exc)
        return None
    return branch


async def report(dispatcher: Dispatcher, event: Event, gave_up: GaveUp, *, dry_run: bool = False) -> dict[str, Any] | None:
    """Post (or edit) the failure comment; None when the event names no issue or pull request."""
    number = event.issue_number
    if number is None or not event.repo:
        return None
    logger = logging.LoggerAdapter(log, {"delivery": event.delivery_id, "repo": event.repo})
    gh = dispatcher.clients.for_event(event.installation_id)
    async with gh:
        bot_login = await dispatcher.identity.login(gh)  # its own comment is found by its author too
        session = dispatcher.session(gh, event.repo, dispatcher.config, logger, bot_login, dry_run=dry_run)
        branch = None if event.is_pull_request else await _branch_without_pull(session, number)
        mark = failure_marker(event.delivery_id)
        error = gave_up.error.replace("```", "'''")[:ERROR_CHARS]
        body = render("comments/delivery_failed.md.j2", mark=mark, what=what_of(event), why=gave_up.why,
                      error=error, branch=branch, retry=retry_words(event, dispatcher.settings.app_auth),
                      footer=footer([], NO_MODEL_NOTE))
        return await upsert_comment(session, number, mark, body)
