"""The debug phase's diagnosis, shared by fix rounds and ``/debug``: the high-reasoning call and
how its answer, and the failing checks, are shown in the bot's comments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from bot.answers.diagnosis import Diagnosis
from bot.answers.spec_doc import EmbeddedSpec, SpecTampered, extract
from bot.config import Phase
from bot.github.comments import marker, own_comment
from bot.llm.errors import Failure, explain
from bot.prompts.debug_prompt import DebugInput, diagnosis_messages
from bot.prompts.packing import fence_for

if TYPE_CHECKING:
    from bot.dispatch.context import Context, JobResult
    from bot.github.ci_reads import Failures
    from bot.llm.result import ModelResult

PHASE: Final[Phase] = "debug"


def explain_failure(ctx: Context, exc: BaseException, answer: str = "the diagnosis format") -> Failure:
    """Why the debug phase's call stopped, in the words every debug post uses (``answer``: the
    shape the model had to answer in, the diagnosis or a fix round's edits)."""
    return explain(exc, ctx.config.profile_for(PHASE), prompt="The failing checks and the change", answer=answer)


def diagnosis_view(diagnosis: Diagnosis | None) -> dict[str, Any] | None:
    """A diagnosis as the comments show it: paths in code spans, evidence in a fence it cannot end."""
    if diagnosis is None:
        return None
    d = diagnosis.trimmed()
    return {"summary": d.summary, "root_cause": d.root_cause, "evidence": d.evidence,
            "fence": fence_for("\n".join(d.evidence)), "fixable": d.fixable,
            "fix_plan": [{"path": s.path.replace("`", "'"), "change": s.change} for s in d.fix_plan]}


def checks_view(failures: Failures) -> list[dict[str, str]]:
    return [{"name": f.name.replace("\n", " ").replace("]", ")")[:200], "url": f.html_url,
             "conclusion": f.conclusion} for f in failures.failing]


async def diagnose(ctx: Context, job: str, inp: DebugInput, result: JobResult) -> ModelResult[Diagnosis]:
    """The ``debug`` phase's call: a validated diagnosis of the red run (ModelError propagates)."""
    models = ctx.models(job, PHASE)
    answer = await models.complete(PHASE, diagnosis_messages(inp, ctx.config.instructions.get(PHASE, "")),
                                   labels=list(inp.pull.labels), response_model=Diagnosis)
    result.add_model(answer)
    return answer


def approved_spec(ctx: Context, comments: list[dict[str, Any]], issue: int) -> EmbeddedSpec | None:
    """The approved spec exactly as the bot wrote it (digest checked), or None."""
    comment = own_comment(ctx.session, comments, marker("spec", issue=issue))
    try:
        return extract((comment or {}).get("body") or "", ctx.settings.webhook_secret) if comment else None
    except SpecTampered:
        ctx.log.warning("debug: the spec of #%s changed after the bot wrote it; diagnosing without it", issue)
        return None
