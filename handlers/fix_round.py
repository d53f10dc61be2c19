"""One fix round: red CI on the bot's draft pull request is diagnosed and fixed, in bounded rounds.

1. The reads, concurrently: the pull request, its commits (their trailers say whose they are
   and how many rounds were made), its comments, the issue's comments (the approved spec), the
   bot's branch (head and tree) and the failing check runs of the head SHA CI ran on.
2. The rules, before anything is spent: the branch must still point at that SHA; a commit
   without the bot's trailer means a person works there, and the bot stops for good (said once);
   after ``limits.fix_rounds`` rounds the bot stops (said once, with a last diagnosis); one
   round per head SHA (the round's status comment names the SHA, and a hold covers two
   deliveries at once: ``check_suite`` and ``workflow_run`` arrive together).
3. The ``debug`` phase (high-reasoning) diagnoses; the ``implement`` profile turns the fix plan
   into an edit plan (``bot.prompts.edit_attempts``: one repair, then the reasoning model). From
   the second round on the reasoning model writes the edits itself: the first fix did not work.
4. Every guard of the implement phase, then one commit with the trailers
   ``Model-Routing-Issue: N`` and ``Model-Routing-Fix-Round: k`` on top of the SHA CI ran on,
   and a fast-forward of the branch (GitHub refuses it if anything was pushed meanwhile).

One status comment per round, created when the round starts and edited in place as it goes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from bot.aio import started
from bot.answers.edit_guards import screen
from bot.answers.spec_doc import EmbeddedSpec
from bot.config import ConfigError, Phase
from bot.dispatch.context import DETAIL_CHARS
from bot.github.ci_reads import pull_commits, read_failures
from bot.github.comments import marker, own_comment, upsert_comment
from bot.github.git_base import BaseMoved, BaseSnapshot, read_base
from bot.github.gitdata import (
    FIX_ROUND_TRAILER,
    ISSUE_TRAILER,
    advance_branch,
    branch_for,
    read_files,
    trailers,
    write_commit,
    written_by_bot,
)
from bot.github.pull_reads import PullInfo, read_pull
from bot.github.rest import http_status, paginate
from bot.llm.errors import ModelError
from bot.llm.footer import footer
from bot.llm.plan import route_profile
from bot.prompts.debug_prompt import complete, fix_messages, read_for_fix
from bot.prompts.edit_attempts import ESCALATE_TO, Attempts, plan_and_apply
from bot.store.holds import held
from bot.templates import render
from handlers.diagnose import PHASE, approved_spec, checks_view, diagnose, diagnosis_view, explain_failure
from handlers.fix_stop import stop, stop_marker

if TYPE_CHECKING:
    from bot.answers.diagnosis import Diagnosis
    from bot.dispatch.context import Context, JobResult
    from bot.github.ci_reads import Failures
    from bot.llm.result import ModelResult

EDITS: Final[Phase] = "implement"
HOLD_S = 3600.0  # longer than any round; a worker that died holding it blocks no longer
# After a round, the hold stays this long: a delivery that read the pull request before the round's
# comment existed (check_suite and workflow_run arrive together) is refused, and a person's `/fix`
# soon after is not.
SETTLE_S = 300.0
DETAIL_LINES = 20


def round_marker(number: int, round_no: int, sha: str) -> str:
    return marker("fix-round", pr=number, round=round_no, sha=sha)


class Round:
    """One round's state and its status comment (edited in place)."""

    def __init__(self, ctx: Context, pull: PullInfo, issue: int, round_no: int, sha: str,
                 comment: dict[str, Any] | None, trigger: str) -> None:
        self.ctx, self.pull, self.issue, self.round_no, self.sha = ctx, pull, issue, round_no, sha
        self.comment, self.trigger = comment, trigger
        self.rounds = ctx.config.limits.fix_rounds
        self.checks: list[dict[str, str]] = []
        self.first_failure = ""
        self.diagnosis: ModelResult[Diagnosis] | None = None
        self.attempts = Attempts()

    async def say(self, stage: str, **values: Any) -> dict[str, Any]:
        view: dict[str, Any] = {
            "mark": round_marker(self.pull.number, self.round_no, self.sha), "stage": stage,
            "round_no": self.round_no, "rounds": self.rounds, "sha": self.sha, "branch": self.pull.head_ref,
            "checks": self.checks, "first_failure": self.first_failure, "trigger": self.trigger,
            "diagnosis": diagnosis_view(self.diagnosis.data if self.diagnosis else None),
            "diagnosed_by": self.diagnosis, "profile": self.ctx.config.profile_for(PHASE),
            "edited_by": self.attempts.results, "switch": self.attempts.switch,
            "what": "", "fix": "", "details": [], "changes": [], "refused": [], "commit": None,
            "footer": footer([*([self.diagnosis] if self.diagnosis else []), *self.attempts.results],
                             self.attempts.switch),
        }
        view.update(values)
        self.comment = await upsert_comment(self.ctx.session, self.pull.number, view["mark"],
                                            render("comments/fix_round.md.j2", **view), self.comment)
        return self.comment


