"""Phase 2: an approved spec becomes a draft pull request written by a high-throughput model.

Triggers: ``issues.labeled`` with an approve label (``triggers.approve_labels``), or
``/approve`` / ``/implement`` on the issue, by a user who can write, when the bot's own spec
comment exists (found by marker AND the bot's own login). The spec used is exactly what the
approver read: the comment is rendered again from its machine-readable part and must match its
text as it stands (``bot.answers.spec_comment``); an edit of either part is refused.

Writes: a tree (small text files inline, blobs first for the rest) and a commit on top of the
default branch's head, the bot's branch ``model-routing/issue-N`` created or force-moved, and one
draft pull request from it, edited on every later approval. Everything the job reads before the
model call goes in one concurrent wave (with the labeler's permission check), then the files the
spec names; the writes follow each other, each needing the previous one's SHA. Never the
default branch, never ``.github/workflows/**`` or a denied path, never over the size caps.
Anything that stops the job is said in one status comment on the issue.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from bot.aio import started
from bot.answers.edit_guards import Refusal, screen
from bot.answers.edits import Change
from bot.answers.spec_comment import approved_spec
from bot.answers.spec_doc import EmbeddedSpec, SpecTampered
from bot.config import ConfigError
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable
from bot.dispatch.triggers import on_label
from bot.github.comments import marker, own_comment, upsert_comment
from bot.github.git_base import BaseMoved
from bot.github.gitdata import (
    ISSUE_TRAILER,
    branch_for,
    commit_message,
    point_branch,
    read_files,
    upsert_draft_pull,
    write_commit,
)
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.prompts.edit_attempts import Attempts, plan_and_apply
from bot.prompts.implement_prompt import FirstReads, ImplementInput, first_reads, gather, messages
from bot.safety import secret_values
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult

router = Router()
commands = CommandTable()

PHASE: Final = "implement"
TRAILER = ISSUE_TRAILER  # marks the bot's commits: a branch whose head lacks it has human work
DETAIL_LINES = 20


@router.register("issues", action="labeled")
async def on_approve_label(ctx: Context) -> None:
    # the first reads run while the labeler's permission is checked, and are dropped if it says no
    await on_label(ctx, ctx.config.triggers.approve_labels, PHASE, lambda n: first_reads(ctx, n),
                   lambda n, label, reads: implement(ctx, n, trigger=f"label `{label}`", reads=reads))


async def approve_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is None or ctx.event.is_pull_request:
        return  # the command table answers misplaced commands
    if not await ctx.can_write(ctx.event.sender):  # the command table checks too; cached
        return
    await implement(ctx, number, trigger=f"`/{cmd.name}`")


commands.register("approve", "approve this issue's spec: a high-throughput model writes a draft pull request",
                  on=("issue",))(approve_command)
commands.register("implement", "the same as `/approve`", on=("issue",))(approve_command)


async def _status(ctx: Context, number: int, existing: dict[str, Any] | None, text: str) -> dict[str, Any]:
    """The one status comment of this phase on the issue, created or edited."""
    return await upsert_comment(ctx.session, number, marker(PHASE, issue=number), text, existing)


async def implement(ctx: Context, number: int, trigger: str, reads: Awaitable[FirstReads] | None = None) -> None:
    """Read (or take the first reads already started), plan, guard and write."""

    async with ctx.job(PHASE, f"#{number}") as result:
        first = await (reads if reads is not None else first_reads(ctx, number))
        context = first.context
        comments = context.issue.raw_comments
        status = own_comment(ctx.session, comments, marker(PHASE, issue=number))
        spec_mark = marker("spec", issue=number)
        spec_comment = own_comment(ctx.session, comments, spec_mark)
        spec, problem = _read_spec(ctx, spec_mark, spec_comment)
        if spec is None:
            await _no_spec(ctx, number, status, problem, result)
            return
        branch = branch_for(number)
        # the files are read while the bot's branch is checked; a refusal drops them
        spec_url = str((spec_comment or {}).get("html_url") or "")
        async with started(gather(ctx, first, spec, spec_url)) as files:
            head = first.branch_head
            if head is not None and f"{TRAILER}: {number}" not in await commit_message(ctx.session, head):
                await _fail(ctx, number, status, result, [],
                            f"The branch `{branch}` has commits that the bot did not write.",
                            f"Nothing was overwritten. Merge or move that work elsewhere and delete `{branch}`, "
                            "then approve again.")
                return
            assert files is not None
            found = await files
        attempts = Attempts()
        try:
            await plan_and_apply(
                ctx.models(ctx.job_id(PHASE, f"#{number}"), PHASE),
                messages(found, ctx.config.limits.deny_paths, ctx.config.instructions.get(PHASE, "")),
                attempts,
                labels=context.issue.labels,
                items=found.base.items,
                contents=found.contents,
                shown=found.shown,
                read=lambda paths: read_files(ctx.session, found.base, paths, ctx.config.limits.fetch_concurrency),
                on_result=result.add_model,
            )
        except (ModelError, ConfigError) as exc:
            failure = explain(exc, ctx.config.profile_for(PHASE), prompt="The spec and the files it names",
                              answer="the edit plan format")
            await _fail(ctx, number, status, result, [f"{type(exc).__name__}: {exc}"], failure.what,
                        f"{failure.fix} Then comment `/approve` to try again.", attempts)
            return
        if not attempts.ok:
            lines = [f"attempt {i}: {e}" for i, errors in enumerate(attempts.errors, 1) for e in errors]
            await _fail(ctx, number, status, result, lines,
                        "The model's edits did not apply to the current code, even after a repair request and an escalation.",
                        "", attempts)
            return
        await _write(ctx, number, trigger, first, found, attempts, status, result)


def _read_spec(ctx: Context, mark: str, comment: dict[str, Any] | None) -> tuple[EmbeddedSpec | None, str]:
    """The spec exactly as the approver read it; else None and why it cannot be used ("" when
    there is none)."""
    try:
        spec = approved_spec((comment or {}).get("body") or "", mark, ctx.settings.webhook_secret,
                             secret_values(ctx.config))
    except SpecTampered as exc:
        return None, str(exc)
    return spec, ""


async def _no_spec(ctx: Context, number: int, status: dict[str, Any] | None, problem: str, result: JobResult) -> None:
    """One status comment: no spec yet, or the spec refused for ``problem`` (said once)."""
    triggers = ctx.config.triggers
    approve_label = (triggers.approve_labels or ["spec-approved"])[0]
    if problem:
        text = render("comments/implement_spec_refused.md.j2", issue=number, reason=problem,
                      approve_label=approve_label, footer=footer([]))
    else:
        text = render("comments/implement_no_spec.md.j2", issue=number, approve_label=approve_label,
                      design_label=(triggers.design_labels or ["design"])[0], footer=footer([]))
    why = f"spec refused: {problem}" if problem else "no spec"
    result.skip(why, await _status(ctx, number, status, text))
    ctx.log.info("implement: #%s not started: %s", number, why)



async def _fail(
    ctx: Context,
    number: int,
    status: dict[str, Any] | None,
    result: JobResult,
    details: list[str],
    what: str,
    fix: str,
    attempts: Attempts | None = None,
) -> None:
    shown = [line.replace("```", "'''") for line in details[:DETAIL_LINES]]
    if len(details) > DETAIL_LINES:
        shown.append(f"... and {len(details) - DETAIL_LINES} more")
    text = render(
        "comments/implement_failed.md.j2",
        issue=number,
        what=what,
        details=shown,
        fix=fix or "Comment `/approve` to try again, or `/spec` to revise the spec first.",
        footer=footer(attempts.results if attempts else [], attempts.switch if attempts else ""),
    )
    result.fail((what + (f" {details[0]}" if details else ""))[:500], await _status(ctx, number, status, text))
    ctx.log.warning("implement: #%s failed: %s", number, result.detail)


def _kind(change: Change, found: ImplementInput) -> str:
    if change.content is None:
        return "deleted"
    return "changed" if change.path in found.base.items else "created"


async def _write(
    ctx: Context,
    number: int,
    trigger: str,
    first: FirstReads,
    found: ImplementInput,
    attempts: Attempts,
    status: dict[str, Any] | None,
    result: JobResult,
) -> None:
    """Guards, then commit, branch and draft pull request; or say why nothing was written."""
    limits = ctx.config.limits
    sizes = {p: item.size or 0 for p, item in found.base.items.items()}
    screened = screen(attempts.applied.changes, limits.deny_paths, limits.max_files_changed, limits.max_bytes_changed, sizes)
    foot = footer(attempts.results, attempts.switch)
    if screened.over_cap or not screened.allowed:
        what = (f"the change is too large ({screened.over_cap})." if screened.over_cap
                else "the model's edits leave nothing to write." if not screened.refused
                else "every edit the model made was refused.")
        fix = ("Split the issue, or raise `limits.max_files_changed` / `limits.max_bytes_changed` in "
               "`.github/model-routing.yml`, then approve again." if screened.over_cap
               else "Revise the spec (`/spec`) so it asks for changes the bot may make, then approve again.")
        text = render("comments/implement_refused.md.j2", issue=number, what=what,
                      refused=_displayable(screened.refused), fix=fix, footer=foot)
        result.skip(what, await _status(ctx, number, status, text))
        return
    plan = attempts.plan
    assert plan is not None
    title = first.context.issue.title.replace("\n", " ").strip() or f"Implement #{number}"
    summary = plan.summary.strip()
    message = (f"{title}\n\n{summary}\n\nWritten by Model Routing Bot from revision {found.spec.revision} "
               f"of the approved spec; a person must review it.\n\n{TRAILER}: {number}\n")
    default = first.context.repo.default_branch
    branch = branch_for(number)
    try:
        sha = await write_commit(ctx.session, found.base, screened.allowed, message, limits.fetch_concurrency)
    except BaseMoved as exc:
        what = f"The default branch `{default}` moved while the bot was reading it."
        await _fail(ctx, number, status, result, [str(exc)], what,
                    "Nothing was written. Approve again to build on its new head.", attempts)
        return
    # the branch and its pull request as read at the start: no second look unless GitHub objects
    moved = await point_branch(ctx.session, branch, sha, default, first.branch_head, known=True)
    body = render(
        "comments/implement_pr.md.j2",
        mark=marker("implement-pr", issue=number),
        issue=number,
        summary=summary,
        changes=[{"path": c.path, "kind": _kind(c, found)} for c in screened.allowed],
        bytes_changed=screened.bytes_changed,
        refused=_displayable(screened.refused),
        revision=found.spec.revision,
        spec_url=found.spec_url,
        approved_by=ctx.event.sender or "unknown",
        trigger=trigger,
        branch=branch,
        footer=foot,
    )
    pull, how = await upsert_draft_pull(ctx.session, branch, default, title, body, first.pull, listed=True)
    pull_number = pull.get("number")
    # who the pull request (and so the push) is by: the workflow's own token starts no CI
    result.note_pushed_as(str((pull.get("user") or (first.pull or {}).get("user") or {}).get("login") or ""))
    if status is not None:  # an earlier notice (no spec, failure) must not outlive the success
        done = render("comments/implement_done.md.j2", issue=number, pull=pull_number, how=how, footer=foot)
        await _status(ctx, number, status, done)
    result.link(pull)
    result.detail = f"draft PR #{pull_number} {how}; branch {branch} {moved}; {len(screened.allowed)} file(s)"
    if screened.refused:
        result.detail += f"; refused: {', '.join(r.path for r in screened.refused)}"
    ctx.log.info("implement: #%s %s", number, result.detail)


def _displayable(refused: list[Refusal]) -> list[Refusal]:
    """Paths are shown in code spans; a backtick or newline in one would end the span early."""
    return [Refusal(r.path.replace("`", "'").replace("\n", " "), r.reason) for r in refused]
