"""The triggers phases share: the right label, on an issue, by a writer (spec, implement); a
``pull_request`` action that is switched on, on a pull request that is not a draft (review,
security).

A label is a weaker signal than a command (anyone with triage permission can add one), so the
labeler's permission is checked like a commenter's; every "no" is logged with its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from bot.aio import started
from bot.github.pull_reads import PullInfo, pull_info, read_pull

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


async def ready_pull(ctx: Context, switched_on: Iterable[str], phase: str, setting: str) -> PullInfo | None:
    """The pull request of this ``pull_request`` event when its action is in ``switched_on``
    (the config key ``setting``) and it is not a draft (drafts wait for ``ready_for_review``)."""
    action = ctx.event.action or ""
    if action not in switched_on:
        ctx.log.info("%s: pull_request.%s is switched off in %s", phase, action, setting)
        return None
    data = ctx.event.payload.get("pull_request") or {}
    pull = pull_info(data)
    if "changed_files" not in data or not pull.head_sha:  # webhooks carry both; a hand-made payload may not
        pull = await read_pull(ctx.session, pull.number)
    if pull.draft:
        ctx.log.info("%s: #%s is a draft; it is looked at when it is ready", phase, pull.number)
        return None
    return pull
