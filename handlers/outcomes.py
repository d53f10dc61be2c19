"""What happened to the bot's specs, commits and pull requests, recorded in the outcomes ledger
against the job and model that produced each (``bot.store.outcome_log``). Nothing here calls a
model or writes to GitHub: it reads the event and, where needed, a commit.

- **spec**: approved (the approve label, ``/approve`` or ``/implement`` by a writer: the
  newest spec is approved; the time since it was written is kept) or revised (the design
  label again or ``/spec``: the spec before this one is revised). "Neither after 30 days" is
  recorded by a sweep before each read (``OutcomeLog.sweep_stale_specs``).
- **implementation**: the CI result of each commit on the bot's branch (``check_suite`` and
  ``workflow_run`` completed; both name the check suite, so one run is one row), with its fix
  round from the commit's ``Model-Routing-Fix-Round`` trailer (none: the implementation
  itself), whoever wrote the fix. Red at the last round the bot may make is "given up". A
  commit without the bot's trailer is a person's: the pull request is "taken over".
- **pull request**: merged (with the share of the bot's added lines still there) or closed.

CI events and pushes are usually sent by the bot itself (its push started the run), so these
handlers hear bots (``bots=True``); the label and command outcomes follow the same writer rule
as the phases they judge.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.dispatch.router import Router
from bot.dispatch.slash import parse_commands
from bot.dispatch.triggers import labeled_issue
from bot.github.gitdata import BRANCH_PREFIX, commit_message
from bot.github.line_history import MAX_COMMITS, commit_added, kept, pull_added, pull_commits
from bot.store import outcome_log as kinds
from bot.store.outcome_log import Outcome, Producer
from handlers.implement import TRAILER

if TYPE_CHECKING:
    from bot.dispatch.context import Context

router = Router()

FIX_TRAILER = "Model-Routing-Fix-Round"  # written by the debug phase on each fix commit
FIX_ROUNDS_DEFAULT = 2  # limits.fix_rounds when the config has none
GREEN = frozenset({"success"})
RED = frozenset({"failure", "timed_out", "startup_failure"})  # cancelled, skipped...: no verdict
BRANCH_RE = re.compile(rf"^{re.escape(BRANCH_PREFIX)}issue-(\d+)$")
ISSUE_RE = re.compile(rf"^{TRAILER}:\s*(\d+)\s*$", re.MULTILINE)
ROUND_RE = re.compile(rf"^{FIX_TRAILER}:\s*(\d+)\s*$", re.MULTILINE)


Observer = Callable[["Context"], Awaitable[None]]


def observer(func: Observer) -> Observer:
    """An outcome handler never disturbs the work on the same delivery: a failure (GitHub or
    the database away) is logged and this outcome goes unrecorded; the phases still run."""

    @functools.wraps(func)
    async def observe(ctx: Context) -> None:
        try:
            await func(ctx)
        except Exception:
            ctx.log.warning("outcomes: %s failed; not recorded", func.__name__, exc_info=True)

    return observe


def trailers(message: str) -> tuple[int | None, int]:
    """(the issue a bot commit is for, its fix round; 0 for the implementation) from its message."""
    issue, fix = ISSUE_RE.search(message), ROUND_RE.search(message)
    return (int(issue.group(1)) if issue else None), (int(fix.group(1)) if fix else 0)


def branch_issue(branch: Any) -> int | None:
    found = BRANCH_RE.match(branch) if isinstance(branch, str) else None
    return int(found.group(1)) if found else None


def chain(ctx: Context, issue: int) -> Producer | None:
    """The implementation job whose pull request the bot's branch holds now: the newest that succeeded."""
    return ctx.ledger.outcomes.latest_job(ctx.repo, ["implement"], [f"#{issue}"])


# -- specs ---------------------------------------------------------------------------------


