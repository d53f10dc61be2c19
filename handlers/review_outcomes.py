"""What happened to the bot's review findings: how many were posted inline, and how many of
their lines a later push changed (a "finding acted on"). Recorded in the outcomes ledger against
the review (or security review) job and its model; nothing here calls a model or writes.

- ``pull_request_review.submitted`` by the bot, ``pull_request.synchronize`` and ``closed``:
  each of the bot's reviews on the pull request is recorded once (``review.posted``, value: its
  inline findings). The later events catch a review whose own event was missed.
- ``pull_request.synchronize``: each inline finding not yet acted on is checked against what
  changed since the commit it was written on (``compare/{that}...{after}``; at most
  ``MAX_COMPARES`` comparisons per push, newest reviews first): its line removed or rewritten
  records ``review.acted_on``. Findings outside the diff (folded into the review body) have no
  line to follow and are not counted.

The reads: the reviews and the review comments of the pull request (two lists), and the
comparisons only when there are open findings; a pull request the bot never reviewed costs the
reviews list alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.dispatch.router import Router
from bot.github.comments import MARKER_RE
from bot.github.line_history import changed_since
from bot.github.rest import paginate
from bot.store import outcome_log as kinds
from bot.store.outcome_log import Outcome, Producer
from handlers.outcomes import observer

if TYPE_CHECKING:
    from bot.dispatch.context import Context

router = Router()

MAX_COMPARES = 5
PHASES = ("review", "security")


def _phase(review: dict[str, Any]) -> str | None:
    """``review`` or ``security`` by the marker that opens the bot's review (None: another kind)."""
    found = MARKER_RE.match((review.get("body") or "").lstrip())
    return found.group("kind") if found and found.group("kind") in PHASES else None


async def note_reviews(ctx: Context, number: int, after: str = "") -> None:
    reviews = [r for r in await paginate(ctx.session.gh, f"/repos/{ctx.repo}/pulls/{number}/reviews")
               if isinstance(r, dict) and ctx.session.is_bot(r) and _phase(r)]
    if not reviews:
        return
    comments = [c for c in await paginate(ctx.session.gh, f"/repos/{ctx.repo}/pulls/{number}/comments")
                if isinstance(c, dict) and ctx.session.is_bot(c)]
    producers: dict[int, Producer | None] = {}
    for review in reviews:
        rid = int(review["id"])
        # the job that posted it links to it; a job not in this ledger leaves the model unknown
        producers[rid] = ctx.ledger.outcomes.latest_job(ctx.repo, PHASES, [f"#{number}"],
                                                        url_suffix=f"#pullrequestreview-{rid}")
        inline = sum(1 for c in comments if c.get("pull_request_review_id") == rid)
        ctx.ledger.outcomes.record(Outcome(
            ctx.repo, kinds.REVIEW_POSTED, f"{kinds.REVIEW_POSTED}:{ctx.repo}:{rid}", f"#{number}",
            producers[rid], phase=str(_phase(review)), value=inline,
            detail=f"{inline} inline finding(s) at {str(review.get('commit_id') or '')[:7]}"))
    if after:
        await _acted_on(ctx, number, after, comments, producers, {int(r["id"]): str(_phase(r)) for r in reviews})


async def _acted_on(ctx: Context, number: int, after: str, comments: list[dict[str, Any]],
                    producers: dict[int, Producer | None], phases: dict[int, str]) -> None:
    open_findings: dict[str, list[dict[str, Any]]] = {}
    for c in comments:
        base = str(c.get("original_commit_id") or "")
        line = c.get("original_line")
        if (c.get("side") or "RIGHT") != "RIGHT" or not isinstance(line, int) or not base or base == after:
            continue
        if c.get("pull_request_review_id") not in producers:
            continue  # a reply or a comment outside the bot's reviews
        if not ctx.ledger.outcomes.recorded(f"{kinds.FINDING_ACTED_ON}:{ctx.repo}:{c.get('id')}"):
            open_findings.setdefault(base, []).append(c)
    newest = sorted(open_findings, key=lambda b: max(str(c.get("created_at") or "") for c in open_findings[b]),
                    reverse=True)
    for base in newest[:MAX_COMPARES]:
        changes = await changed_since(ctx.session, base, after)
        for c in open_findings[base]:
            if changes.touches(str(c.get("path")), int(c["original_line"])):
                rid = int(c["pull_request_review_id"])
                ctx.ledger.outcomes.record(Outcome(
                    ctx.repo, kinds.FINDING_ACTED_ON, f"{kinds.FINDING_ACTED_ON}:{ctx.repo}:{c.get('id')}",
                    f"#{number}", producers[rid], phase=phases[rid], value=1,
                    detail=f"{c.get('path')}:{c.get('original_line')} changed by {after[:7]}"))


@router.register("pull_request_review", action="submitted", bots=True)
@observer
async def on_review_submitted(ctx: Context) -> None:
    review = ctx.event.payload.get("review") or {}
    number = ctx.event.issue_number
    if number is not None and ctx.session.is_bot(review):
        await note_reviews(ctx, number)


@router.register("pull_request", action="synchronize", bots=True)
@observer
async def findings_on_push(ctx: Context) -> None:
    number = ctx.event.issue_number
    after = str(ctx.event.payload.get("after") or "")
    if number is not None and after:
        await note_reviews(ctx, number, after)


@router.register("pull_request", action="closed", bots=True)
@observer
async def findings_on_close(ctx: Context) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await note_reviews(ctx, number)