async def fix_round(ctx: Context, number: int, issue: int, trigger: str, sha: str | None = None,
                    forced: bool = False) -> None:
    """Run one round on pull request ``number`` (the bot's, for ``issue``) at ``sha`` (None: its
    head now, for ``/fix``); ``forced``: a person asked, so an earlier round at this SHA does not
    stop it."""
    session = ctx.session
    async with ctx.job(PHASE, f"#{number}") as result:
        branch = branch_for(issue)
        async with started(read_failures(session, sha) if sha else None) as early:
            pull, commits, comments, issue_comments, head = await asyncio.gather(
                read_pull(session, number), pull_commits(session, number),
                paginate(session.gh, f"/repos/{session.repo}/issues/{number}/comments"),
                paginate(session.gh, f"/repos/{session.repo}/issues/{issue}/comments"),
                read_base(session, branch))
            sha = sha or pull.head_sha
            why_not = _not_ours(pull, head, branch, sha, session.repo)
            if why_not:
                result.skip(why_not)
                ctx.log.info("debug: #%s: %s", number, why_not)
                return
            assert head is not None
            done = max((int(v) for c in commits for v in trailers(_message(c), FIX_ROUND_TRAILER) if v.isdigit()),
                       default=0)
            human = next((c for c in commits if not written_by_bot(_message(c), issue)), None)
            stopped = own_comment(session, comments, stop_marker(number))
            if human is not None or done >= ctx.config.limits.fix_rounds:
                if stopped is None:
                    await stop(ctx, pull, issue, sha, human, done, early, head, issue_comments, result)
                else:
                    result.skip("the bot has stopped fixing this pull request", stopped)
                return
            mark = round_marker(number, done + 1, sha)
            existing = own_comment(session, comments, mark)
            if existing is not None and not forced:
                result.skip(f"round {done + 1} already ran at {sha[:7]}", existing)
                return
            failures = await (early if early is not None else read_failures(session, sha))
        if not failures.failing:
            result.skip(f"no failing check run at {sha[:7]}")
            ctx.log.info("debug: #%s: %s", number, result.detail)
            return
        state = Round(ctx, pull, issue, done + 1, sha, existing, trigger)
        key, owner = f"debug:{ctx.repo}#{number}@{sha}", ctx.event.delivery_id or ctx.job_id(PHASE, f"#{number}")
        async with held(ctx.holds, key, owner, HOLD_S) as hold:
            if not hold.taken:
                result.skip(f"a round at {sha[:7]} is running or has just run; try again in a few minutes")
                return
            try:
                await _round(ctx, state, head, failures, approved_spec(ctx, issue_comments, issue), result)
            except Exception as exc:
                await _gave_up(state, exc)
                raise
            if result.outcome != "failed" and not ctx.dry_run:  # done at this SHA, whatever it found
                await asyncio.to_thread(ctx.holds.hold, key, owner, SETTLE_S)
                hold.keep()


async def _gave_up(state: Round, exc: Exception) -> None:
    """A round stopped by an error (GitHub down, say) must not leave its comment saying "diagnosing"."""
    if state.comment is None:
        return
    try:
        await state.say("failed", what="The round stopped on an error before it could write a fix.", fix="",
                        details=[f"{type(exc).__name__}: {exc}"[:DETAIL_CHARS]])
    except Exception:  # the first error is the one to report
        state.ctx.log.exception("debug: could not say that round %s stopped", state.round_no)


def _message(commit: dict[str, Any]) -> str:
    return str((commit.get("commit") or {}).get("message") or "")


def _not_ours(pull: PullInfo, head: BaseSnapshot | None, branch: str, sha: str, repo: str) -> str:
    """Why the bot may not fix this pull request at ``sha`` now ("" when it may)."""
    if pull.head_ref != branch or pull.head_repo.lower() != repo.lower():
        return f"#{pull.number} is not the bot's pull request from `{branch}`"
    if pull.state != "open":
        return f"#{pull.number} is {pull.state}"
    if head is None:
        return f"the branch `{branch}` is gone"
    if head.head_sha != sha:
        return f"`{branch}` has moved on from {sha[:7]} (now {head.head_sha[:7]}): its own CI decides"
    return ""