@router.register("issues", action="labeled")
@observer
async def on_label(ctx: Context) -> None:
    triggers = ctx.config.triggers
    approved = await labeled_issue(ctx, triggers.approve_labels, "outcomes")
    if approved:
        spec_approved(ctx, approved[0])
        return
    revised = await labeled_issue(ctx, triggers.design_labels, "outcomes")
    if revised:
        spec_revised(ctx, revised[0])


@router.register("issue_comment", action="created")
@observer
async def on_comment(ctx: Context) -> None:
    number = ctx.event.issue_number
    comment = ctx.event.payload.get("comment") or {}
    names = {c.name for c in parse_commands(comment.get("body"))}
    if number is None or ctx.event.is_pull_request or not names & {"spec", "approve", "implement"}:
        return
    if not await ctx.can_write((comment.get("user") or {}).get("login") or ctx.event.sender):
        return
    if "spec" in names:
        spec_revised(ctx, number)
    if names & {"approve", "implement"}:
        spec_approved(ctx, number)


def spec_approved(ctx: Context, number: int) -> None:
    spec = ctx.ledger.outcomes.latest_job(ctx.repo, ["spec"], [f"#{number}"])
    if spec is None:
        ctx.log.info("outcomes: approval of #%s: no spec of the bot's in the ledger", number)
        return
    waited = max(0.0, time.time() - spec.finished)
    ctx.ledger.outcomes.record(Outcome(ctx.repo, kinds.SPEC_APPROVED, f"{kinds.SPEC_APPROVED}:{spec.job}",
                                       f"#{number}", spec, value=waited, detail=f"by {ctx.event.sender}"))


def spec_revised(ctx: Context, number: int) -> None:
    # the spec this delivery writes (before or after this handler runs) is not the one revised
    previous = ctx.ledger.outcomes.latest_job(ctx.repo, ["spec"], [f"#{number}"],
                                              exclude=ctx.job_id("spec", f"#{number}"))
    if previous is not None:
        ctx.ledger.outcomes.record(Outcome(ctx.repo, kinds.SPEC_REVISED, f"{kinds.SPEC_REVISED}:{previous.job}",
                                           f"#{number}", previous, detail=f"by {ctx.event.sender}"))


# -- CI on the bot's commits ---------------------------------------------------------------


def _own_app_suite(ctx: Context, suite: dict[str, Any]) -> bool:
    """A check suite of this App itself (the App hears every app's suites): not CI."""
    slug = str((suite.get("app") or {}).get("slug") or "")
    login = ctx.settings.bot_login or ""
    return bool(slug) and login == f"{slug}[bot]"


def _from_fork(ctx: Context, run: dict[str, Any]) -> bool:
    """A run on another repository's branch that happens to carry the bot's branch name."""
    head = (run.get("head_repository") or {}).get("full_name")  # workflow_run
    if head and str(head).lower() != ctx.repo.lower():
        return True
    return any(((p.get("head") or {}).get("repo") or {}).get("id") != ((p.get("base") or {}).get("repo") or {}).get("id")
               for p in run.get("pull_requests") or [] if isinstance(p, dict))


