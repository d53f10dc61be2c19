"""The bot's own comments: a hidden marker so a re-run edits instead of duplicating, found
among the bot's own comments only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bot.github.rest import paginate

if TYPE_CHECKING:
    from bot.github.session import Session

MARKER_RE = re.compile(r"<!-- model-routing:(?P<kind>[a-z-]+)(?P<attrs>(?: [a-z_]+=[^ >]+)*) -->")


def marker(kind: str, **attrs: Any) -> str:
    """e.g. ``marker("spec", issue=12)`` -> ``<!-- model-routing:spec issue=12 -->``."""
    extra = "".join(f" {k}={v}" for k, v in attrs.items())
    return f"<!-- model-routing:{kind}{extra} -->"


def own_comment(session: Session, comments: Iterable[dict[str, Any]], mark: str) -> dict[str, Any] | None:
    """The bot's comment (or review) that opens with ``mark``. Opens with, not contains: a model
    tricked into writing another comment's marker must not make its text that comment."""
    for comment in comments:
        if (comment.get("body") or "").lstrip().startswith(mark) and session.is_bot(comment):
            return dict(comment)
    return None


async def find_comment(session: Session, number: int, mark: str) -> dict[str, Any] | None:
    return own_comment(session, await paginate(session.gh, f"/repos/{session.repo}/issues/{number}/comments"), mark)


async def upsert_comment(
    session: Session, number: int, mark: str, body: str, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Edit the bot's comment carrying ``mark``, or create it. The body must contain the mark."""
    if not body.startswith(mark):
        body = f"{mark}\n{body}"
    found = existing if existing is not None else await find_comment(session, number, mark)

    async def edit(found: dict[str, Any]) -> dict[str, Any]:
        if found.get("body") == session.writes.as_posted(body):
            return found
        return await session.writes.request("PATCH", f"/repos/{session.repo}/issues/comments/{found['id']}", {"body": body})

    if found:
        return await edit(found)
    # a lost answer: the comment is looked for by its marker before it is posted again
    return await session.writes.create(f"/repos/{session.repo}/issues/{number}/comments", {"body": body},
                                       find=lambda: find_comment(session, number, mark), update=edit)
