"""The bot's own comments: a hidden marker so a re-run edits instead of duplicating, and the
footer that says which model wrote it, why, and what it cost."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bot.github.clients import paginate
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context
    from bot.llm.model_router import ModelResult

MARKER_RE = re.compile(r"<!-- model-routing:(?P<kind>[a-z-]+)(?P<attrs>(?: [a-z_]+=[^ >]+)*) -->")


def marker(kind: str, **attrs: Any) -> str:
    """e.g. ``marker("spec", issue=12)`` -> ``<!-- model-routing:spec issue=12 -->``."""
    extra = "".join(f" {k}={v}" for k, v in attrs.items())
    return f"<!-- model-routing:{kind}{extra} -->"


def is_bot_author(ctx: Context, comment: dict[str, Any]) -> bool:
    """Only the bot's own comments count: anyone can paste a marker into theirs."""
    user = comment.get("user") or {}
    login = user.get("login") or ""
    if ctx.settings.bot_login:
        return bool(login == ctx.settings.bot_login)
    return user.get("type") == "Bot" or login.endswith("[bot]")


def own_comment(ctx: Context, comments: Iterable[dict[str, Any]], mark: str) -> dict[str, Any] | None:
    """The bot's comment (or review) that opens with ``mark``. Opens with, not contains: a model
    tricked into writing another comment's marker must not make its text that comment."""
    for comment in comments:
        if (comment.get("body") or "").lstrip().startswith(mark) and is_bot_author(ctx, comment):
            return dict(comment)
    return None


async def find_comment(ctx: Context, number: int, mark: str) -> dict[str, Any] | None:
    return own_comment(ctx, await paginate(ctx.gh, f"/repos/{ctx.repo}/issues/{number}/comments"), mark)


async def upsert_comment(
    ctx: Context, number: int, mark: str, body: str, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Edit the bot's comment carrying ``mark``, or create it. The body must contain the mark."""
    if not body.startswith(mark):
        body = f"{mark}\n{body}"
    found = existing if existing is not None else await find_comment(ctx, number, mark)
    if found:
        if found.get("body") == body:
            return found
        return await ctx.writes.request("PATCH", f"/repos/{ctx.repo}/issues/comments/{found['id']}", {"body": body})
    return await ctx.writes.request("POST", f"/repos/{ctx.repo}/issues/{number}/comments", {"body": body})


def footer(results: list[ModelResult], note: str = "") -> str:
    """The accountability footer: profile, model, why, tokens, cost, time, for every call."""
    return render("comments/footer.md.j2", results=results, note=note)
