"""The end of the bot's fixing on one pull request, said once: a person committed on the branch
(no model call; the draft is theirs now), or the last of ``limits.fix_rounds`` rounds is spent
(with a last diagnosis of this failure, so the people taking over start from it)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError
from bot.github.ci_reads import read_failures
from bot.github.comments import marker, upsert_comment
from bot.llm.errors import ModelError
from bot.llm.footer import footer
from bot.prompts.debug_prompt import complete
from bot.templates import render
from handlers.diagnose import PHASE, approved_spec, checks_view, diagnose, diagnosis_view, explain_failure

if TYPE_CHECKING:
    from bot.answers.diagnosis import Diagnosis
    from bot.dispatch.context import Context, JobResult
    from bot.github.ci_reads import Failures
    from bot.github.git_base import BaseSnapshot
    from bot.github.pull_reads import PullInfo
    from bot.llm.result import ModelResult


def stop_marker(number: int) -> str:
    return marker("fix-stopped", pr=number)


async def stop(ctx: Context, pull: PullInfo, issue: int, sha: str, human: dict[str, Any] | None, done: int,
               early: asyncio.Future[Failures] | None, head: BaseSnapshot, issue_comments: list[dict[str, Any]],
               result: JobResult) -> None:
    """Say once that the bot stops here: a person's commit (no model call), or the last round
    spent (with a last diagnosis of this failure, so the people taking over start from it)."""
    diagnosis: ModelResult[Diagnosis] | None = None
    failure = first_failure = ""
    checks: list[dict[str, str]] = []
    if human is None:
        failures = await (early if early is not None else read_failures(ctx.session, sha))
        checks = checks_view(failures)
        if failures.failing:
            try:
                inp = await complete(ctx.session, pull, head, failures, approved_spec(ctx, issue_comments, issue),
                                     ctx.config.limits.fetch_concurrency)
                first_failure = inp.first_failure
                diagnosis = await diagnose(ctx, ctx.job_id(PHASE, f"#{pull.number}"), inp, result)
            except (ModelError, ConfigError) as exc:
                failure = explain_failure(ctx, exc).what
    body = render(
        "comments/fix_stopped.md.j2", mark=stop_marker(pull.number), branch=pull.head_ref, sha=sha,
        human={"sha": str(human.get("sha") or ""), "author": _author(human)} if human else None,
        done=done, rounds=ctx.config.limits.fix_rounds, checks=checks, first_failure=first_failure, failure=failure,
        diagnosis=diagnosis_view(diagnosis.data if diagnosis else None), footer=footer([diagnosis] if diagnosis else []),
    )
    written = await upsert_comment(ctx.session, pull.number, stop_marker(pull.number), body)
    why = "a person committed on the branch" if human else f"{done} of {ctx.config.limits.fix_rounds} fix rounds spent"
    result.skip(f"stopped: {why}", written)
    ctx.log.info("debug: #%s: %s", pull.number, result.detail)


def _author(commit: dict[str, Any]) -> str:
    login = (commit.get("author") or {}).get("login")
    return str(login or ((commit.get("commit") or {}).get("author") or {}).get("name") or "someone")
