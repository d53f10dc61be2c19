"""The security phase: a change to a sensitive path gets a review of its own from the
high-reasoning profile, and its findings go to GitHub's code scanning.

Triggers: ``pull_request`` (and ``pull_request_target``) ``opened``, ``ready_for_review`` and
``synchronize``, each switchable in ``triggers.security_on``, when the pull request is not a
draft and a changed path matches ``triggers.security_paths``; ``/security`` on a pull request
by a writer, whatever its size or paths. One security review per head SHA (its own marker and
hold, so the general review of a large change may stand beside it), event COMMENT, never
APPROVE or REQUEST_CHANGES.

The reasoning model answers structured findings (``bot.answers.security_findings``); those below
``security.min_confidence`` and hardening advice are counted, not posted. A second pass on
``security.verify_profile`` (high-throughput by default: the question, "does the code around
this line prove the finding wrong?", is narrow, and it must cost little beside the reasoning
call) drops findings the code shows to be false; its call is in the footer and the ledger like
any other. The posted findings are uploaded as SARIF before the review is posted, so the review
can say whether code scanning has them; a refused upload (403 without ``security_events:
write``) never stops the review, and the job summary and the log say why.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.answers.security_findings import CheckReply, SecurityFinding, SecurityReply, Triage, triage
from bot.config import REVIEW_ACTIONS, ConfigError, Phase
from bot.dispatch.context import DETAIL_CHARS
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable
from bot.dispatch.triggers import ready_pull
from bot.github import sarif
from bot.github.comments import marker, own_comment, upsert_comment
from bot.github.pull_reads import FileList, PullInfo, changed_files, read_pull
from bot.github.reviews import BODY_LIMIT, COMMENT_LIMIT, bot_reviews, fit, not_inline, post_review
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.prompts.security_scope import Scope, scope
from bot.store.holds import held
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult
    from bot.llm.result import ModelResult
    from bot.prompts.security_prompt import SecurityInput

router = Router()
commands = CommandTable()

PHASE: Phase = "security"
KIND = "security"
HOLD_S = 3600.0  # longer than any security review; a worker that died holding it blocks no longer


def security_marker(number: int, sha: str) -> str:
    return marker(KIND, pr=number, sha=sha)


async def on_pull_request(ctx: Context) -> None:
    pull = await ready_pull(ctx, ctx.config.triggers.security_on, PHASE, "triggers.security_on")
    if pull is None:
        return
    listed = await changed_files(ctx.session, pull)
    touched = scope(listed.files, ctx.config.triggers.security_paths)
    if not touched.matched:
        ctx.log.info("security: #%s touches no path in triggers.security_paths", pull.number)
        return
    await review_security(ctx, pull.number, f"`pull_request.{ctx.event.action}`")


for _event in ("pull_request", "pull_request_target"):
    for _action in REVIEW_ACTIONS:
        router.add(on_pull_request, _event, _action)


@commands.register("security", help="security review of this pull request now, whatever its size or paths (high-reasoning)",
                   on=("pr",))
async def security_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await review_security(ctx, number, f"`/security` from {ctx.event.sender or 'a maintainer'}", everything=True)


async def review_security(ctx: Context, number: int, trigger: str, *, everything: bool = False) -> None:
    """Review the head as it is now, unless this SHA already has the bot's security review
    (the file list is read once per delivery and head: the trigger's, or the general review's)."""
    async with ctx.job(PHASE, f"#{number}") as result:
        pull, reviews = await asyncio.gather(read_pull(ctx.session, number), bot_reviews(ctx.session, number))
        existing = own_comment(ctx.session, reviews, security_marker(number, pull.head_sha))
        if existing is not None or pull.state != "open":
            result.skip(f"already reviewed at {pull.head_sha[:7]}" if existing else f"pull request is {pull.state}", existing)
            ctx.log.info("security: #%s skipped: %s", number, result.detail)
            return
        owner = ctx.event.delivery_id or ctx.job_id(PHASE, f"#{number}")
        async with held(ctx.holds, f"security:{ctx.repo}#{number}@{pull.head_sha}", owner, HOLD_S) as hold:
            if not hold.taken:
                result.skip(f"another delivery is reviewing {pull.head_sha[:7]} for security")
                ctx.log.info("security: #%s skipped: %s", number, result.detail)
                return
            files = await changed_files(ctx.session, pull)
            found = scope(files.files, ctx.config.triggers.security_paths, everything=everything)
            if not found.sensitive:
                result.skip(f"no changed file at {pull.head_sha[:7]} is a security path")
                return
            try:
                inp, summary, sorted_, calls, check_note = await _analyse(ctx, pull, files, found, result)
            except (ModelError, ConfigError) as exc:
                await _report_failure(ctx, pull, exc, result)
                return
            scanning = await _upload(ctx, inp, sorted_.posted)
            body, comments = review_body(inp, summary, sorted_, calls, trigger, scanning, check_note,
                                          ctx.config.security.min_confidence)
            written = await post_review(ctx.session, number, pull.head_sha, body, comments)
            if not ctx.dry_run:  # a dry run wrote nothing a later delivery could repeat
                hold.keep()
        result.link(written)
        c = inp.coverage
        result.detail = (f"{len(sorted_.posted)} findings posted ({len(comments)} inline), {len(sorted_.low_confidence)} "
                         f"below confidence, {len(sorted_.hardening)} hardening advice, {len(sorted_.dropped)} dropped "
                         f"by the check; {c.in_scope_read} of {c.in_scope} sensitive files, {c.tokens:,} tokens; "
                         f"code scanning: {scanning}")
        ctx.log.info("security: #%s at %s: %s", number, pull.head_sha[:7], result.detail)


async def _analyse(ctx: Context, pull: PullInfo, files: FileList, found: Scope, result: JobResult
                   ) -> tuple[SecurityInput, str, Triage, list[ModelResult[Any]], str]:
    """The reasoning model's findings, triaged, then the false-positive check on what is left."""
    from bot.prompts.security_prompt import assemble_security, check_messages

    models = ctx.models(ctx.job_id(PHASE, f"#{pull.number}"), PHASE)
    inp = await assemble_security(ctx, pull, models, files, found)
    answer = await models.complete(PHASE, inp.messages, labels=pull.labels, response_model=SecurityReply)
    result.add_model(answer)
    sorted_ = triage(answer.data.findings, ctx.config.security.min_confidence)
    calls: list[ModelResult[Any]] = [answer]
    profile = ctx.config.security.verify_profile
    if profile is None or not sorted_.posted:
        return inp, answer.data.summary, sorted_, calls, ""
    why = f"false-positive check of {len(sorted_.posted)} findings (security.verify_profile: {profile})"
    try:
        check = await models.complete(PHASE, check_messages(ctx, inp, sorted_.posted), labels=pull.labels,
                                      response_model=CheckReply, profile=profile, reason=why)
    except ModelError as exc:  # the check is a filter: without it, every finding above the threshold stands
        ctx.log.warning("security: #%s false-positive check failed: %s", pull.number, exc)
        failure = explain(exc, profile, prompt="The findings", answer="the check's format")
        return inp, answer.data.summary, sorted_, calls, (
            f"The false-positive check (`{profile}`) did not run: {failure.what} Every finding above the threshold is posted.")
    main = (result.profile, result.model, result.reason)
    result.add_model(check)  # its tokens and cost; the job's model stays the reasoning one
    result.profile, result.model, result.reason = main
    sorted_.drop({c.id: c for c in check.data.checks})
    return inp, answer.data.summary, sorted_, [*calls, check], ""


