"""The debug phase: red CI is diagnosed by a high-reasoning model, and on the bot's own draft
pull request fixed in bounded rounds (``handlers.fix_round``).

Triggers:

- ``check_suite.completed`` (from an app in ``triggers.ci_apps``: an App with checks permission
  is sent every app's suites) and ``workflow_run.completed``, concluded ``failure``,
  ``timed_out`` or ``startup_failure`` (never ``cancelled``, ``neutral``, ``skipped``,
  ``action_required``, ``stale``), on the bot's own branch ``model-routing/issue-N`` in this
  repository (a fork's branch of that name is not the bot's): a fix round. Both events of one
  head SHA give one round. A bot usually sends them (its push started the run): the dispatcher
  lets CI results through, and the round itself checks whose branch and commits they are.
- ``/debug`` on any pull request, by a writer: the latest failing checks of its head are
  diagnosed in one comment; fixes that land on lines of the diff come as suggestion blocks in a
  COMMENT review. It never pushes.
- ``/fix`` on the bot's own pull request, by a writer: a fix round now, at its head.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError
from bot.dispatch.router import Router
from bot.dispatch.slash import Command, CommandTable, reply
from bot.github.ci_reads import FAILING, read_failures
from bot.github.comments import marker, own_comment
from bot.github.diffmap import DiffMap
from bot.github.git_base import read_at
from bot.github.gitdata import issue_of_branch, open_pull
from bot.github.pull_reads import read_pull
from bot.github.reviews import bot_reviews, post_review
from bot.llm.errors import ModelError
from bot.llm.footer import footer
from bot.prompts.debug_prompt import complete
from bot.prompts.packing import fence_for
from bot.templates import render
from handlers.diagnose import PHASE, checks_view, diagnose, diagnosis_view, explain_failure
from handlers.fix_round import fix_round

if TYPE_CHECKING:
    from bot.answers.diagnosis import Suggestion
    from bot.dispatch.context import Context

router = Router()
commands = CommandTable()


# CI results of the bot's own pushes are sent with the bot as the sender: these hear bots (the
# checks below decide whose branch and commit it is)
@router.register("check_suite", action="completed", bots=True)
async def on_check_suite(ctx: Context) -> None:
    suite = ctx.event.payload.get("check_suite") or {}
    app = str((suite.get("app") or {}).get("slug") or "")
    if app not in ctx.config.triggers.ci_apps:
        ctx.log.info("debug: check suite of %r ignored: not a CI app (triggers.ci_apps)", app)
        return
    # a fork's suites name no branch (GitHub: head_branch is null for a fork)
    await _on_ci(ctx, suite, ctx.event.repo, f"`check_suite.completed` ({app}, {suite.get('conclusion')})")


@router.register("workflow_run", action="completed", bots=True)
async def on_workflow_run(ctx: Context) -> None:
    run = ctx.event.payload.get("workflow_run") or {}
    head_repo = (run.get("head_repository") or {}).get("full_name")
    name = str(run.get("name") or "a workflow").replace("`", "'")
    await _on_ci(ctx, run, head_repo, f"`workflow_run.completed` ({name}, {run.get('conclusion')})")


async def _on_ci(ctx: Context, data: dict[str, Any], head_repo: Any, trigger: str) -> None:
    conclusion, branch, sha = data.get("conclusion"), data.get("head_branch"), data.get("head_sha")
    issue = issue_of_branch(branch if isinstance(branch, str) else None)
    if conclusion not in FAILING or issue is None or not isinstance(sha, str):
        ctx.log.info("debug: %s on %r: nothing to fix", trigger, branch)
        return
    if not isinstance(head_repo, str) or head_repo.lower() != (ctx.event.repo or "").lower():
        ctx.log.info("debug: %s: the branch %r lives in %s, not here: never the bot's", trigger, branch, head_repo)
        return
    number = next((p.get("number") for p in data.get("pull_requests") or [] if _same_repo_pull(p, str(branch))), None)
    if not isinstance(number, int):  # GitHub leaves the list empty at times: ask
        number = (await open_pull(ctx.session, str(branch)) or {}).get("number")
    if not isinstance(number, int):
        ctx.log.info("debug: %s: no open pull request from %s", trigger, branch)
        return
    await fix_round(ctx, number, issue, trigger, sha=sha)


def _same_repo_pull(item: Any, branch: str) -> bool:
    """A ``pull_requests`` entry of a CI payload for ``branch`` whose head is in the base repository."""
    if not isinstance(item, dict):
        return False
    head, base = item.get("head") or {}, item.get("base") or {}
    return bool(head.get("ref") == branch and (head.get("repo") or {}).get("id") == (base.get("repo") or {}).get("id"))


@commands.register("fix", help="run a fix round now on the bot's draft pull request (red CI: diagnose, then fix)",
                   on=("pr",))
async def fix_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is None:
        return
    pull = await read_pull(ctx.session, number)
    issue = issue_of_branch(pull.head_ref)
    if issue is None or pull.head_repo.lower() != ctx.repo.lower():
        await reply(ctx, "fix", render("comments/fix_reply.md.j2", what=(
            "`/fix` writes only to the bot's own pull requests (from a `model-routing/issue-N` branch of this "
            "repository), and this one is not. `/debug` diagnoses its failing checks and suggests changes."),
            footer=footer([])))
        return
    before = len(ctx.results)
    await fix_round(ctx, number, issue, f"`/fix` from {ctx.event.sender or 'a maintainer'}", forced=True)
    done = ctx.results[before:]
    if done and done[0].outcome == "skipped":  # the person who asked hears why, here
        written = await reply(ctx, "fix", render("comments/fix_reply.md.j2", what=f"Nothing to fix: {done[0].detail}.",
                                                 footer=footer([])))
        done[0].link(written)


@commands.register("debug", help="diagnose the failing checks of this pull request (high-reasoning); "
                   "suggestions where the fix lands on the diff", on=("pr",))
async def debug_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await diagnose_pull(ctx, number)


async def diagnose_pull(ctx: Context, number: int) -> None:
    """One diagnosis comment for the head's failing checks, and a COMMENT review with the
    suggestions that land on lines of the diff. Reads only; never a push."""
    session = ctx.session
    async with ctx.job(PHASE, f"#{number}") as result:
        pull = await read_pull(session, number)
        head, failures = await asyncio.gather(read_at(session, pull.head_sha), read_failures(session, pull.head_sha))
        view: dict[str, Any] = {"sha": pull.head_sha, "checks": checks_view(failures), "first_failure": "",
                                "diagnosis": None, "inline": [], "review_url": "", "other": [], "what": ""}
        if not failures.failing:
            view["what"] = (f"No check run of `{pull.head_sha[:7]}` has failed ({failures.checks} ran), "
                            "so there is nothing to diagnose.")
            result.skip("no failing check run", await reply(ctx, "diagnosis", _reply(view, [])))
            return
        try:
            inp = await complete(session, pull, head, failures, None, ctx.config.limits.fetch_concurrency)
            view["first_failure"] = inp.first_failure
            answer = await diagnose(ctx, ctx.job_id(PHASE, f"#{number}"), inp, result)
        except (ModelError, ConfigError) as exc:
            failure = explain_failure(ctx, exc)
            view["what"] = f"{failure.what} {failure.fix}"
            result.fail(exc, await reply(ctx, "diagnosis", _reply(view, [])))
            return
        diagnosis = answer.data.trimmed()
        diffmap = DiffMap({f.path: f.patch for f in inp.diff.files})
        inline = [s for s in diagnosis.suggestions
                  if all(diffmap.can_comment(s.path, line) for line in range(s.start_line, s.end_line + 1))]
        view.update(diagnosis=diagnosis_view(diagnosis), inline=inline,
                    other=[_shown(s) for s in diagnosis.suggestions if s not in inline])
        if inline:
            view["review_url"] = str((await _suggest(ctx, number, pull.head_sha, inline)).get("html_url") or "")
        written = await reply(ctx, "diagnosis", _reply(view, [answer]))
        result.link(written)
        result.detail = (f"diagnosed {len(failures.failing)} failing check(s) at {pull.head_sha[:7]}; "
                         f"{len(inline)} suggestion(s) inline")


def _reply(view: dict[str, Any], models: list[Any]) -> str:
    return render("comments/diagnosis.md.j2", **view, footer=footer(models))


def _shown(s: Suggestion) -> dict[str, Any]:
    text = s.replacement.removesuffix("\n")
    return {"path": s.path.replace("`", "'"), "start": s.start_line, "end": s.end_line, "text": text,
            "fence": fence_for(text)}


async def _suggest(ctx: Context, number: int, sha: str, inline: list[Suggestion]) -> dict[str, Any]:
    """The COMMENT review with one suggestion block per suggestion, once per ``/debug`` comment
    (a redelivery finds it by its marker)."""
    mark = marker("diagnosis-review", comment=(ctx.event.payload.get("comment") or {}).get("id", "none"))
    existing = own_comment(ctx.session, await bot_reviews(ctx.session, number), mark)
    if existing is not None:
        return existing
    comments = []
    for s in inline:
        text = s.replacement.removesuffix("\n")
        fence = fence_for(text)
        comment: dict[str, Any] = {"path": s.path, "line": s.end_line, "side": "RIGHT",
                                   "body": f"{fence}suggestion\n{text}\n{fence}"}
        if s.start_line < s.end_line:
            comment.update(start_line=s.start_line, start_side="RIGHT")
        comments.append(comment)
    body = render("comments/diagnosis_review.md.j2", mark=mark, sha=sha, count=len(comments))
    return await post_review(ctx.session, number, sha, body, comments)
