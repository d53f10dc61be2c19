"""Phase 1: a design issue gets a spec from a high-reasoning model.

Triggers: ``issues.labeled`` with a design label (``triggers.design_labels``), or ``/spec`` on an
issue, by a user who can write. The spec is one comment per issue, found by its marker and edited
on every re-run with the next revision number. A failure (every model down, budget spent, invalid
repository config, output that could not be repaired) is reported in that same comment, above
the previous revision if there is one, so nothing is lost and a later success replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from bot.answers.spec_comment import NOTICE_END, NOTICE_RE, NOTICE_START, approved_spec, render_sections, spec_comment
from bot.answers.spec_doc import EmbeddedSpec, SpecData, SpecTampered
from bot.config import ConfigError, Phase
from bot.dispatch.context import DETAIL_CHARS
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable
from bot.dispatch.triggers import on_label
from bot.github.comments import marker, own_comment, upsert_comment
from bot.github.issue_reads import IssueReads, read_issue
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.safety import redact, secret_values
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult
    from bot.llm.result import ModelResult

router = Router()
commands = CommandTable()

PHASE: Phase = "spec"
VISIBLE_REVISION_RE = re.compile(r"\*\*Revision (\d+)\*\*")


@router.register("issues", action="labeled")
async def on_design_label(ctx: Context) -> None:
    # the issue is read while the labeler's permission is checked, and dropped if it says no
    await on_label(ctx, ctx.config.triggers.design_labels, PHASE,
                   lambda n: read_issue(ctx.session, n, branch_hint=ctx.branch_hint),
                   lambda n, label, reads: write_spec(ctx, n, trigger=f"label `{label}`", reads=reads))


@commands.register("spec", help="write (or revise) the design spec for this issue", on=("issue",))
async def spec_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is None or ctx.event.is_pull_request:
        ctx.log.info("spec: /spec on pull request #%s ignored; specs are for issues", number)
        return
    if not await ctx.can_write(ctx.event.sender):  # the command table checks too; cached, so free
        ctx.log.info("spec: /spec on #%s by %s ignored: no write permission", number, ctx.event.sender)
        return
    await write_spec(ctx, number, trigger="`/spec`")


async def write_spec(ctx: Context, number: int, trigger: str, reads: Awaitable[IssueReads] | None = None) -> None:
    """Read the context (or take the reads already started), ask the model, and post or edit
    the one spec comment."""
    mark = marker(PHASE, issue=number)
    async with ctx.job(PHASE, f"#{number}") as result:
        context = await (reads if reads is not None else read_issue(ctx.session, number, branch_hint=ctx.branch_hint))
        existing = own_comment(ctx.session, context.issue.raw_comments, mark)  # no second listing
        previous = _previous_spec(ctx, mark, existing)
        if previous and ctx.event.delivery_id and previous.delivery == ctx.event.delivery_id:
            result.skip(f"revision {previous.revision} already written by this delivery", existing)
            ctx.log.info("spec: #%s %s", number, result.detail)
            return
        try:
            model = await _ask_model(ctx, context, previous, result)
        except (ModelError, ConfigError) as exc:
            await _report_failure(ctx, number, mark, existing, previous, exc, result)
            return
        revision = (previous.revision if previous else _visible_revision(existing)) + 1
        body = _spec_body(ctx, number, mark, revision, model, trigger)
        written = await upsert_comment(ctx.session, number, mark, body, existing=existing or {})  # {}: looked, none
        result.link(written)
        result.detail = f"revision {revision}"
        ctx.log.info("spec: revision %d for #%s by %s", revision, number, model.model)


async def _ask_model(ctx: Context, context: IssueReads, previous: EmbeddedSpec | None,
                     result: JobResult) -> ModelResult[SpecData]:
    messages = [
        {"role": "system", "content": render("prompts/spec_system.md.j2", repo=context.repo)},
        {
            "role": "user",
            "content": render(
                "prompts/spec_user.md.j2",
                repo=context.repo,
                issue=context.issue,
                previous=previous,
                instructions=ctx.config.instructions.get(PHASE, ""),
            ),
        },
    ]
    router = ctx.models(ctx.job_id(PHASE, f"#{context.issue.number}"), PHASE)
    model = await router.complete(PHASE, messages, labels=context.issue.labels, response_model=SpecData)
    result.add_model(model)
    return model


def _spec_body(ctx: Context, number: int, mark: str, revision: int, model: ModelResult[SpecData],
               trigger: str) -> str:
    secrets = secret_values(ctx.config)
    spec = _redacted(model.data, secrets)
    # the sections exactly as the implementation phase renders them again to check the comment
    doc = EmbeddedSpec(issue=number, revision=revision, spec=spec, markdown=render_sections(spec, secrets),
                       delivery=ctx.event.delivery_id, requested_by=ctx.event.sender or "unknown", trigger=trigger,
                       approve_label=(ctx.config.triggers.approve_labels or ["spec-approved"])[0],
                       footer=footer([model]))
    return spec_comment(doc, mark, key=ctx.settings.webhook_secret)


def _redacted(spec: SpecData, secrets: list[str]) -> SpecData:
    """The structured spec with secrets removed from every text; hidden in base64 is not hidden."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return SpecData.model_validate(walk(spec.model_dump()))


def _previous_spec(ctx: Context, mark: str, existing: dict[str, Any] | None) -> EmbeddedSpec | None:
    """The previous revision, as the implementation phase would take it (an edited one is not
    shown to the model)."""
    if not existing:
        return None
    try:
        return approved_spec(existing.get("body") or "", mark, ctx.settings.webhook_secret, secret_values(ctx.config))
    except SpecTampered as exc:
        ctx.log.warning("spec: the previous spec comment cannot be used: %s", exc)
        return None


def _visible_revision(existing: dict[str, Any] | None) -> int:
    """The revision shown in a comment whose machine-readable part is unusable (0: none)."""
    found = VISIBLE_REVISION_RE.search((existing or {}).get("body") or "")
    return int(found.group(1)) if found else 0


async def _report_failure(
    ctx: Context,
    number: int,
    mark: str,
    existing: dict[str, Any] | None,
    previous: EmbeddedSpec | None,
    exc: Exception,
    result: JobResult,
) -> None:
    """One comment (the spec's own) says what happened; an earlier revision stays below it."""
    profile = ctx.config.profile_for(PHASE)
    failure = explain(exc, profile, prompt="The issue and its context", answer="the spec format")
    kept = NOTICE_RE.sub("", (existing or {}).get("body") or "").replace(mark, "", 1).strip()
    kept = kept.removeprefix("---").strip()  # the rule below an earlier notice; added again below
    # a kept spec carries its own footer; a notice alone gets one saying what this run spent
    spent = ctx.ledger.job_spend(ctx.job_id(PHASE, f"#{number}"))
    note = f"**{profile}** · no spec written · ${spent:.4f} spent on this run"
    notice = render(
        "comments/spec_failed.md.j2",
        notice_start=NOTICE_START.format(n=number),
        notice_end=NOTICE_END,
        issue=number,
        what=failure.what,
        detail=str(exc).replace("```", "'''")[:DETAIL_CHARS],
        fix=failure.fix,
        previous_revision=previous.revision if previous else _visible_revision(existing),
        footer="" if kept else footer([], note=note),
    ).strip()
    body = f"{mark}\n{notice}\n\n---\n\n{kept}" if kept else f"{mark}\n{notice}\n"
    written = await upsert_comment(ctx.session, number, mark, body, existing=existing or {})  # {}: looked, none
    result.fail(exc, written)
    ctx.log.warning("spec: #%s failed: %s", number, result.detail)
