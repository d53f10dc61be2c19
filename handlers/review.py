"""Phase 3: a large pull request gets a review from a massive-context model.

Triggers: ``pull_request`` (and ``pull_request_target``) ``opened``, ``ready_for_review`` and
``synchronize``, each switchable in ``triggers.review_on``, when the pull request is not a draft
and its changed lines or files reach ``triggers.large_pr``; ``/review`` on a pull request by a
writer, whatever its size. One review per head SHA, event COMMENT, never APPROVE. A pull request
the bot reviewed before is re-reviewed on what the push changed, with the whole pull request as
a reference its model's provider can serve from its prompt cache, and no finding posted twice; a
push with nothing new gets one line on the last review instead of a new one (``/review full``,
a force-push or a new base: the whole change again, and the review says why). The change is
read from the API only, so a fork's pull request is reviewed like any other in App mode: no code
from it runs. (In the Action, a fork's ``pull_request`` run has a read-only token and no secrets;
``bot.cli.action`` says so and exits 0 before any handler runs.)
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.aio import bounded
from bot.answers.findings import ReviewReply, merge_replies
from bot.answers.reported import new_findings
from bot.config import REVIEW_ACTIONS, Config, ConfigError, Phase
from bot.dispatch.context import DETAIL_CHARS
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable
from bot.github.comments import marker, upsert_comment
from bot.github.pull_reads import PullInfo, pull_info, read_pull
from bot.github.review_history import (
    Basis,
    ReviewRecord,
    anchors_of,
    checked_body,
    choose_basis,
    fallback,
    last_review,
    record_text,
)
from bot.github.reviews import (
    BODY_LIMIT,
    bot_reviews,
    fit,
    folded_line,
    inline_comment,
    place,
    post_review,
    review_for,
    review_marker,
    update_review,
)
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.store.holds import held
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult
    from bot.llm.result import ModelResult
    from bot.prompts.review_delta import DeltaInput
    from bot.prompts.review_prompt import ReviewInput
    from bot.prompts.review_reads import Reading

router = Router()
commands = CommandTable()


PHASE: Phase = "review"
CHUNK_CONCURRENCY = 4  # chunk reviews in flight at once: fast, yet a budget stop comes soon
VERDICT_WORDS = {"looks-good": "looks good", "minor-issues": "minor issues",
                 "needs-changes": "needs changes", "blocking": "blocking issues"}
HOLD_S = 3600.0  # longer than any review; a worker that died holding it blocks no longer


def is_large(pull: PullInfo, config: Config) -> bool:
    large = config.triggers.large_pr
    return pull.changed_lines >= large.lines or pull.changed_files >= large.files


async def on_pull_request(ctx: Context) -> None:
    action = ctx.event.action or ""
    if action not in ctx.config.triggers.review_on:
        ctx.log.info("review: pull_request.%s is switched off in triggers.review_on", action)
        return
    data = ctx.event.payload.get("pull_request") or {}
    pull = pull_info(data)
    if "changed_files" not in data:  # webhooks carry the sizes; a hand-made payload may not
        pull = await read_pull(ctx.session, pull.number)
    if pull.draft:
        ctx.log.info("review: #%s is a draft; reviewed when it is ready", pull.number)
        return
    if not is_large(pull, ctx.config):
        ctx.log.info("review: #%s is small (%d lines, %d files); `/review` reviews it anyway",
                     pull.number, pull.changed_lines, pull.changed_files)
        return
    await review(ctx, pull.number, trigger=f"`pull_request.{action}` (a large pull request)")


for _event in ("pull_request", "pull_request_target"):
    for _action in REVIEW_ACTIONS:
        router.add(on_pull_request, _event, _action)


@commands.register("review", help="review this pull request now, whatever its size (massive-context): "
                   "what changed since the bot's last review, or `/review full` for the whole change",
                   on=("pr",), usage="/review [full]")
async def review_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        forced = bool(cmd.args) and cmd.args[0].lower() == "full"
        asked = "/review full" if forced else "/review"
        await review(ctx, number, trigger=f"`{asked}` from {ctx.event.sender or 'a maintainer'}", full=forced)


async def review(ctx: Context, number: int, trigger: str, full: bool = False) -> None:
    """Review the pull request's head as it is now, unless this SHA already has the bot's review:
    what changed since the bot's last review when it can (``bot.github.review_history``), else
    (or with ``full``) the whole change."""
    async with ctx.job(PHASE, f"#{number}") as result:
        reading = _start_reading(ctx, number)
        written: dict[str, Any] | None = None
        try:
            pull, reviews = await asyncio.gather(read_pull(ctx.session, number), bot_reviews(ctx.session, number))
            if not _may_review(ctx, pull, reviews, result, full):
                return
            # The reviews were listed before the hold is taken, and that is enough: a delivery
            # that posted a review keeps its hold, so one that listed too early is refused here.
            key = f"review:{ctx.repo}#{number}@{pull.head_sha}" + (":full" if full else "")
            async with held(ctx.holds, key, _owner(ctx, number), HOLD_S) as hold:
                if not hold.taken:
                    result.skip(f"another delivery is reviewing {pull.head_sha[:7]}")
                    ctx.log.info("review: #%s skipped: %s", number, result.detail)
                    return
                try:
                    basis = await choose_basis(ctx.session, pull, last_review(ctx.session, reviews, number),
                                               incremental=ctx.config.triggers.incremental_review, forced=full)
                    if basis.delta:
                        written = await _review_push(ctx, pull, basis, reading, result, trigger)
                        if written is None:
                            basis = fallback(basis, "the push's own diff is larger than one model window")
                    if written is None:
                        written = await _review_whole(ctx, pull, basis, reading, result, trigger)
                except (ModelError, ConfigError) as exc:
                    await _report_failure(ctx, pull, exc, result)
                    return
                if not ctx.dry_run:  # a dry run wrote nothing a later delivery could repeat
                    hold.keep()
        finally:
            if reading is not None:
                reading.cancel()
        result.link(written)
        ctx.log.info("review: #%s at %s: %s", number, pull.head_sha[:7], result.detail)


def _owner(ctx: Context, number: int) -> str:
    """The delivery: run again after a crash, it takes its own hold back."""
    return ctx.event.delivery_id or ctx.job_id(PHASE, f"#{number}")


def _start_reading(ctx: Context, number: int) -> Reading | None:
    """The change's reads (file list, head tree), begun in the same round trip as the pull
    request and its reviews: the webhook already names the head SHA and the file count. None
    for a `/review` comment, whose event does not, or when the config is invalid. A push
    (``synchronize``) is likely reviewed on what it changed, against another commit's tree:
    only the file list is begun then."""
    from bot.prompts.review_reads import start

    data = ctx.event.payload.get("pull_request") or {}
    pull = pull_info(data)
    if pull.number != number or not pull.head_sha or "changed_files" not in data or ctx.config_error:
        return None
    tree = ctx.event.action != "synchronize" or not ctx.config.triggers.incremental_review
    return start(ctx, pull, ctx.models(ctx.job_id(PHASE, f"#{number}"), PHASE).count_tokens, tree=tree)


def _may_review(ctx: Context, pull: PullInfo, reviews: list[dict[str, Any]], result: JobResult, full: bool) -> bool:
    existing = review_for(ctx.session, reviews, pull.number, pull.head_sha)
    if existing is not None and not full:
        result.skip(f"already reviewed at {pull.head_sha[:7]}", existing)
    elif pull.state != "open":
        result.skip(f"pull request is {pull.state}")
    else:
        return True
    ctx.log.info("review: #%s skipped: %s", pull.number, result.detail)
    return False


async def _review_whole(ctx: Context, pull: PullInfo, basis: Basis, reading: Reading | None, result: JobResult,
                        trigger: str) -> dict[str, Any]:
    inp, merged, models = await _review_model(ctx, pull, result, reading)
    earlier = basis.record.findings if basis.record else ()
    kept, records, repeated = new_findings(merged.findings, anchors_of(merged.findings, inp.files.files), earlier)
    record = ReviewRecord(pull.head_sha, inp.coverage.window, inp.coverage.tokens,
                          sum(m.cost_usd for m in models), (*earlier, *records))
    body, comments = _review_body(ctx, inp, merged.model_copy(update={"findings": kept}), models, trigger,
                                  title=pull.head_sha[:7], why=basis.why, record=record, repeated=repeated)
    written = await post_review(ctx.session, pull.number, pull.head_sha, body, comments)
    c = inp.coverage
    result.detail = (f"{merged.verdict}: {len(kept)} findings, {len(comments)} inline; "
                     f"{c.files_read} of {c.files_changed} files, {c.tokens:,} tokens in {c.chunks} call(s)"
                     + (f"; full review: {basis.why}" if basis.why else ""))
    return written


async def _review_push(ctx: Context, pull: PullInfo, basis: Basis, reading: Reading | None, result: JobResult,
                       trigger: str) -> dict[str, Any] | None:
    """What the push changed, with the pull request as reference: a review with the new
    findings, or one line on the last review when there is none. None: too large for a delta."""
    from bot.prompts.review_delta import assemble_delta

    assert basis.last is not None and basis.since is not None and basis.record is not None
    commits = len(basis.since.commits)
    if not basis.since.files:  # nothing to read: say so on the last review, call no model
        result.detail = f"nothing changed in {commits} commit(s) since {basis.last.sha[:7]}"
        return await _checked(ctx, pull, basis, [], basis.record)
    models = ctx.models(ctx.job_id(PHASE, f"#{pull.number}"), PHASE)
    listing = reading.file_list() if reading is not None and reading.sha == pull.head_sha else None
    inp = await assemble_delta(ctx, pull, models, basis, listing)
    if inp is None:
        return None
    model = await models.complete(PHASE, inp.prompts[0].messages, labels=pull.labels, response_model=ReviewReply)
    result.add_model(model)
    merged = merge_replies([model.data])
    kept, records, repeated = new_findings(merged.findings, anchors_of(merged.findings, [*inp.pull_files, *inp.files], inp.texts),
                                           inp.standing)
    record = replace(inp.record, findings=(*inp.standing, *records))
    c = inp.coverage
    result.detail = (f"{merged.verdict}: {len(kept)} new findings ({repeated} repeated, {c.standing} standing); "
                     f"{c.files_read} of {c.files_changed} files, {c.tokens:,} tokens in 1 call(s); "
                     f"since {basis.last.sha[:7]}")
    if not kept:
        return await _checked(ctx, pull, basis, [model], record)
    body, comments = _review_body(ctx, inp, merged.model_copy(update={"findings": kept}), [model], trigger,
                                  title=f"{basis.last.sha[:7]}..{pull.head_sha[:7]}", since=c.since, record=record,
                                  repeated=repeated, standing=c.standing)
    return await post_review(ctx.session, pull.number, pull.head_sha, body, comments)


async def _checked(ctx: Context, pull: PullInfo, basis: Basis, models: list[ModelResult[Any]],
                   record: ReviewRecord) -> dict[str, Any]:
    """The last review, edited: it now covers this head, and one line says what was checked."""
    assert basis.last is not None and basis.since is not None
    line = render("comments/review_checked.md.j2", range=f"{basis.last.commit[:7]}..{pull.head_sha[:7]}",
                  files=len(basis.since.files), commits=len(basis.since.commits), results=models,
                  standing=len(record.findings))
    body = checked_body(basis.last, pull.number, pull.head_sha, line, record)
    return await update_review(ctx.session, pull.number, basis.last.id, body)


async def _review_model(ctx: Context, pull: PullInfo, result: JobResult,
                        reading: Reading | None) -> tuple[ReviewInput, ReviewReply, list[ModelResult[ReviewReply]]]:
    from bot.prompts.review_prompt import assemble_review

    models = ctx.models(ctx.job_id(PHASE, f"#{pull.number}"), PHASE)
    inp = await assemble_review(ctx, pull, models, reading)

    async def one(messages: list[dict[str, Any]]) -> ModelResult[ReviewReply]:
        return await models.complete(PHASE, messages, labels=pull.labels, response_model=ReviewReply)

    placing = asyncio.ensure_future(asyncio.to_thread(lambda: inp.diffmap))  # CPU work, while the model answers
    try:
        answers = await bounded(CHUNK_CONCURRENCY, [partial(one, p.messages) for p in inp.prompts])
        await placing
    finally:
        placing.cancel()
    for answer_ in answers:
        result.add_model(answer_)
    return inp, merge_replies([a.data for a in answers], [p.label for p in inp.prompts]), answers


def _review_body(ctx: Context, inp: ReviewInput | DeltaInput, merged: ReviewReply, models: list[ModelResult[Any]],
                 trigger: str, *, title: str, record: ReviewRecord, why: str = "", since: str = "",
                 repeated: int = 0, standing: int = 0) -> tuple[str, list[dict[str, Any]]]:
    inline, folded = place(merged.findings, inp.diffmap,
                           "file not changed by this push" if since else "file not changed in this pull request")
    values: dict[str, Any] = {
        "mark": review_marker(inp.pull.number, inp.pull.head_sha), "title": title, "why": why, "since": since,
        "verdict": VERDICT_WORDS.get(merged.verdict, merged.verdict), "summary": merged.summary,
        "c": inp.coverage, "coverage": "comments/coverage_delta.md.j2" if since else "comments/coverage.md.j2",
        "chunks": len(inp.prompts), "inline": len(inline), "trigger": trigger, "footer": footer(models),
        "record": record_text(record), "repeated": repeated, "standing": standing,
    }
    bare = render("comments/review.md.j2", **values, folded=[], more=0)
    lines, more = fit([folded_line(f) for f in folded], BODY_LIMIT - len(bare) - 200)
    body = render("comments/review.md.j2", **values, folded=lines, more=more)
    return body, [inline_comment(f) for f in inline]


async def _report_failure(ctx: Context, pull: PullInfo, exc: Exception, result: JobResult) -> None:
    """One comment per pull request (edited on each failure) says what went wrong."""
    failure = explain(exc, ctx.config.profile_for(PHASE), prompt="A part of the change", answer="the review format")
    mark = marker("review-failed", pr=pull.number)
    body = render("comments/review_failed.md.j2", mark=mark, sha=pull.head_sha, what=failure.what,
                  detail=str(exc).replace("```", "'''")[:DETAIL_CHARS], fix=failure.fix)
    result.fail(exc, await upsert_comment(ctx.session, pull.number, mark, body))
    ctx.log.warning("review: #%s failed: %s", pull.number, result.detail)