async def _round(ctx: Context, state: Round, head: BaseSnapshot, failures: Failures, spec: EmbeddedSpec | None,
                 result: JobResult) -> None:
    job = ctx.job_id(PHASE, f"#{state.pull.number}")
    state.checks = checks_view(failures)
    limits = ctx.config.limits
    await state.say("diagnosing")
    try:
        inp = await complete(ctx.session, state.pull, head, failures, spec, limits.fetch_concurrency)
        state.first_failure = inp.first_failure
        state.diagnosis = await diagnose(ctx, job, inp, result)
        diagnosis = state.diagnosis.data.trimmed()
        if not diagnosis.fixable:
            result.skip("the diagnosis puts the fix outside the code", await state.say("not-fixable"))
            return
        shown = await read_for_fix(ctx.session, inp, diagnosis, limits.fetch_concurrency)
        # the edits are the implement phase's kind of work, on its profile (routing rules and
        # all); they are recorded under this job's phase, so a round's cost is the debug phase's
        edits_profile, why = route_profile(ctx.config, EDITS, labels=list(state.pull.labels))
        start = (edits_profile, f"fix round {state.round_no}: the edits, on the implement phase's profile ({why})")
        if state.round_no > 1:
            start = (ESCALATE_TO, f"fix round {state.round_no}: CI still failed after round {state.round_no - 1}'s fix")
        await plan_and_apply(
            ctx.models(job, PHASE),
            fix_messages(inp, diagnosis, shown, limits.deny_paths, ctx.config.instructions.get(EDITS, ""),
                         state.round_no, state.rounds),
            state.attempts, labels=list(state.pull.labels), items=head.items, contents=inp.contents, shown=shown,
            read=lambda paths: read_files(ctx.session, head, paths, limits.fetch_concurrency),
            on_result=result.add_model, start=start)
    except (ModelError, ConfigError) as exc:
        _named_by_diagnosis(state, result)
        failure = explain_failure(ctx, exc, answer="the expected format")
        result.fail(exc, await state.say("failed", what=failure.what, fix=failure.fix,
                                         details=[f"{type(exc).__name__}: {exc}"]))
        return
    _named_by_diagnosis(state, result)
    if not state.attempts.ok:
        details = [f"attempt {i}: {e}" for i, errors in enumerate(state.attempts.errors, 1) for e in errors]
        result.fail("the fix's edits did not apply", await state.say(
            "failed", what="The model's edits did not apply to the code, even after a repair request.",
            fix="", details=details[:DETAIL_LINES]))
        return
    await _write(ctx, state, head, result)


def _named_by_diagnosis(state: Round, result: JobResult) -> None:
    """The job is the debug phase's: its row names the diagnosing model (tokens and cost count
    every call; the status comment and its footer name the edits' models too)."""
    if state.diagnosis is not None:
        result.profile, result.model, result.reason = state.diagnosis.profile, state.diagnosis.model, state.diagnosis.reason


async def _write(ctx: Context, state: Round, head: BaseSnapshot, result: JobResult) -> None:
    """The guards, then one commit on top of the SHA CI ran on and a fast-forward of the branch."""
    limits = ctx.config.limits
    screened = screen(state.attempts.applied.changes, limits.deny_paths, limits.max_files_changed,
                      limits.max_bytes_changed, {p: item.size or 0 for p, item in head.items.items()})
    refused = [{"path": r.path.replace("`", "'"), "reason": r.reason} for r in screened.refused]
    if screened.over_cap or not screened.allowed:
        what = (f"The fix is too large ({screened.over_cap})." if screened.over_cap
                else "Every edit of the fix was refused by the bot's guards." if screened.refused
                else "The fix's edits leave the code as it was.")
        result.skip(what, await state.say("refused", what=what, refused=refused))
        return
    plan, diagnosis = state.attempts.plan, state.diagnosis
    assert plan is not None and diagnosis is not None
    headline = diagnosis.data.summary.replace("\n", " ").strip()[:60]
    message = (f"Fix CI (round {state.round_no}): {headline}\n\n{plan.summary.strip()}\n\n"
               f"Diagnosed by {diagnosis.model} ({diagnosis.profile}); edits by "
               f"{', '.join(dict.fromkeys(r.model for r in state.attempts.results))}. Written by Model Routing "
               f"Bot after CI failed on {state.sha[:12]}; a person must review it.\n\n"
               f"{ISSUE_TRAILER}: {state.issue}\n{FIX_ROUND_TRAILER}: {state.round_no}\n")
    default = str((ctx.event.payload.get("repository") or {}).get("default_branch") or state.pull.base_ref)
    try:
        sha = await write_commit(ctx.session, head, screened.allowed, message, limits.fetch_concurrency)
        await advance_branch(ctx.session, state.pull.head_ref, sha, default)
    except Exception as exc:
        if not isinstance(exc, BaseMoved) and http_status(exc) != 422:
            raise
        what = f"`{state.pull.head_ref}` moved while the bot was fixing {state.sha[:7]}."
        result.fail(what, await state.say("failed", what=what, fix="Nothing was written; the new commit's CI decides.",
                                          details=[str(exc)[:500]]))
        return
    web = str((ctx.event.payload.get("repository") or {}).get("html_url") or f"https://github.com/{ctx.repo}")
    changes = [{"path": c.path, "kind": "deleted" if c.content is None else
                "changed" if c.path in head.items else "created"} for c in screened.allowed]
    written = await state.say("done", changes=changes, refused=refused,
                              commit={"sha": sha, "url": f"{web}/commit/{sha}"})
    result.link(written)
    result.note_pushed_as(state.pull.author)
    result.detail = (f"round {state.round_no} of {state.rounds}: commit {sha[:7]} on {state.pull.head_ref}, "
                     f"{len(screened.allowed)} file(s)")
    ctx.log.info("debug: #%s %s", state.pull.number, result.detail)

