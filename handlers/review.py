"""Phase 3: a large pull request gets a review from a massive-context model; ``/ask`` answers.

Triggers: ``pull_request`` (and ``pull_request_target``) ``opened``, ``ready_for_review`` and
``synchronize``, each switchable in ``triggers.review_on``, when the pull request is not a draft
and its changed lines or files reach ``triggers.large_pr``; ``/review`` on a pull request by a
writer, whatever its size. One review per head SHA, event COMMENT, never APPROVE. The change is
read from the API only, so a fork's pull request is reviewed like any other in App mode: no code
from it runs. (In the Action, a fork's ``pull_request`` run has a read-only token and no secrets;
``bot.cli.action`` says so and exits 0 before any handler runs.)
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.aio import bounded
from bot.answers.findings import ReviewReply, merge_replies
from bot.config import REVIEW_ACTIONS, Config, ConfigError, Phase
from bot.dispatch.context import DETAIL_CHARS
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable, reply
from bot.github.comments import marker, upsert_comment
from bot.github.pull_reads import PullInfo, pull_info, read_pull
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
)
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.store.holds import held
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult
    from bot.llm.result import ModelResult
    from bot.prompts.review_prompt import Reading, ReviewInput

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


@commands.register("review", help="review this pull request now, whatever its size (massive-context)", on=("pr",))
async def review_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await review(ctx, number, trigger=f"`/review` from {ctx.event.sender or 'a maintainer'}")


@commands.register("ask", help="answer a question about this repository or pull request (massive-context)",
                   usage="/ask QUESTION")
async def ask_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await answer(ctx, number, cmd.text, ctx.event.sender or "a maintainer")


async def review(ctx: Context, number: int, trigger: str) -> None:
    """Review the pull request's head as it is now, unless this SHA already has the bot's review."""
    async with ctx.job(PHASE, f"#{number}") as result:
        reading = _start_reading(ctx, number)
        try:
            pull, reviews = await asyncio.gather(read_pull(ctx.session, number), bot_reviews(ctx.session, number))
            if not _may_review(ctx, pull, reviews, result):
                return
            # The reviews were listed before the hold is taken, and that is enough: a delivery
            # that posted a review keeps its hold, so one that listed too early is refused here.
            key = f"review:{ctx.repo}#{number}@{pull.head_sha}"
            async with held(ctx.holds, key, _owner(ctx, number), HOLD_S) as hold:
                if not hold.taken:
                    result.skip(f"another delivery is reviewing {pull.head_sha[:7]}")
                    ctx.log.info("review: #%s skipped: %s", number, result.detail)
                    return
                try:
                    inp, merged, models = await _review_model(ctx, pull, result, reading)
                except (ModelError, ConfigError) as exc:
                    await _report_failure(ctx, pull, exc, result)
                    return
                body, comments = _review_body(ctx, inp, merged, models, trigger)
                written = await post_review(ctx.session, number, pull.head_sha, body, comments)
                if not ctx.dry_run:  # a dry run wrote nothing a later delivery could repeat
                    hold.keep()
        finally:
            if reading is not None:
                reading.cancel()
        result.link(written)
        result.detail = (f"{merged.verdict}: {len(merged.findings)} findings, {len(comments)} inline; "
                         f"{inp.coverage.files_read} of {inp.coverage.files_changed} files, "
                         f"{inp.coverage.tokens:,} tokens in {inp.coverage.chunks} call(s)")
        ctx.log.info("review: #%s at %s: %s", number, pull.head_sha[:7], result.detail)


def _owner(ctx: Context, number: int) -> str:
    """The delivery: run again after a crash, it takes its own hold back."""
    return ctx.event.delivery_id or ctx.job_id(PHASE, f"#{number}")


def _start_reading(ctx: Context, number: int) -> Reading | None:
    """The change's reads (file list, head tree), begun in the same round trip as the pull
    request and its reviews: the webhook already names the head SHA and the file count. None
    for a `/review` comment, whose event does not, or when the config is invalid."""
    from bot.prompts.review_prompt import start

    data = ctx.event.payload.get("pull_request") or {}
    pull = pull_info(data)
    if pull.number != number or not pull.head_sha or "changed_files" not in data or ctx.config_error:
        return None
    return start(ctx, pull, ctx.models(ctx.job_id(PHASE, f"#{number}"), PHASE).count_tokens)


def _may_review(ctx: Context, pull: PullInfo, reviews: list[dict[str, Any]], result: JobResult) -> bool:
    existing = review_for(ctx.session, reviews, pull.number, pull.head_sha)
    if existing is not None:
        result.skip(f"already reviewed at {pull.head_sha[:7]}", existing)
    elif pull.state != "open":
        result.skip(f"pull request is {pull.state}")
    else:
        return True
    ctx.log.info("review: #%s skipped: %s", pull.number, result.detail)
    return False


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



def _review_body(ctx: Context, inp: ReviewInput, merged: ReviewReply, models: list[ModelResult[Any]],
                 trigger: str) -> tuple[str, list[dict[str, Any]]]:
    inline, folded = place(merged.findings, inp.diffmap)
    values: dict[str, Any] = {
        "mark": review_marker(inp.pull.number, inp.pull.head_sha), "sha": inp.pull.head_sha,
        "verdict": VERDICT_WORDS.get(merged.verdict, merged.verdict), "summary": merged.summary,
        "c": inp.coverage, "chunks": len(inp.prompts), "inline": len(inline), "trigger": trigger,
        "footer": footer(models),
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


async def answer(ctx: Context, number: int, question: str, asker: str) -> None:
    """One reply comment answering the question from the ``ask`` phase's profile."""
    from bot.prompts.ask_prompt import assemble_ask

    async with ctx.job("ask", f"#{number}") as result:
        if not question:
            await reply(ctx, "ask", render("comments/ask.md.j2", question="(none)", footer=footer([]),
                                           error="write the question after `/ask`, e.g. `/ask where is the retry policy?`"))
            result.skip("no question")
            return
        try:
            models = ctx.models(ctx.job_id("ask", f"#{number}"), "ask")
            inp = await assemble_ask(ctx, number, question, asker, models)
            model = await models.complete("ask", inp.messages, labels=inp.labels)
        except (ModelError, ConfigError) as exc:
            failure = explain(exc, ctx.config.profile_for("ask"), prompt="The question and its context",
                              answer="an answer")
            result.fail(exc, await reply(ctx, "ask", render("comments/ask.md.j2", question=question, footer=footer([]),
                                                            error=f"{failure.what} {failure.fix}")))
            return
        result.add_model(model)
        body = render("comments/ask.md.j2", question=question, answer=model.text, error="",
                      c=inp.coverage, footer=footer([model]))
        result.link(await reply(ctx, "ask", body))
