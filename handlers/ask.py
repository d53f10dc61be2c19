"""``/ask``: a question about the repository or a pull request, answered in one reply by the
``ask`` phase's profile (massive-context by default), with the same coverage accounting as a
review (``bot.prompts.ask_prompt``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import ConfigError
from bot.dispatch.slash import Command, CommandTable, reply
from bot.llm.errors import ModelError, explain
from bot.llm.footer import footer
from bot.templates import render

if TYPE_CHECKING:
    from bot.dispatch.context import Context

commands = CommandTable()


@commands.register("ask", help="answer a question about this repository or pull request (massive-context)",
                   usage="/ask QUESTION")
async def ask_command(ctx: Context, cmd: Command) -> None:
    number = ctx.event.issue_number
    if number is not None:
        await answer(ctx, number, cmd.text, ctx.event.sender or "a maintainer")


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
