"""The label trigger the spec and implement phases share: the right label, on an issue, by a writer.

A label is a weaker signal than a command (anyone with triage permission can add one), so the
labeler's permission is checked like a commenter's; every "no" is logged with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import Context


async def labeled_issue(ctx: Context, labels: Iterable[str], phase: str) -> tuple[int, str] | None:
    """(issue number, label) when this ``issues.labeled`` event adds one of ``labels`` (case
    folded) to an issue and the labeler can write; None otherwise."""
    label = str((ctx.event.payload.get("label") or {}).get("name") or "")
    if label.casefold() not in {name.casefold() for name in labels}:
        return None  # another label: another handler's business, or nobody's
    number = ctx.event.issue_number
    if number is None or ctx.event.is_pull_request:
        ctx.log.info("%s: label %r on pull request #%s ignored; this phase is for issues", phase, label, number)
        return None
    if not await ctx.can_write(ctx.event.sender):
        ctx.log.info("%s: label %r on #%s by %s ignored: no write permission", phase, label, number, ctx.event.sender)
        return None
    return number, label
