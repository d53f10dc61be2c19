"""Mid-task switching for the implementation phase: ask, apply, repair once, escalate once.

1. The phase's model (high-throughput by default) answers an ``EditPlan``; it is applied to a
   working copy of the base.
2. When an edit does not apply (search text not found or ambiguous, a path outside the
   repository, ...), the same profile gets ONE follow-up in the same conversation quoting the
   exact errors, with the content of any file the plan touched that the prompt had not shown.
3. When that fails too, the whole conversation goes to ``high-reasoning`` with the reason
   recorded (ledger and footer). If even that does not apply, the job reports the errors and
   writes nothing.

Each step is a normal ``ModelRouter.complete`` call, so budgets, fallbacks, window checks and the
ledger apply to every one of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.answers.edits import Applied, EditPlan, TreeItem, apply_plan, decoded, files_to_read
from bot.llm.errors import InvalidOutput
from bot.prompts.implement_prompt import repair_message

if TYPE_CHECKING:
    from bot.llm.model_router import ModelRouter
    from bot.llm.result import ModelResult

ESCALATE_TO = "high-reasoning"
REASON_CHARS = 160

Reader = Callable[[list[str]], Awaitable[dict[str, bytes]]]


@dataclass
class Attempts:
    results: list[ModelResult[Any]] = field(default_factory=list)  # every completed call, in order
    plan: EditPlan | None = None  # the plan that applied (None: none did)
    applied: Applied = field(default_factory=Applied)
    errors: list[list[str]] = field(default_factory=list)  # per failed attempt
    switch: str = ""  # the mid-task switch, in words for the footer ("" when none)

    @property
    def ok(self) -> bool:
        return self.plan is not None


def _brief(errors: list[str]) -> str:
    """The first error without its hint, for the ledger and the footer (the model gets all)."""
    first = errors[0].split(" (", 1)[0]
    text = first if len(errors) == 1 else f"{len(errors)} errors, first: {first}"
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


async def plan_and_apply(
    router: ModelRouter,
    messages: list[dict[str, Any]],
    done: Attempts,
    *,
    labels: list[str],
    items: Mapping[str, TreeItem],
    contents: dict[str, bytes],
    shown: list[str],
    read: Reader,
    on_result: Callable[[ModelResult[Any]], None],
    start: tuple[str, str] | None = None,
) -> None:
    """Run the steps above, recording them in ``done`` (so a footer can list the calls made
    even when one raises). ``contents`` grows with every file read; ``shown`` lists the files
    the model has seen. ModelError from the first or the escalated call propagates.

    ``start`` = (profile, reason): begin on that profile (a fix round after a failed one starts
    on the reasoning model); when that is ``ESCALATE_TO`` already, there is nothing to escalate to."""

    convo = list(messages)
    seen = set(shown)
    steps = ["first", "repair"] + ([] if start and start[0] == ESCALATE_TO else ["escalate"])
    if start and start[0] == ESCALATE_TO:
        done.switch = f"Edits written by `{start[0]}` from the start: {start[1]}."
    for step in steps:
        options: dict[str, Any] = {}
        if step == "first" and start:
            options = {"profile": start[0], "reason": start[1]}
        elif step == "repair":
            options = {"profile": done.results[0].profile if done.results else None,
                       "reason": f"repair request: edits did not apply: {_brief(done.errors[-1])}"}
        elif step == "escalate":
            options = {"profile": ESCALATE_TO,
                       "reason": f"escalated: edits failed to apply twice: {_brief(done.errors[-1])}"}
            before = done.results[0].profile if done.results else "the first profile"
            done.switch = " ".join(filter(None, [done.switch, (
                f"Switched to `{ESCALATE_TO}` mid-task: the edits of `{before}` did not apply, "
                "even after one repair request.")]))
        try:
            result = await router.complete(router.phase, convo, labels=labels, response_model=EditPlan, **options)
        except InvalidOutput as exc:
            if step != "repair":
                raise
            # the repair answer was no plan at all: that is a failed repair, so escalate
            done.errors.append([f"the reply was not a valid edit plan: {exc}"])
            convo.append(repair_message(done.errors[-1], [], escalated=True))
            continue
        done.results.append(result)
        on_result(result)
        plan = result.data

        missing = [p for p in files_to_read(plan, items) if p not in contents]
        if missing:
            contents.update(await read(missing))
        applied = apply_plan(plan, items, contents)
        if not applied.errors:
            done.plan, done.applied = plan, applied
            return
        done.errors.append(applied.errors)
        unseen = [p for p in files_to_read(plan, items) if p not in seen and decoded(contents.get(p)) is not None]
        seen.update(unseen)
        files = [(p, decoded(contents.get(p)) or "") for p in unseen]
        convo += [
            {"role": "assistant", "content": result.text},
            repair_message(applied.errors, files, escalated=step == "repair"),
        ]