@observer
async def on_ci(ctx: Context) -> None:
    run = ctx.event.payload.get(ctx.event.name) or {}
    conclusion, sha = run.get("conclusion"), str(run.get("head_sha") or "")
    issue = branch_issue(run.get("head_branch"))
    if conclusion not in GREEN | RED or issue is None or not sha or _from_fork(ctx, run):
        return
    if ctx.event.name == "check_suite" and _own_app_suite(ctx, run):
        return
    suite = run.get("id") if ctx.event.name == "check_suite" else run.get("check_suite_id")
    pulls = [p.get("number") for p in run.get("pull_requests") or [] if isinstance(p, dict)]
    target = f"#{pulls[0]}" if pulls else f"#{issue}"
    wrote, fix_round = trailers(await commit_message(ctx.session, sha))
    root = chain(ctx, issue)
    if wrote != issue:  # a person's commit: the bot stops writing there
        _taken_over(ctx, issue, target, root, f"{sha[:7]} has no `{TRAILER}: {issue}` trailer")
        return
    if fix_round == 0:
        producer = root
    else:  # the fix round's job (the debug phase), on the pull request or its issue
        producer = ctx.ledger.outcomes.latest_job(ctx.repo, ["debug"], [target, f"#{issue}"])
    phase = "implement" if fix_round == 0 else "debug"
    red = conclusion in RED
    name = run.get("name") or (run.get("app") or {}).get("slug") or ctx.event.name
    ctx.ledger.outcomes.record(Outcome(
        ctx.repo, kinds.CI_RED if red else kinds.CI_GREEN, f"ci:{ctx.repo}:{suite or sha}", target, producer,
        root.job if root else "", phase, value=fix_round, detail=f"{sha[:7]} {conclusion} ({name})"))
    limit = int(getattr(ctx.config.limits, "fix_rounds", FIX_ROUNDS_DEFAULT))
    if red and fix_round >= limit:
        ctx.ledger.outcomes.record(Outcome(
            ctx.repo, kinds.CI_GIVEN_UP, f"{kinds.CI_GIVEN_UP}:{ctx.repo}:{sha}", target, producer,
            root.job if root else "", phase, value=fix_round, detail=f"still red after {fix_round} fix round(s)"))


for _event in ("check_suite", "workflow_run"):
    router.add(on_ci, _event, "completed", bots=True)


# -- the bot's pull requests ---------------------------------------------------------------


def _bot_pull(ctx: Context) -> tuple[int, int] | None:
    """(pull request, issue) when the event's pull request is from the bot's branch here."""
    pull = ctx.event.payload.get("pull_request") or {}
    head = pull.get("head") or {}
    issue = branch_issue(head.get("ref"))
    same_repo = str((head.get("repo") or {}).get("full_name") or "").lower() == ctx.repo.lower()
    number = pull.get("number")
    return (number, issue) if issue is not None and same_repo and isinstance(number, int) else None


def _taken_over(ctx: Context, issue: int, target: str, root: Producer | None, why: str) -> None:
    key = f"{kinds.PR_TAKEN_OVER}:{ctx.repo}:{root.job if root else f'#{issue}'}"
    ctx.ledger.outcomes.record(Outcome(ctx.repo, kinds.PR_TAKEN_OVER, key, target, root, phase="implement", detail=why))


@router.register("pull_request", action="synchronize", bots=True)
@observer
async def on_push(ctx: Context) -> None:
    found = _bot_pull(ctx)
    after = str(ctx.event.payload.get("after") or "")
    if found is None or not after:
        return
    number, issue = found
    if trailers(await commit_message(ctx.session, after))[0] != issue:
        _taken_over(ctx, issue, f"#{number}", chain(ctx, issue), f"{after[:7]} pushed without the bot's trailer")


@router.register("pull_request", action="closed", bots=True)
@observer
async def on_closed(ctx: Context) -> None:
    found = _bot_pull(ctx)
    if found is None:
        return
    number, issue = found
    root = chain(ctx, issue)
    commits = await pull_commits(ctx.session, number)
    ours = [c for c in commits if trailers(str((c.get("commit") or {}).get("message") or ""))[0] == issue]
    if len(ours) < len(commits):
        _taken_over(ctx, issue, f"#{number}", root, f"{len(commits) - len(ours)} commit(s) without the bot's trailer")
    merged = bool((ctx.event.payload.get("pull_request") or {}).get("merged"))
    value, detail = None, ""
    if merged and ours and len(ours) <= MAX_COMMITS:
        added = await asyncio.gather(*(commit_added(ctx.session, str(c.get("sha"))) for c in ours))
        still, total = kept([line for lines in added for line in lines], await pull_added(ctx.session, number))
        value, detail = (still / total if total else None), f"{still} of {total} added lines kept"
    kind = kinds.PR_MERGED if merged else kinds.PR_CLOSED
    ctx.ledger.outcomes.record(Outcome(ctx.repo, kind, f"{kind}:{ctx.repo}#{number}", f"#{number}", root,
                                       phase="implement", value=value, detail=detail))
