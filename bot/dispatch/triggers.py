"""The label trigger the spec and implement phases share: the right label, on an issue, by a writer.

A label is a weaker signal than a command (anyone with triage permission can add one), so the
labeler's permission is checked like a commenter's; every "no" is logged with its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from bot.aio import started

if TYPE_CHECKING:
    from bot.dispatch.context import Context

T = TypeVar("T")


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


def _label_matches(ctx: Context, labels: Iterable[str]) -> int | None:
    """The issue number when this event adds one of ``labels`` to an issue (not a pull
    request), decided without a request or a log line."""
    label = str((ctx.event.payload.get("label") or {}).get("name") or "")
    if label.casefold() not in {name.casefold() for name in labels} or ctx.event.is_pull_request:
        return None
    return ctx.event.issue_number


async def on_label(
    ctx: Context,
    labels: Iterable[str],
    phase: str,
    reads: Callable[[int], Awaitable[T]],
    run: Callable[[int, str, Awaitable[T]], Awaitable[None]],
) -> None:
    """``labeled_issue``, with the phase's first reads (``reads(number)``) started before the
    labeler's permission check so the two overlap: ``run(number, label, pending_reads)`` when
    the check passes; otherwise the reads are cancelled and nothing they found is used."""
    labels = list(labels)
    number = _label_matches(ctx, labels)
    async with started(reads(number) if number is not None else None) as pending:
        found = await labeled_issue(ctx, labels, phase)
        if found and pending is not None:
            await run(*found, pending)