async def _upload(ctx: Context, inp: SecurityInput, findings: list[SecurityFinding]) -> str:
    """Upload the posted findings (none: an empty log, which closes fixed alerts) as SARIF;
    -> what happened, in words. A refusal is logged and reported, never raised."""
    document = sarif.build(findings, inp.line_text, clean=ctx.session.writes.as_posted)
    ref = f"refs/pull/{inp.pull.number}/head"
    try:
        answer = await sarif.upload(ctx.session, document, inp.pull.head_sha, ref)
    except Exception as exc:  # noqa: BLE001 - whatever stops the upload, the review is still posted
        why = sarif.refusal(exc)
        ctx.log.warning("security: #%s SARIF not uploaded: %s", inp.pull.number, why)
        return f"not uploaded; {why}."
    planned = " (dry run: planned, not sent)" if answer.get("dry_run") else ""
    return (f"{len(findings)} result{'s' if len(findings) != 1 else ''} uploaded as SARIF 2.1.0 for `{ref}` "
            f"at {inp.pull.head_sha[:7]}{planned}; upload `{answer.get('id', '?')}`.")


def _finding_text(f: SecurityFinding) -> str:
    return render("comments/security_finding.md.j2", f=f).strip()


def review_body(inp: SecurityInput, summary: str, sorted_: Triage, calls: list[ModelResult[Any]], trigger: str,
                 scanning: str, check_note: str, threshold: float) -> tuple[str, list[dict[str, Any]]]:
    comments: list[dict[str, Any]] = []
    folded: list[str] = []
    for f in sorted_.posted:
        why = not_inline(f.path, f.line, inp.diffmap, len(comments))
        if why is None:
            comments.append({"path": f.path, "line": f.line, "side": "RIGHT", "body": _finding_text(f)[:COMMENT_LIMIT]})
        else:
            where = f"`{f.path}`" + (f" line {f.line}" if f.line else "")
            folded.append(f"- {where}: " + _finding_text(f).replace("\n", "\n  ") + f"\n  _(not inline: {why})_")
    dropped = [f"- `{f.path}`" + (f" line {f.line}" if f.line else "") + f" · {f.cwe} · {f.title}: {reason}"
               for f, reason in sorted_.dropped]
    worst = sorted_.posted[0].severity if sorted_.posted else None
    headline = (f"{len(sorted_.posted)} finding{'s' if len(sorted_.posted) != 1 else ''}, the worst {worst}" if worst
                else "no vulnerability found")
    paths = [f"`{s.file.path}` (`{s.pattern}`)" for s in inp.scope.matched]
    note = ("Why a security review: " + (", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
                                         if paths else "no security path changed; it was asked for")
            + (f" · the false-positive check dropped {len(sorted_.dropped)}" if sorted_.dropped else ""))
    values: dict[str, Any] = {
        "mark": security_marker(inp.pull.number, inp.pull.head_sha), "sha": inp.pull.head_sha, "headline": headline,
        "summary": summary, "rows": sorted_.table(), "threshold": threshold, "inline": len(comments),
        "c": inp.coverage, "code_scanning": scanning, "check_note": check_note, "trigger": trigger,
        "footer": footer(calls, note=note), "dropped": dropped,
    }
    bare = render("comments/security.md.j2", **values, folded=[], more=0)
    lines, more = fit(folded, BODY_LIMIT - len(bare) - 200)
    return render("comments/security.md.j2", **values, folded=lines, more=more), comments


async def _report_failure(ctx: Context, pull: PullInfo, exc: Exception, result: JobResult) -> None:
    """One comment per pull request (edited on each failure) says what went wrong."""
    failure = explain(exc, ctx.config.profile_for(PHASE), prompt="The sensitive part of the change",
                      answer="the security findings format")
    mark = marker("security-failed", pr=pull.number)
    body = render("comments/security_failed.md.j2", mark=mark, sha=pull.head_sha, what=failure.what,
                  detail=str(exc).replace("```", "'''")[:DETAIL_CHARS], fix=failure.fix)
    result.fail(exc, await upsert_comment(ctx.session, pull.number, mark, body))
    ctx.log.warning("security: #%s failed: %s", pull.number, result.detail)
